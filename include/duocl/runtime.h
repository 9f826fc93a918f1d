/* The duocl runtime: one device, one context, one in-order queue, the
 * compiled kernel programs and the GEMM temp buffer. One per process is the
 * usual; it is not thread-safe. */
#ifndef DUOCL_RUNTIME_H
#define DUOCL_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

#include "duocl/config.h"
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
    duo_gemm_kind gemm;     /* DUO_GEMM_AUTO: $DUOCL_GEMM if set, else the vendor profile's */
    const char *kernel_binaries; /* load every program from this folder of ready-built binaries
                                  * ('duocl kernels export'; its manifest is checked against the
                                  * device and the options duocl would compile with); NULL:
                                  * $DUOCL_KERNEL_BINARIES, else compile from source */
    bool no_compile;        /* forbid compiling at run time (so also CLBlast): every program
                             * from kernel_binaries, the built-in GEMM. Also when
                             * $DUOCL_NO_COMPILE=1, the vendor profile says so (FPGA boards) or
                             * the device has no compiler */
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

/* The GEMM every product runs: DUO_GEMM_CLBLAST or DUO_GEMM_BUILTIN (never
 * AUTO), and where the choice came from ("--gemm", "DUOCL_GEMM", "vendor
 * profile pocl"). */
duo_gemm_kind duo_runtime_gemm(const duo_runtime *rt);
const char *duo_runtime_gemm_reason(const duo_runtime *rt);

/* The folder programs are loaded from, or NULL when they are compiled; and
 * why compiling is forbidden, or NULL when it is allowed. */
const char *duo_runtime_kernel_binaries(const duo_runtime *rt);
const char *duo_runtime_no_compile_reason(const duo_runtime *rt);

/* What duo_kernels_export wrote. */
typedef struct duo_kernel_export {
    int programs;           /* programs: the .cl files of kernels/ but common.cl */
    int kernels;            /* kernels listed over all programs */
    bool binaries;          /* false: the device cannot compile, only sources and manifest */
    char manifest[1100];    /* DIR/manifest.json */
} duo_kernel_export;

/* duocl kernels export: creates a runtime from `options` (kernel_binaries
 * must be NULL) and writes, for every program duocl uses on that device,
 * DIR/<name>.cl (the exact source compiled: common.cl and the file) and
 * DIR/<name>.bin (clGetProgramInfo's CL_PROGRAM_BINARIES), plus
 * DIR/manifest.json: device, driver, OpenCL C options and -D constants, and
 * per program its source hash, binary and kernel names. On a device that
 * cannot compile, only the sources and the manifest (the FPGA flow builds the
 * binaries offline: README). DIR is created. */
duo_status duo_kernels_export(const duo_runtime_options *options, const char *dir,
                              duo_kernel_export *out);

#ifdef __cplusplus
}
#endif
#endif
