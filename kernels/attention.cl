/* Causal multi-head attention, forward and backward.
 *
 * Implementation: the matrix products are CLBlast strided-batched GEMMs,
 * launched from host/ops/attention.c; this file holds what GEMM cannot do:
 * moving heads in and out of a GEMM-friendly layout and the masked softmax,
 * forward and backward. Per (batch, head):
 *
 *   forward   S = scale Q K^T            GEMMs
 *             P = causal_softmax(S)      attention_softmax_forward
 *             Y = P V                    GEMMs
 *   backward  dP = dY V^T,  dV = P^T dY  GEMMs
 *             dS = P * (dP - rowsum(P * dP))   attention_softmax_backward
 *             dQ = scale dS K,  dK = scale dS^T Q   GEMMs
 *
 * with scale = 1/sqrt(hd). The host cuts positions into blocks of 64 and
 * skips the (T, T) blocks above the diagonal (5/8 of the full work remains
 * at T = 256). Inside the diagonal blocks the GEMMs do compute masked scores;
 * the softmax kernels never read them and write P and dS there as exactly 0,
 * and the (T, T) entries the GEMMs skip are likewise written 0 and never read,
 * so the products that take P or dS as input add exact zeros for masked keys.
 * GEMMs through CLBlast are the fast path on PoCL; the price is the (T, T)
 * probabilities kept for the backward (see host/ops/attention.h).
 *
 * Layouts (d = H * hd; head h owns columns [h*hd, (h+1)*hd) of a row):
 *   x    (B, T, d) row-major: the model's q, k, v, y and their gradients.
 *   xh   (B, H, T, hd) row-major: the same values with each head's (T, hd)
 *        block contiguous, so one GEMM stride (T * hd) steps over batch and
 *        head together: one batched GEMM per product and block of positions.
 *   p    (B, H, T, T) row-major: scores or probabilities; row t of a head
 *        attends to keys 0..t, entries t+1..T-1 are masked.
 * Buffers that live inside a larger one (the saved block, the scratch block)
 * are passed as a base pointer and an offset in floats.
 *
 * Determinism: every output element is written by one work-item, and each
 * row's sums run in a fixed order inside one work-item. */

/* xh[b, h, t, :] = x[b, t, h*hd : (h+1)*hd]. One work-item per (row, head),
 * B*T*H of them, copying hd contiguous floats: a work-item per element costs
 * PoCL more in work-group overhead than the copy itself. */
__kernel void attention_split_heads(__global float *xh_base, const int xh_offset,
                                    __global const float *x, const int rows, const int T,
                                    const int H, const int hd)
{
    const int g = get_global_id(0);
    if (g >= rows * H)
        return;
    const int r = g / H, h = g - r * H, b = r / T, t = r - b * T;
    __global float *to = xh_base + xh_offset + ((b * H + h) * T + t) * hd;
    __global const float *from = x + g * hd; /* row r, head h: (r * H + h) * hd */
    for (int i = 0; i < hd; i++)
        to[i] = from[i];
}

/* x[b, t, h*hd : (h+1)*hd] = xh[b, h, t, :]: the inverse of
 * attention_split_heads, with the same work-items. */
__kernel void attention_merge_heads(__global float *x, __global const float *xh_base,
                                    const int xh_offset, const int rows, const int T,
                                    const int H, const int hd)
{
    const int g = get_global_id(0);
    if (g >= rows * H)
        return;
    const int r = g / H, h = g - r * H, b = r / T, t = r - b * T;
    __global const float *from = xh_base + xh_offset + ((b * H + h) * T + t) * hd;
    __global float *to = x + g * hd;
    for (int i = 0; i < hd; i++)
        to[i] = from[i];
}

/* In place over p (B, H, T, T) at p_offset: scaled scores in, probabilities
 * out. Row t: p[j] = exp(s[j] - max) / sum over j <= t of exp(s[j] - max);
 * p[j] = 0 for j > t, whose scores are never read (they may be unwritten).
 * One work-item per row (rows = B * H * T), summing in order of j: on PoCL
 * this is about twice as fast as a work-group per row with a tree reduction,
 * whose barriers cost more than the 256-element rows they split. */
__kernel void attention_softmax_forward(__global float *p_base, const int p_offset, const int T,
                                        const int rows)
{
    const int row = get_global_id(0);
    if (row >= rows)
        return;
    const int t = row % T;
    __global float *s = p_base + p_offset + (size_t)row * T;

    float m = -INFINITY;
    for (int j = 0; j <= t; j++)
        m = fmax(m, s[j]);
    /* The exponentials are stored, not recomputed: exp is the costly part. */
    float sum = 0.0f;
    for (int j = 0; j <= t; j++) {
        const float e = exp(s[j] - m);
        s[j] = e;
        sum += e;
    }
    for (int j = 0; j <= t; j++)
        s[j] = s[j] / sum;
    for (int j = t + 1; j < T; j++)
        s[j] = 0.0f;
}

/* In place over dp (B, H, T, T) at dp_offset, given p (same layout, at
 * p_offset): dP in, dS out. Row t: D = sum over j <= t of p[j] dp[j];
 * ds[j] = p[j] (dp[j] - D) for j <= t and 0 for j > t, whose dP entries are
 * never read. One work-item per row, as in the forward. */
__kernel void attention_softmax_backward(__global float *dp_base, const int dp_offset,
                                         __global const float *p_base, const int p_offset,
                                         const int T, const int rows)
{
    const int row = get_global_id(0);
    if (row >= rows)
        return;
    const int t = row % T;
    __global float *dp = dp_base + dp_offset + (size_t)row * T;
    __global const float *p = p_base + p_offset + (size_t)row * T;

    float dot = 0.0f;
    for (int j = 0; j <= t; j++)
        dot += p[j] * dp[j];
    for (int j = 0; j <= t; j++)
        dp[j] = p[j] * (dp[j] - dot);
    for (int j = t + 1; j < T; j++)
        dp[j] = 0.0f;
}
