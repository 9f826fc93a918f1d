/* The duocl runtime: one device, one context, one in-order queue, the
 * compiled kernel programs and the GEMM temp buffer. One per process is the
 * usual; it is not thread-safe. */
#ifndef DUOCL_RUNTIME_H
#define DUOCL_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

#include "duocl/device.h"
#include "duocl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct duo_runtime duo_runtime;

typedef struct duo_runtime_options {
    const char *device;     /* selector as in duo_devices_select; NULL for the default */
    const char *kernel_dir; /* load the kernels/ folder's .cl files from here; NULL: $DUOCL_KERNEL_DIR, else embedded */
    bool profiling;         /* create the queue with profiling enabled */
} duo_runtime_options;

/* Discovers devices, selects one, creates the context and queue. */
duo_status duo_runtime_create(const duo_runtime_options *options, duo_runtime **out);

/* Finishes the queue, clears CLBlast's cache and releases everything. NULL is fine. */
void duo_runtime_destroy(duo_runtime *rt);

/* The selected device. */
const duo_device_info *duo_runtime_device(const duo_runtime *rt);

/* Name of the vendor profile in use ("pocl"). */
const char *duo_runtime_profile_name(const duo_runtime *rt);

/* Waits for every queued command; reports errors of asynchronous work. */
duo_status duo_runtime_finish(duo_runtime *rt);

/* Compiles every kernel file now (normally compiled on first use); used to
 * measure start-up and to surface build errors early. */
duo_status duo_runtime_compile_all(duo_runtime *rt);

/* Where kernels come from: "embedded" or the folder they are read from. */
const char *duo_runtime_kernel_source(const duo_runtime *rt);

#ifdef __cplusplus
}
#endif
#endif
