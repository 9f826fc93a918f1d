/* CLBlast wrapper: row-major GEMM with one temp buffer kept by the runtime,
 * empty dimensions handled on the host (CLBlast rejects them). */
#include <clblast_c.h>

#include "gemm.h"

static CLBlastTranspose transpose_of(duo_matrix m)
{
    return m.transposed ? CLBlastTransposeYes : CLBlastTransposeNo;
}

static duo_status clblast_fail(CLBlastStatusCode code, const char *routine, size_t m, size_t n,
                               size_t k, size_t batch)
{
    return duo_fail(DUO_ERR_CLBLAST, "%s failed with %s (m=%zu n=%zu k=%zu batch=%zu)", routine,
                    duo_clblast_status_name(code), m, n, k, batch);
}

/* C = beta * C, for a GEMM with k = 0. */
static duo_status scale_matrix(duo_runtime *rt, size_t m, size_t n, float beta, duo_matrix c)
{
    if (beta == 1.0f)
        return DUO_OK;
    int offset = (int)c.offset, ldc = (int)c.ld, rows = (int)m, cols = (int)n;
    duo_karg args[] = {DUO_ARG(c.buffer), DUO_ARG(offset), DUO_ARG(ldc),
                       DUO_ARG(rows),     DUO_ARG(cols),   DUO_ARG(beta)};
    size_t wg = rt->work_group_2d;
    return duo_launch(rt, "blas.cl", "matrix_scale", 2, (size_t[]){n, m}, (size_t[]){wg, wg},
                      DUO_NARGS(args), args);
}

/* Grows the runtime's temp buffer to what this shape needs. */
static duo_status ensure_temp(duo_runtime *rt, size_t m, size_t n, size_t k, duo_matrix a,
                              duo_matrix b, duo_matrix c)
{
    size_t bytes = 0;
    CLBlastStatusCode code = CLBlastSGemmTempBufferSize(
        CLBlastLayoutRowMajor, transpose_of(a), transpose_of(b), m, n, k, a.offset, a.ld, b.offset,
        b.ld, c.offset, c.ld, &rt->queue, &bytes);
    if (code != CLBlastSuccess)
        return clblast_fail(code, "CLBlastSGemmTempBufferSize", m, n, k, 1);
    if (bytes <= rt->gemm_temp_bytes && rt->gemm_temp)
        return DUO_OK;
    duo_buffer_release(&rt->gemm_temp);
    size_t grown = bytes + bytes / 4;
    DUO_TRY(duo_buffer_create(rt, grown, &rt->gemm_temp));
    rt->gemm_temp_bytes = grown;
    return DUO_OK;
}

duo_status duo_gemm(duo_runtime *rt, size_t m, size_t n, size_t k, float alpha, duo_matrix a,
                    duo_matrix b, float beta, duo_matrix c)
{
    if (c.transposed)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_gemm: C cannot be transposed");
    if (m == 0 || n == 0)
        return DUO_OK;
    if (k == 0)
        return scale_matrix(rt, m, n, beta, c);
    DUO_TRY(ensure_temp(rt, m, n, k, a, b, c));
    CLBlastStatusCode code = CLBlastSgemmWithTempBuffer(
        CLBlastLayoutRowMajor, transpose_of(a), transpose_of(b), m, n, k, alpha, a.buffer,
        a.offset, a.ld, b.buffer, b.offset, b.ld, beta, c.buffer, c.offset, c.ld, &rt->queue, NULL,
        rt->gemm_temp);
    if (code != CLBlastSuccess)
        return clblast_fail(code, "CLBlastSgemmWithTempBuffer", m, n, k, 1);
    return DUO_OK;
}

duo_status duo_gemm_strided_batched(duo_runtime *rt, size_t m, size_t n, size_t k, float alpha,
                                    duo_matrix a, size_t stride_a, duo_matrix b, size_t stride_b,
                                    float beta, duo_matrix c, size_t stride_c, size_t batch)
{
    if (c.transposed)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_gemm_strided_batched: C cannot be transposed");
    if (m == 0 || n == 0 || batch == 0)
        return DUO_OK;
    if (k == 0) {
        for (size_t i = 0; i < batch; i++) {
            duo_matrix ci = c;
            ci.offset += i * stride_c;
            DUO_TRY(scale_matrix(rt, m, n, beta, ci));
        }
        return DUO_OK;
    }
    CLBlastStatusCode code = CLBlastSgemmStridedBatched(
        CLBlastLayoutRowMajor, transpose_of(a), transpose_of(b), m, n, k, alpha, a.buffer,
        a.offset, a.ld, stride_a, b.buffer, b.offset, b.ld, stride_b, beta, c.buffer, c.offset,
        c.ld, stride_c, batch, &rt->queue, NULL);
    if (code != CLBlastSuccess)
        return clblast_fail(code, "CLBlastSgemmStridedBatched", m, n, k, batch);
    return DUO_OK;
}
