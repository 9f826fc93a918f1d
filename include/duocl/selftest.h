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
} duo_selftest_result;

/* Checks GEMM and strided-batched GEMM on random data (sizes including 1 and
 * 37, every transpose combination) against a double-precision C reference.
 * Returns DUO_ERR_NUMERIC when any case exceeds the tolerance; the result is
 * filled in either way. Debian's CLBlast 1.5.3 has a GEMM bug on some devices:
 * this is how it is caught. */
duo_status duo_selftest_gemm(duo_runtime *rt, duo_selftest_result *result);

#ifdef __cplusplus
}
#endif
#endif
