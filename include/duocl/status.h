/* duocl status codes: every library function returns one; the message of the
 * last failure on the calling thread is kept for the caller to print. */
#ifndef DUOCL_STATUS_H
#define DUOCL_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum duo_status {
    DUO_OK = 0,
    DUO_ERR_INVALID_ARGUMENT, /* a caller passed a value outside what is allowed */
    DUO_ERR_NO_PLATFORM,      /* no OpenCL ICD or no platform with a device */
    DUO_ERR_NO_DEVICE,        /* a device selector matched nothing */
    DUO_ERR_OPENCL,           /* an OpenCL call failed (the message names it) */
    DUO_ERR_CLBLAST,          /* a CLBlast routine failed */
    DUO_ERR_BUILD,            /* a kernel source failed to compile (message has the log) */
    DUO_ERR_IO,               /* a file could not be read or written */
    DUO_ERR_FORMAT,           /* a file's content is not what its format allows */
    DUO_ERR_CONFIG,           /* a configuration key or value is not allowed */
    DUO_ERR_OUT_OF_MEMORY,    /* host allocation failed */
    DUO_ERR_NUMERIC,          /* a numerical check failed (self-test, NaN loss) */
    DUO_ERR_INTERRUPTED,      /* stopped on request (Ctrl-C) after saving state */
    DUO_ERR_INTERNAL          /* a bug in duocl */
} duo_status;

/* "DUO_ERR_OPENCL" etc. Never NULL. */
const char *duo_status_name(duo_status status);

/* The message of the last failure on this thread ("" if none). Owned by the
 * library; valid until the next failing call on this thread. */
const char *duo_last_error(void);

/* Clears the last error message. */
void duo_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
