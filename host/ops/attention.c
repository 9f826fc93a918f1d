/* Launchers for kernels/attention.cl and the batched GEMMs between them.
 *
 * Where things live (offsets in floats, n = B*T*H*hd, nn = B*H*T*T):
 *   saved:   qh [0, n)   kh [n, 2n)   vh [2n, 3n)   p [3n, 3n + nn)
 *   scratch: a [0, n)    b [n, 2n)    dp [2n, 2n + nn)
 * Forward puts the per-head output in scratch a. Backward puts dY in a, dP
 * and then dS in dp, dV in b; once dY and dV are no longer needed, dQ goes
 * to a and dK to b, each merged into the caller's layout as soon as it is
 * complete. */
#include <limits.h>
#include <math.h>

#include "device/gemm.h"
#include "attention.h"

/* The products skip the blocks of (T, T) above the diagonal: with positions
 * cut into blocks of ATTENTION_BLOCK, query block [r0, r1) only meets keys
 * [0, r1). At T = 256 that is 5/8 of the full
 * products' work. On PoCL, blocks of 64 beat 128 and 256 (whole products);
 * 32 is no faster than 64: smaller GEMMs are less efficient. The entries a product skips are never read: the
 * softmax kernels write zeros there. */
enum { ATTENTION_BLOCK = 64 };

typedef struct layout {
    size_t n, nn;                  /* floats in one (B,T,d) tensor and in one (B,H,T,T) */
    size_t qh, kh, vh, p;          /* offsets in saved */
    size_t a, b, dp;               /* offsets in scratch */
    int rows, T, H, hd;            /* kernel arguments */
} layout;

static size_t tensor_floats(duo_attention_shape s) { return s.B * s.T * s.H * s.hd; }
static size_t scores_floats(duo_attention_shape s) { return s.B * s.H * s.T * s.T; }

size_t duo_attention_saved_floats(duo_attention_shape s)
{
    return 3 * tensor_floats(s) + scores_floats(s);
}

size_t duo_attention_scratch_floats(duo_attention_shape s)
{
    return 2 * tensor_floats(s) + scores_floats(s);
}

/* Fills in the offsets; fails if an index a kernel forms would not fit in int
 * (the saved block is the largest buffer the kernels index). */
static duo_status layout_of(duo_attention_shape s, layout *l)
{
    double tensor = (double)s.B * (double)s.T * (double)s.H * (double)s.hd;
    double squares = (double)s.B * (double)s.H * (double)s.T * (double)s.T;
    if (3.0 * tensor + squares > (double)INT_MAX)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "attention: shape B=%zu T=%zu H=%zu hd=%zu is too large for 32-bit indices",
                        s.B, s.T, s.H, s.hd);
    l->n = tensor_floats(s);
    l->nn = scores_floats(s);
    l->qh = 0;
    l->kh = l->n;
    l->vh = 2 * l->n;
    l->p = 3 * l->n;
    l->a = 0;
    l->b = l->n;
    l->dp = 2 * l->n;
    l->rows = (int)(s.B * s.T);
    l->T = (int)s.T;
    l->H = (int)s.H;
    l->hd = (int)s.hd;
    return DUO_OK;
}

/* (B, T, d) -> (B, H, T, hd) at xh_offset of xh; one work-item per (row, head). */
static duo_status split_heads(duo_runtime *rt, const layout *l, cl_mem xh, size_t xh_offset, cl_mem x)
{
    int offset = (int)xh_offset;
    duo_karg args[] = {DUO_ARG(xh), DUO_ARG(offset), DUO_ARG(x), DUO_ARG(l->rows),
                       DUO_ARG(l->T), DUO_ARG(l->H), DUO_ARG(l->hd)};
    return duo_launch(rt, "attention.cl", "attention_split_heads", 1,
                      (size_t[]){(size_t)l->rows * (size_t)l->H}, (size_t[]){rt->work_group_1d},
                      DUO_NARGS(args), args);
}

/* (B, H, T, hd) at xh_offset of xh -> (B, T, d). */
static duo_status merge_heads(duo_runtime *rt, const layout *l, cl_mem x, cl_mem xh, size_t xh_offset)
{
    int offset = (int)xh_offset;
    duo_karg args[] = {DUO_ARG(x), DUO_ARG(xh), DUO_ARG(offset), DUO_ARG(l->rows),
                       DUO_ARG(l->T), DUO_ARG(l->H), DUO_ARG(l->hd)};
    return duo_launch(rt, "attention.cl", "attention_merge_heads", 1,
                      (size_t[]){(size_t)l->rows * (size_t)l->H}, (size_t[]){rt->work_group_1d},
                      DUO_NARGS(args), args);
}

/* One work-item per row of the B*H*T rows of (B, H, T, T). */
static duo_status softmax_forward(duo_runtime *rt, const layout *l, cl_mem p, size_t p_offset)
{
    int offset = (int)p_offset, rows = l->rows * l->H;
    duo_karg args[] = {DUO_ARG(p), DUO_ARG(offset), DUO_ARG(l->T), DUO_ARG(rows)};
    return duo_launch(rt, "attention.cl", "attention_softmax_forward", 1, (size_t[]){(size_t)rows},
                      (size_t[]){rt->work_group_1d}, DUO_NARGS(args), args);
}

static duo_status softmax_backward(duo_runtime *rt, const layout *l, cl_mem dp, size_t dp_offset,
                                   cl_mem p, size_t p_offset)
{
    int dp_off = (int)dp_offset, p_off = (int)p_offset, rows = l->rows * l->H;
    duo_karg args[] = {DUO_ARG(dp), DUO_ARG(dp_off), DUO_ARG(p), DUO_ARG(p_off), DUO_ARG(l->T),
                       DUO_ARG(rows)};
    return duo_launch(rt, "attention.cl", "attention_softmax_backward", 1, (size_t[]){(size_t)rows},
                      (size_t[]){rt->work_group_1d}, DUO_NARGS(args), args);
}

/* An operand of a batched GEMM: each (batch, head) is one GEMM of the batch.
 * A head's (T, hd) block is hd wide and T*hd floats from the next; a (T, T)
 * block is T wide and T*T from the next. */
typedef struct operand {
    duo_matrix m;
    size_t stride;
} operand;

static operand heads(cl_mem buffer, size_t offset, const layout *l, bool transposed)
{
    return (operand){{buffer, offset, (size_t)l->hd, transposed}, (size_t)l->T * (size_t)l->hd};
}

static operand scores(cl_mem buffer, size_t offset, const layout *l, bool transposed)
{
    return (operand){{buffer, offset, (size_t)l->T, transposed}, (size_t)l->T * (size_t)l->T};
}

/* C = alpha op(A) op(B) for every (batch, head); m, n, k as in duo_gemm. */
static duo_status batched(duo_runtime *rt, const layout *l, size_t m, size_t n, size_t k,
                          float alpha, operand a, operand b, operand c)
{
    size_t batch = (size_t)l->rows / (size_t)l->T * (size_t)l->H;
    return duo_gemm_strided_batched(rt, m, n, k, alpha, a.m, a.stride, b.m, b.stride, 0.0f, c.m,
                                    c.stride, batch);
}

static size_t block_end(const layout *l, size_t start)
{
    size_t end = start + ATTENTION_BLOCK;
    return end < (size_t)l->T ? end : (size_t)l->T;
}

/* C[r0:r1, 0:r1] = alpha X[r0:r1] Y[0:r1]^T per query block, X and Y (B, H, T, hd)
 * and C (B, H, T, T): S = scale Q K^T and dP = dY V^T. */
static duo_status scores_from_heads(duo_runtime *rt, const layout *l, float alpha, cl_mem x,
                                    size_t x_offset, cl_mem y, size_t y_offset, cl_mem c,
                                    size_t c_offset)
{
    size_t hd = (size_t)l->hd, T = (size_t)l->T;
    for (size_t r0 = 0; r0 < T; r0 = block_end(l, r0)) {
        size_t r1 = block_end(l, r0);
        DUO_TRY(batched(rt, l, r1 - r0, r1, hd, alpha, heads(x, x_offset + r0 * hd, l, false),
                        heads(y, y_offset, l, true), scores(c, c_offset + r0 * T, l, false)));
    }
    return DUO_OK;
}

/* C[r0:r1] = alpha M[r0:r1, 0:r1] Z[0:r1] per query block, M (B, H, T, T) and
 * Z, C (B, H, T, hd): Y = P V and dQ = scale dS K. */
static duo_status heads_from_scores(duo_runtime *rt, const layout *l, float alpha, cl_mem m,
                                    size_t m_offset, cl_mem z, size_t z_offset, cl_mem c,
                                    size_t c_offset)
{
    size_t hd = (size_t)l->hd, T = (size_t)l->T;
    for (size_t r0 = 0; r0 < T; r0 = block_end(l, r0)) {
        size_t r1 = block_end(l, r0);
        DUO_TRY(batched(rt, l, r1 - r0, hd, r1, alpha, scores(m, m_offset + r0 * T, l, false),
                        heads(z, z_offset, l, false), heads(c, c_offset + r0 * hd, l, false)));
    }
    return DUO_OK;
}

/* C[c0:c1] = alpha M[c0:T, c0:c1]^T Z[c0:T] per key block (only queries from
 * c0 on attend to keys c0..c1-1): dV = P^T dY and dK = scale dS^T Q. */
static duo_status heads_from_scores_transposed(duo_runtime *rt, const layout *l, float alpha,
                                               cl_mem m, size_t m_offset, cl_mem z,
                                               size_t z_offset, cl_mem c, size_t c_offset)
{
    size_t hd = (size_t)l->hd, T = (size_t)l->T;
    for (size_t c0 = 0; c0 < T; c0 = block_end(l, c0)) {
        size_t c1 = block_end(l, c0);
        DUO_TRY(batched(rt, l, c1 - c0, hd, T - c0, alpha,
                        scores(m, m_offset + c0 * T + c0, l, true),
                        heads(z, z_offset + c0 * hd, l, false), heads(c, c_offset + c0 * hd, l, false)));
    }
    return DUO_OK;
}

duo_status duo_attention_forward(duo_runtime *rt, duo_attention_shape s, cl_mem y, cl_mem saved,
                                 cl_mem scratch, cl_mem q, cl_mem k, cl_mem v)
{
    if (tensor_floats(s) == 0)
        return DUO_OK;
    layout l;
    DUO_TRY(layout_of(s, &l));
    float scale = (float)(1.0 / sqrt((double)s.hd));

    DUO_TRY(split_heads(rt, &l, saved, l.qh, q));
    DUO_TRY(split_heads(rt, &l, saved, l.kh, k));
    DUO_TRY(split_heads(rt, &l, saved, l.vh, v));
    /* S = scale Q K^T, then P = causal_softmax(S) in place, then Y = P V. */
    DUO_TRY(scores_from_heads(rt, &l, scale, saved, l.qh, saved, l.kh, saved, l.p));
    DUO_TRY(softmax_forward(rt, &l, saved, l.p));
    DUO_TRY(heads_from_scores(rt, &l, 1.0f, saved, l.p, saved, l.vh, scratch, l.a));
    return merge_heads(rt, &l, y, scratch, l.a);
}

duo_status duo_attention_backward(duo_runtime *rt, duo_attention_shape s, cl_mem dq, cl_mem dk,
                                  cl_mem dv, cl_mem scratch, cl_mem dy, cl_mem saved)
{
    if (tensor_floats(s) == 0)
        return DUO_OK;
    layout l;
    DUO_TRY(layout_of(s, &l));
    float scale = (float)(1.0 / sqrt((double)s.hd));

    DUO_TRY(split_heads(rt, &l, scratch, l.a, dy));
    /* dP = dY V^T and dV = P^T dY. */
    DUO_TRY(scores_from_heads(rt, &l, 1.0f, scratch, l.a, saved, l.vh, scratch, l.dp));
    DUO_TRY(heads_from_scores_transposed(rt, &l, 1.0f, saved, l.p, scratch, l.a, scratch, l.b));
    DUO_TRY(merge_heads(rt, &l, dv, scratch, l.b));
    /* dS = P * (dP - rowsum(P * dP)) in place over dP. */
    DUO_TRY(softmax_backward(rt, &l, scratch, l.dp, saved, l.p));
    /* dQ = scale dS K (dY is done with, so a is free), dK = scale dS^T Q. */
    DUO_TRY(heads_from_scores(rt, &l, scale, scratch, l.dp, saved, l.kh, scratch, l.a));
    DUO_TRY(merge_heads(rt, &l, dq, scratch, l.a));
    DUO_TRY(heads_from_scores_transposed(rt, &l, scale, scratch, l.dp, saved, l.qh, scratch, l.b));
    return merge_heads(rt, &l, dk, scratch, l.b);
}
