/* Causal multi-head attention, forward and backward.
 *
 * Implementation: the four matrix products of each direction are CLBlast
 * strided-batched GEMMs, launched from host/ops/attention.c; this file holds
 * what GEMM cannot do: moving heads in and out of a GEMM-friendly layout and
 * the masked softmax, forward and backward. Per (batch, head):
 *
 *   forward   S = scale Q K^T            GEMM (full T x T; the upper triangle is
 *             P = causal_softmax(S)      never read: this kernel writes it as 0)
 *             Y = P V                    GEMM (masked P entries are exactly 0)
 *   backward  dP = dY V^T                GEMM
 *             dV = P^T dY                GEMM
 *             dS = P * (dP - rowsum(P * dP))   masked entries written as 0
 *             dQ = scale dS K,  dK = scale dS^T Q   GEMMs
 *
 * with scale = 1/sqrt(hd). Computing the full T x T products wastes the masked
 * half of the score GEMM, but CLBlast's GEMM on PoCL is much faster than a
 * hand-written triangular kernel, so it is still the fast path there.
 *
 * Layouts (d = H * hd; head h owns columns [h*hd, (h+1)*hd) of a row):
 *   x    (B, T, d) row-major: the model's q, k, v, y and their gradients.
 *   xh   (B, H, T, hd) row-major: the same values with each head's (T, hd)
 *        block contiguous, so one GEMM stride (T * hd) steps over batch and
 *        head together and a whole direction is one batched GEMM per product.
 *   p    (B, H, T, T) row-major: scores or probabilities; row t of a head
 *        attends to keys 0..t, entries t+1..T-1 are masked.
 * Buffers that live inside a larger one (the saved block, the scratch block)
 * are passed as a base pointer and an offset in floats.
 *
 * Determinism: every output element is written by one work-item; row sums are
 * a fixed per-work-item order followed by a fixed tree in local memory. */

/* xh[b, h, t, i] = x[b, t, h*hd + i]. Global size (d, B*T), one work-item per
 * element; reads are contiguous along a row of x. */
__kernel void attention_split_heads(__global float *xh_base, const int xh_offset,
                                    __global const float *x, const int rows, const int T,
                                    const int H, const int hd)
{
    const int c = get_global_id(0);
    const int r = get_global_id(1);
    const int d = H * hd;
    if (c >= d || r >= rows)
        return;
    const int b = r / T, t = r - b * T, h = c / hd, i = c - h * hd;
    xh_base[xh_offset + ((b * H + h) * T + t) * hd + i] = x[r * d + c];
}

/* x[b, t, h*hd + i] = xh[b, h, t, i]: the inverse of attention_split_heads,
 * with the same global size; writes are contiguous along a row of x. */
__kernel void attention_merge_heads(__global float *x, __global const float *xh_base,
                                    const int xh_offset, const int rows, const int T,
                                    const int H, const int hd)
{
    const int c = get_global_id(0);
    const int r = get_global_id(1);
    const int d = H * hd;
    if (c >= d || r >= rows)
        return;
    const int b = r / T, t = r - b * T, h = c / hd, i = c - h * hd;
    x[r * d + c] = xh_base[xh_offset + ((b * H + h) * T + t) * hd + i];
}

/* part[0] = max or sum of part[0..DUO_WG_REDUCE) by a fixed tree. Every
 * work-item of the group must call it; part[lid] must be written before. */
static void reduce_max(__local float *part, const int lid)
{
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = DUO_WG_REDUCE / 2; stride > 0; stride >>= 1) {
        if (lid < stride)
            part[lid] = fmax(part[lid], part[lid + stride]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

static void reduce_sum(__local float *part, const int lid)
{
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = DUO_WG_REDUCE / 2; stride > 0; stride >>= 1) {
        if (lid < stride)
            part[lid] = part[lid] + part[lid + stride];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* In place over p (B, H, T, T) at p_offset: scaled scores in, probabilities
 * out. Row t: p[j] = exp(s[j] - max) / sum over j <= t of exp(s[j] - max);
 * p[j] = 0 for j > t, whose scores never reach p. One work-group of
 * DUO_WG_REDUCE work-items per row, B * H * T groups. (No early return for
 * groups past the end: there are none, and PoCL 3.1 crashes on a return
 * before a barrier even when the whole group takes it.) */
__kernel void attention_softmax_forward(__global float *p_base, const int p_offset, const int T)
{
    __local float part[DUO_WG_REDUCE];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    const int t = row % T;
    __global float *s = p_base + p_offset + (size_t)row * T;

    float m = -INFINITY;
    for (int j = lid; j <= t; j += DUO_WG_REDUCE)
        m = fmax(m, s[j]);
    part[lid] = m;
    reduce_max(part, lid);
    m = part[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* everyone has read part[0] before it is reused */

    /* The exponentials are stored, not recomputed: exp is the costly part. */
    float sum = 0.0f;
    for (int j = lid; j <= t; j += DUO_WG_REDUCE) {
        const float e = exp(s[j] - m);
        s[j] = e;
        sum += e;
    }
    part[lid] = sum;
    reduce_sum(part, lid);
    sum = part[0];

    for (int j = lid; j < T; j += DUO_WG_REDUCE)
        s[j] = j <= t ? s[j] / sum : 0.0f;
}

/* In place over dp (B, H, T, T) at dp_offset, given p (same layout, at
 * p_offset): dP in, dS out. Row t: D = sum over j <= t of p[j] dp[j];
 * ds[j] = p[j] (dp[j] - D) for j <= t and 0 for j > t. One work-group of
 * DUO_WG_REDUCE work-items per row, B * H * T groups. */
__kernel void attention_softmax_backward(__global float *dp_base, const int dp_offset,
                                         __global const float *p_base, const int p_offset,
                                         const int T)
{
    __local float part[DUO_WG_REDUCE];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    const int t = row % T;
    __global float *dp = dp_base + dp_offset + (size_t)row * T;
    __global const float *p = p_base + p_offset + (size_t)row * T;

    float dot = 0.0f;
    for (int j = lid; j <= t; j += DUO_WG_REDUCE)
        dot += p[j] * dp[j];
    part[lid] = dot;
    reduce_sum(part, lid);
    dot = part[0];

    for (int j = lid; j < T; j += DUO_WG_REDUCE)
        dp[j] = j <= t ? p[j] * (dp[j] - dot) : 0.0f;
}
