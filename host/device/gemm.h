/* Row-major single-precision GEMM on the device: through CLBlast or duocl's
 * own kernels (kernels/gemm.cl), whichever the runtime chose (--gemm, the
 * config's model.gemm, the vendor profile). */
#ifndef DUOCL_HOST_GEMM_H
#define DUOCL_HOST_GEMM_H

#include <stdbool.h>

#include "runtime_internal.h"

/* One operand: a buffer, the offset of its first element (in floats), its
 * leading dimension (row stride, in floats) and whether it is used transposed. */
typedef struct duo_matrix {
    cl_mem buffer;
    size_t offset;
    size_t ld;
    bool transposed;
} duo_matrix;

/* C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C. Zero m or n does
 * nothing; zero k scales C by beta. C must not be transposed. */
duo_status duo_gemm(duo_runtime *rt, size_t m, size_t n, size_t k, float alpha, duo_matrix a,
                    duo_matrix b, float beta, duo_matrix c);

/* `batch` GEMMs whose operands start `stride_*` floats apart. */
duo_status duo_gemm_strided_batched(duo_runtime *rt, size_t m, size_t n, size_t k, float alpha,
                                    duo_matrix a, size_t stride_a, duo_matrix b, size_t stride_b,
                                    float beta, duo_matrix c, size_t stride_c, size_t batch);

/* Switches the GEMM the calls above run to `kind` (DUO_GEMM_CLBLAST or
 * DUO_GEMM_BUILTIN), for a comparison (bench, self-test); the one in use
 * before goes to *previous (may be NULL). CLBlast is refused where compiling
 * at run time is forbidden. */
duo_status duo_gemm_use(duo_runtime *rt, duo_gemm_kind kind, duo_gemm_kind *previous);

#endif
