/* Start-up checks of the device against plain-C references. */
#ifndef DUOCL_SELFTEST_H
#define DUOCL_SELFTEST_H

#include "duocl/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct duo_selftest_result {
    int cases;              /* GEMM shapes and transposes checked */
    int failed;             /* how many exceeded the tolerance */
    double max_error;       /* worst |device - reference| / (sum |a||b| + 1e-30) */
    double tolerance;       /* the bound max_error must stay under */
    char worst_case[128];   /* "m=37 n=1 k=37 A^T B" */
    char gemm[16];          /* the GEMM checked: "clblast" or "builtin" */
} duo_selftest_result;

/* Checks the runtime's GEMM (duo_runtime_gemm) and strided-batched GEMM on random data (sizes including 1 and
 * 37, every transpose combination) against a double-precision C reference.
 * Returns DUO_ERR_NUMERIC when any case exceeds the tolerance; the result is
 * filled in either way. Debian's CLBlast 1.5.3 has a GEMM bug on some devices:
 * this is how it is caught. */
duo_status duo_selftest_gemm(duo_runtime *rt, duo_selftest_result *result);

/* The same cases on one GEMM, DUO_GEMM_CLBLAST or DUO_GEMM_BUILTIN (duocl's
 * kernels/gemm.cl); the runtime's own GEMM is in use again afterwards.
 * CLBlast is refused (DUO_ERR_INVALID_ARGUMENT) where compiling at run time
 * is forbidden. */
duo_status duo_selftest_gemm_with(duo_runtime *rt, duo_gemm_kind kind, duo_selftest_result *result);

#ifdef __cplusplus
}
#endif
#endif
