/* OpenCL and CLBlast error codes by name; failed OpenCL calls as errors. */
#ifndef DUOCL_HOST_CL_ERROR_H
#define DUOCL_HOST_CL_ERROR_H

#include <CL/cl.h>

#include "base/error.h"

/* "CL_INVALID_VALUE" for -30; "unknown OpenCL error N" otherwise. */
const char *duo_cl_error_name(cl_int code);

/* "CLBlastInvalidDimension" for -1017, falling back to OpenCL names. */
const char *duo_clblast_status_name(int code);

/* Turns a failed OpenCL call into DUO_ERR_OPENCL with the call and the error's name. */
duo_status duo_cl_fail(cl_int code, const char *call, const char *what);

/* Call an OpenCL function returning cl_int; on failure return DUO_ERR_OPENCL. */
#define DUO_CL(call, what)                                          \
    do {                                                            \
        cl_int duo_cl_code_ = (call);                               \
        if (duo_cl_code_ != CL_SUCCESS)                             \
            return duo_cl_fail(duo_cl_code_, #call, (what));        \
    } while (0)

#endif
