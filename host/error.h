/* Internal error helpers: set the thread's message and return a status. */
#ifndef DUOCL_HOST_ERROR_H
#define DUOCL_HOST_ERROR_H

#include <CL/cl.h>
#include "duocl/status.h"

/* Formats the thread's error message and returns status. */
duo_status duo_fail(duo_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepends context ("while X: ") to the current message and returns status. */
duo_status duo_fail_context(duo_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "CL_INVALID_VALUE" for -30; "unknown OpenCL error N" otherwise. */
const char *duo_cl_error_name(cl_int code);

/* "CLBlastInvalidDimension" for -1017, falling back to OpenCL names. */
const char *duo_clblast_status_name(int code);

/* Turns a failed OpenCL call into DUO_ERR_OPENCL with the call and the error's name. */
duo_status duo_cl_fail(cl_int code, const char *call, const char *what);

/* Evaluate an expression returning duo_status; return it from the caller if it failed. */
#define DUO_TRY(expr)                               \
    do {                                            \
        duo_status duo_try_status_ = (expr);        \
        if (duo_try_status_ != DUO_OK)              \
            return duo_try_status_;                 \
    } while (0)

/* Call an OpenCL function returning cl_int; on failure return DUO_ERR_OPENCL. */
#define DUO_CL(call, what)                                          \
    do {                                                            \
        cl_int duo_cl_code_ = (call);                               \
        if (duo_cl_code_ != CL_SUCCESS)                             \
            return duo_cl_fail(duo_cl_code_, #call, (what));        \
    } while (0)

#endif
