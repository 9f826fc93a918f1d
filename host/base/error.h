/* Internal error helpers: set the thread's message and return a status. */
#ifndef DUOCL_HOST_ERROR_H
#define DUOCL_HOST_ERROR_H

#include "duocl/status.h"

/* Formats the thread's error message and returns status. */
duo_status duo_fail(duo_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepends context ("while X: ") to the current message and returns status. */
duo_status duo_fail_context(duo_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Evaluate an expression returning duo_status; return it from the caller if it failed. */
#define DUO_TRY(expr)                               \
    do {                                            \
        duo_status duo_try_status_ = (expr);        \
        if (duo_try_status_ != DUO_OK)              \
            return duo_try_status_;                 \
    } while (0)

#endif
