/* Row-major GEMM through CLBlast or the built-in kernels (kernels/gemm.cl),
 * with one temp buffer kept by the runtime; empty dimensions are handled on
 * the host (CLBlast rejects them). */
#include <limits.h>

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

/* Grows the runtime's temp buffer to at least `bytes` (at least doubling).
 * The one it replaces is kept until the runtime goes: oclgrind reports
 * reads of uninitialised memory in later kernels when a buffer that earlier
 * kernels used is released and another takes its place. */
static duo_status grow_temp(duo_runtime *rt, size_t bytes)
{
    if (bytes <= rt->gemm_temp_bytes && rt->gemm_temp)
        return DUO_OK;
    size_t grown = bytes > 2 * rt->gemm_temp_bytes ? bytes : 2 * rt->gemm_temp_bytes;
    cl_mem buffer;
    DUO_TRY(duo_buffer_create(rt, grown, &buffer));
    if (rt->gemm_temp && rt->gemm_retired_count < DUO_MAX_RETIRED)
        rt->gemm_retired[rt->gemm_retired_count++] = rt->gemm_temp;
    else
        duo_buffer_release(&rt->gemm_temp);
    rt->gemm_temp = buffer;
    rt->gemm_temp_bytes = grown;
    return DUO_OK;
}

/* Grows the runtime's temp buffer to what CLBlast needs for this shape. */
static duo_status ensure_temp(duo_runtime *rt, size_t m, size_t n, size_t k, duo_matrix a,
                              duo_matrix b, duo_matrix c)
{
    size_t bytes = 0;
    CLBlastStatusCode code = CLBlastSGemmTempBufferSize(
        CLBlastLayoutRowMajor, transpose_of(a), transpose_of(b), m, n, k, a.offset, a.ld, b.offset,
        b.ld, c.offset, c.ld, &rt->queue, &bytes);
    if (code != CLBlastSuccess)
        return clblast_fail(code, "CLBlastSGemmTempBufferSize", m, n, k, 1);
    return grow_temp(rt, bytes);
}

/* ---- the built-in GEMM (kernels/gemm.cl) ---- */

static const char GEMM_FILE[] = "gemm.cl";
enum { TRANSPOSE_BLOCK = 16 }; /* gemm_transpose's block */

/* One launch of gemm_nn or gemm_tn per block of k (the profile's k_block):
 * C = alpha op(A) B + beta C for the first, C += alpha op(A) B after. */
static duo_status builtin_launch(duo_runtime *rt, size_t m, size_t n, size_t k, float alpha,
                                 duo_matrix a, size_t stride_a, duo_matrix b, size_t stride_b,
                                 float beta, duo_matrix c, size_t stride_c, size_t batch)
{
    const duo_gemm_tiles *t = &rt->gemm_tiles;
    size_t cols = (size_t)t->vectors * (size_t)t->width;
    size_t block = t->k_block > 0 ? (size_t)t->k_block : k;
    const char *kernel = a.transposed ? "gemm_tn" : "gemm_nn";
    size_t global[3] = {(n + cols - 1) / cols, (m + t->rows - 1) / t->rows, batch};
    size_t local[3] = {(size_t)t->wg_x, (size_t)t->wg_y, 1};
    int im = (int)m, in = (int)n, lda = (int)a.ld, ldb = (int)b.ld, ldc = (int)c.ld;
    cl_ulong sa = stride_a, sb = stride_b, sc = stride_c, c_offset = c.offset;
    for (size_t k0 = 0; k0 < k; k0 += block) {
        int ik = (int)(k - k0 < block ? k - k0 : block);
        cl_ulong a_offset = a.offset + (a.transposed ? k0 * a.ld : k0);
        cl_ulong b_offset = b.offset + k0 * b.ld;
        float beta_k = k0 == 0 ? beta : 1.0f;
        duo_karg args[] = {DUO_ARG(im),       DUO_ARG(in),  DUO_ARG(ik),       DUO_ARG(alpha),
                           DUO_ARG(a.buffer), DUO_ARG(a_offset), DUO_ARG(lda), DUO_ARG(sa),
                           DUO_ARG(b.buffer), DUO_ARG(b_offset), DUO_ARG(ldb), DUO_ARG(sb),
                           DUO_ARG(beta_k),
                           DUO_ARG(c.buffer), DUO_ARG(c_offset), DUO_ARG(ldc), DUO_ARG(sc)};
        DUO_TRY(duo_launch(rt, GEMM_FILE, kernel, 3, global, local, DUO_NARGS(args), args));
    }
    return DUO_OK;
}

/* The built-in kernels take B as it is: a transposed B (stored (n, k)) is
 * copied into the temp buffer as (k, n) first, its row stride padded so that
 * rows do not all fall into the same cache sets. */
static duo_status builtin_gemm(duo_runtime *rt, size_t m, size_t n, size_t k, float alpha,
                               duo_matrix a, size_t stride_a, duo_matrix b, size_t stride_b,
                               float beta, duo_matrix c, size_t stride_c, size_t batch)
{
    size_t widest = m > n ? m : n;
    widest = widest > k ? widest : k;
    if (widest + 32 > INT_MAX || a.ld > INT_MAX || b.ld > INT_MAX || c.ld > INT_MAX)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "built-in GEMM: m=%zu n=%zu k=%zu with leading dimensions %zu, %zu, %zu: "
                        "each must be below 2^31", m, n, k, a.ld, b.ld, c.ld);
    if (!b.transposed)
        return builtin_launch(rt, m, n, k, alpha, a, stride_a, b, stride_b, beta, c, stride_c,
                              batch);
    size_t ld = (n + 15) / 16 * 16 + 16, size = k * ld;
    DUO_TRY(grow_temp(rt, batch * size * sizeof(float)));
    int rows = (int)n, cols = (int)k, ld_in = (int)b.ld, ld_out = (int)ld;
    cl_ulong in_offset = b.offset, in_stride = stride_b, out_offset = 0, out_stride = size;
    duo_karg args[] = {DUO_ARG(rows),       DUO_ARG(cols),      DUO_ARG(b.buffer),
                       DUO_ARG(in_offset),  DUO_ARG(ld_in),     DUO_ARG(in_stride),
                       DUO_ARG(rt->gemm_temp), DUO_ARG(out_offset), DUO_ARG(ld_out),
                       DUO_ARG(out_stride)};
    const duo_gemm_tiles *t = &rt->gemm_tiles;
    size_t global[3] = {(k + TRANSPOSE_BLOCK - 1) / TRANSPOSE_BLOCK,
                        (n + TRANSPOSE_BLOCK - 1) / TRANSPOSE_BLOCK, batch};
    size_t local[3] = {(size_t)t->wg_x, (size_t)t->wg_y, 1};
    DUO_TRY(duo_launch(rt, GEMM_FILE, "gemm_transpose", 3, global, local, DUO_NARGS(args), args));
    duo_matrix bt = {rt->gemm_temp, 0, ld, false};
    return builtin_launch(rt, m, n, k, alpha, a, stride_a, bt, size, beta, c, stride_c, batch);
}

duo_status duo_gemm_use(duo_runtime *rt, duo_gemm_kind kind, duo_gemm_kind *previous)
{
    if (kind != DUO_GEMM_CLBLAST && kind != DUO_GEMM_BUILTIN)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_gemm_use: clblast or builtin, got %d",
                        (int)kind);
    if (kind == DUO_GEMM_CLBLAST && rt->no_compile_reason[0])
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "CLBlast compiles its kernels at run time, which is forbidden (%s)",
                        rt->no_compile_reason);
    if (previous)
        *previous = rt->gemm;
    rt->gemm = kind;
    return DUO_OK;
}

/* ---- both ---- */

duo_status duo_gemm(duo_runtime *rt, size_t m, size_t n, size_t k, float alpha, duo_matrix a,
                    duo_matrix b, float beta, duo_matrix c)
{
    if (c.transposed)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_gemm: C cannot be transposed");
    if (m == 0 || n == 0)
        return DUO_OK;
    if (k == 0)
        return scale_matrix(rt, m, n, beta, c);
    if (rt->gemm == DUO_GEMM_BUILTIN)
        return builtin_gemm(rt, m, n, k, alpha, a, 0, b, 0, beta, c, 0, 1);
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
    if (rt->gemm == DUO_GEMM_BUILTIN)
        return builtin_gemm(rt, m, n, k, alpha, a, stride_a, b, stride_b, beta, c, stride_c, batch);
    CLBlastStatusCode code = CLBlastSgemmStridedBatched(
        CLBlastLayoutRowMajor, transpose_of(a), transpose_of(b), m, n, k, alpha, a.buffer,
        a.offset, a.ld, stride_a, b.buffer, b.offset, b.ld, stride_b, beta, c.buffer, c.offset,
        c.ld, stride_c, batch, &rt->queue, NULL);
    if (code != CLBlastSuccess)
        return clblast_fail(code, "CLBlastSgemmStridedBatched", m, n, k, batch);
    return DUO_OK;
}
