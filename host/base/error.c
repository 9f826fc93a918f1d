/* Error messages: the thread's last message and the status names. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

enum { MESSAGE_CAPACITY = 16384 };
static _Thread_local char last_message[MESSAGE_CAPACITY];

const char *duo_status_name(duo_status status)
{
    switch (status) {
    case DUO_OK: return "DUO_OK";
    case DUO_ERR_INVALID_ARGUMENT: return "DUO_ERR_INVALID_ARGUMENT";
    case DUO_ERR_NO_PLATFORM: return "DUO_ERR_NO_PLATFORM";
    case DUO_ERR_NO_DEVICE: return "DUO_ERR_NO_DEVICE";
    case DUO_ERR_OPENCL: return "DUO_ERR_OPENCL";
    case DUO_ERR_CLBLAST: return "DUO_ERR_CLBLAST";
    case DUO_ERR_BUILD: return "DUO_ERR_BUILD";
    case DUO_ERR_IO: return "DUO_ERR_IO";
    case DUO_ERR_FORMAT: return "DUO_ERR_FORMAT";
    case DUO_ERR_CONFIG: return "DUO_ERR_CONFIG";
    case DUO_ERR_OUT_OF_MEMORY: return "DUO_ERR_OUT_OF_MEMORY";
    case DUO_ERR_NUMERIC: return "DUO_ERR_NUMERIC";
    case DUO_ERR_INTERRUPTED: return "DUO_ERR_INTERRUPTED";
    case DUO_ERR_INTERNAL: return "DUO_ERR_INTERNAL";
    }
    return "DUO_ERR_UNKNOWN";
}

const char *duo_last_error(void) { return last_message; }

void duo_clear_error(void) { last_message[0] = '\0'; }

duo_status duo_fail(duo_status status, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, args);
    va_end(args);
    return status;
}

duo_status duo_fail_context(duo_status status, const char *fmt, ...)
{
    char previous[MESSAGE_CAPACITY];
    memcpy(previous, last_message, sizeof previous);
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(last_message, sizeof last_message, fmt, args);
    va_end(args);
    size_t used = n < 0 ? 0 : (size_t)n;
    if (used + 3 < sizeof last_message) {
        /* Append ": previous", cut to what fits. */
        size_t room = sizeof last_message - used - 3;
        size_t keep = strlen(previous) < room ? strlen(previous) : room;
        memcpy(last_message + used, ": ", 2);
        memcpy(last_message + used + 2, previous, keep);
        last_message[used + 2 + keep] = '\0';
    }
    return status;
}
