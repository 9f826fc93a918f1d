/* Causal multi-head attention, fused (the FlashAttention-2 scheme), forward
 * and backward: the same function as kernels/attention.cl and its GEMMs,
 * without the (T, T) matrix. Launched from host/ops/attention_fused.c.
 *
 * A work-group owns one tile of `tile` positions of one (batch, head), one
 * work-item per position, and walks the tiles of the other side, staged in
 * local memory; tiles wholly above the diagonal are never visited, and inside
 * the diagonal tile each work-item stops at its own position. With
 * scale = 1/sqrt(hd) and s_ij = scale q_i . k_j:
 *
 *   forward     attention_fused_forward_hdN: per query tile, for key tiles
 *               0..diagonal: stage K^T and V; each work-item (query i) keeps a
 *               running max m, a running sum l and the output o (online
 *               softmax: o and l are rescaled by exp(m_old - m_new) when m
 *               grows), adds p_ij v_j. Writes o / l and lse_i = m + log(l).
 *   backward    attention_fused_backward_delta: delta_i = dO_i . O_i, first.
 *               attention_fused_backward_kv_hdN: per key tile, one work-item
 *               per key j, for query tiles from the diagonal on: stage Q, Q^T,
 *               dO, dO^T, lse, delta; p_ij = exp(s_ij - lse_i) recomputed,
 *               dp_ij = dO_i . v_j, ds_ij = p_ij (dp_ij - delta_i);
 *               dv_j = sum_i p_ij dO_i and dk_j = scale sum_i ds_ij q_i.
 *               attention_fused_backward_q_hdN: per query tile, one work-item
 *               per query i, for key tiles 0..diagonal: stage K, K^T, V^T;
 *               dq_i = scale sum_j ds_ij k_j.
 *               Two kernels, each output row written by one work-item: no
 *               atomics, and the same inputs give the same bits.
 *
 * Vectors: a work-item computes the scores of 16 positions of the other side
 * at once as one float16 (from a transposed tile: lanes are positions), so
 * the exponentials run on vectors too; it accumulates outputs as float16
 * slices of the head dim (from a row tile: lanes are dims). On PoCL a
 * float16 is one AVX-512 register; a GPU splits it into 16 scalars.
 *
 * Head dims: each kernel exists for a head-dim capacity N = 16, 32, 64, 128
 * (a compile-time constant: its loops have fixed trip counts); a head dim
 * below the capacity (24 runs in the 32 kernels) is padded with zeros in
 * local memory. The host picks the smallest capacity that holds hd and the
 * tile (16, 32 or 64) from the profile's work-group size and the device's
 * local memory.
 *
 * Layouts (d = H * hd; head h owns columns [h*hd, (h+1)*hd) of a row):
 *   q, k, v, y, o, dy, dq, dk, dv   (B, T, d) row-major, as in attention.cl
 *                                   before the head split.
 *   lse, delta                      (B, H, T): one float per row and head.
 * Buffers inside a larger one (the saved block, scratch) come as a base
 * pointer and an offset in floats. Local tiles (the launcher sizes them):
 *   rows   tile x N: row r is position p0 + r, zeros past T and past hd.
 *   cols   N x tile: the same tile transposed.
 *
 * Determinism: every sum runs in a fixed order inside one work-item. */

#define ATT_VW 16        /* lanes of attv */
#define ATT_TILE_MAX 64  /* the host's tile: 16, 32 or 64 positions */
#define ATT_HD_MAX 128   /* the largest capacity */

typedef float16 attv;
typedef int16 atti;
#define att_load vload16
#define att_store vstore16
#define ATT_LANES ((atti)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))

/* Inlined into each kernel, so that the capacity HD is a constant there. */
#if defined(__clang__)
#define ATT_INLINE static inline __attribute__((always_inline))
#else
#define ATT_INLINE static inline
#endif

/* Lane reductions in a fixed tree: lanes l and l + 8, then l and l + 4, ...
 * (through a private array: oclgrind takes the .lo/.hi halves of a vector
 * for uninitialised values). */
ATT_INLINE float att_max_lanes(const attv v)
{
    float x[ATT_VW];
    att_store(v, 0, x);
    for (int span = ATT_VW / 2; span > 0; span /= 2)
        for (int l = 0; l < span; l++)
            x[l] = fmax(x[l], x[l + span]);
    return x[0];
}

ATT_INLINE float att_sum_lanes(const attv v)
{
    float x[ATT_VW];
    att_store(v, 0, x);
    for (int span = ATT_VW / 2; span > 0; span /= 2)
        for (int l = 0; l < span; l++)
            x[l] += x[l + span];
    return x[0];
}

/* Lanes x[at .. at + 15] of a per-row array; lanes from `count` on are 0. */
ATT_INLINE attv att_load_lanes(__global const float *x, const int at, const int count)
{
    if (count >= ATT_VW)
        return att_load(0, x + at);
    float lanes[ATT_VW];
    for (int l = 0; l < ATT_VW; l++)
        lanes[l] = l < count ? x[at + l] : 0.0f;
    return att_load(0, lanes);
}

/* rows[r * HD + c] = x[p0 + r, head column c] for r < tile, c < HD; 0 past T
 * or hd. Consecutive work-items read consecutive floats of a row. */
ATT_INLINE void att_stage_rows(const int HD, __local float *rows, __global const float *x,
                               const int head, const int p0, const int T, const int d,
                               const int hd, const int tile)
{
    for (int e = get_local_id(0); e < tile * HD; e += tile) {
        const int r = e / HD, c = e - r * HD, p = p0 + r;
        rows[e] = p < T && c < hd ? x[head + p * d + c] : 0.0f;
    }
}

/* cols[c * tile + r]: the same tile transposed. */
ATT_INLINE void att_stage_cols(const int HD, __local float *cols, __global const float *x,
                               const int head, const int p0, const int T, const int d,
                               const int hd, const int tile)
{
    for (int e = get_local_id(0); e < tile * HD; e += tile) {
        const int r = e / HD, c = e - r * HD, p = p0 + r;
        cols[c * tile + r] = p < T && c < hd ? x[head + p * d + c] : 0.0f;
    }
}

/* Lanes of chunk `chunk` of a cols tile dotted with a: lane r is
 * sum over c < HD of a[c] * cols[c * tile + chunk * 16 + r], in four
 * interleaved partial sums (independent chains of multiply-adds) added as
 * (s0 + s1) + (s2 + s3). Every kernel forms its scores and dp here, so the
 * backward recomputes the forward's probabilities bit for bit. */
ATT_INLINE attv att_dot_lanes(const int HD, const float *a, __local const float *cols,
                              const int tile, const int chunk)
{
    attv s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    for (int c = 0; c < HD; c += 4) {
        s0 += a[c] * att_load(chunk, cols + c * tile);
        s1 += a[c + 1] * att_load(chunk, cols + (c + 1) * tile);
        s2 += a[c + 2] * att_load(chunk, cols + (c + 2) * tile);
        s3 += a[c + 3] * att_load(chunk, cols + (c + 3) * tile);
    }
    return (s0 + s1) + (s2 + s3);
}

/* a[c] = x[position p, head column c] for c < HD; 0 past hd or when !valid. */
ATT_INLINE void att_load_row(const int HD, float *a, __global const float *x, const int at,
                             const int hd, const bool valid)
{
    for (int c = 0; c < HD; c++)
        a[c] = valid && c < hd ? x[at + c] : 0.0f;
}

/* x[position, head column c] = acc[c] for c < hd. */
ATT_INLINE void att_store_row(const int HD, __global float *x, const int at, const int hd,
                              const attv *acc, const float factor)
{
    float row[ATT_HD_MAX];
    for (int dc = 0; dc < HD / ATT_VW; dc++)
        att_store(acc[dc] * factor, dc, row);
    for (int c = 0; c < hd; c++)
        x[at + c] = row[c];
}

/* to[p0 + r, head columns] = from[the same] for the tile's positions below T. */
ATT_INLINE void att_copy_tile(__global float *to, __global const float *from, const int head,
                              const int p0, const int T, const int d, const int hd,
                              const int tile)
{
    for (int e = get_local_id(0); e < tile * hd; e += tile) {
        const int r = e / hd, c = e - r * hd;
        if (p0 + r < T)
            to[head + (p0 + r) * d + c] = from[head + (p0 + r) * d + c];
    }
}

/* ---- forward ----
 * y (B, T, d): the output; q, k, v (B, T, d); saved: the block the backward
 * reads (below), filled here: this group's tile of q, k, v and o, and lse.
 * Groups: (query tiles, H, B), tile work-items each; the heaviest query tiles
 * (last positions) go first. kt: N x tile, vs: tile x N. */
ATT_INLINE void att_forward(const int HD, __global float *y, __global float *saved, const int n,
                            __global const float *q, __global const float *k,
                            __global const float *v, const int T, const int H, const int hd,
                            const int tile, const float scale, __local float *kt,
                            __local float *vs)
{
    const int qt = get_num_groups(0) - 1 - get_group_id(0);
    const int h = get_group_id(1), b = get_group_id(2);
    const int d = H * hd, head = b * T * d + h * hd;
    const int i = qt * tile + get_local_id(0);
    const bool row = i < T;
    /* Copies, not clEnqueueCopyBuffer: every (tile, head) is one group's. */
    att_copy_tile(saved, q, head, qt * tile, T, d, hd, tile);
    att_copy_tile(saved + n, k, head, qt * tile, T, d, hd, tile);
    att_copy_tile(saved + 2 * n, v, head, qt * tile, T, d, hd, tile);

    float qr[ATT_HD_MAX], p[ATT_TILE_MAX];
    att_load_row(HD, qr, q, head + i * d, hd, row);
    attv acc[ATT_HD_MAX / ATT_VW];
    for (int dc = 0; dc < HD / ATT_VW; dc++)
        acc[dc] = 0.0f;
    float m = -INFINITY, l = 0.0f;

    for (int j0 = 0; j0 <= qt * tile; j0 += tile) {
        barrier(CLK_LOCAL_MEM_FENCE); /* every work-item is done with the last tile */
        att_stage_cols(HD, kt, k, head, j0, T, d, hd, tile);
        att_stage_rows(HD, vs, v, head, j0, T, d, hd, tile);
        barrier(CLK_LOCAL_MEM_FENCE);
        if (row && j0 <= i) {
            const int keys = min(tile, i - j0 + 1); /* keys j0 .. i of this tile */
            const int chunks = (keys + ATT_VW - 1) / ATT_VW;
            float tile_max = -INFINITY;
            for (int ch = 0; ch < chunks; ch++) {
                attv s = scale * att_dot_lanes(HD, qr, kt, tile, ch);
                const atti j = (atti)(j0 + ch * ATT_VW) + ATT_LANES;
                s = select(s, (attv)(-INFINITY), j > (atti)i);
                tile_max = fmax(tile_max, att_max_lanes(s));
                att_store(s, ch, p);
            }
            /* Key j0 <= i is in the tile, so m_new is finite; exp(-inf) = 0
             * the first time and for masked keys. */
            const float m_new = fmax(m, tile_max), alpha = exp(m - m_new);
            float sum = 0.0f;
            for (int ch = 0; ch < chunks; ch++) {
                const attv e = exp(att_load(ch, p) - m_new);
                sum += att_sum_lanes(e);
                att_store(e, ch, p);
            }
            l = l * alpha + sum;
            m = m_new;
            for (int dc = 0; dc < HD / ATT_VW; dc++)
                acc[dc] *= alpha;
            for (int j = 0; j < keys; j++) {
                const float pj = p[j];
                for (int dc = 0; dc < HD / ATT_VW; dc++)
                    acc[dc] += pj * att_load(dc, vs + j * HD);
            }
        }
    }
    if (row) {
        att_store_row(HD, y, head + i * d, hd, acc, 1.0f / l);
        att_store_row(HD, saved + 3 * n, head + i * d, hd, acc, 1.0f / l);
        saved[4 * n + (b * H + h) * T + i] = m + log(l);
    }
}

/* ---- backward ---- */

/* The saved block of the forward (n = B*T*d floats per tensor):
 *   q [0, n)  k [n, 2n)  v [2n, 3n)  o [3n, 4n)  lse [4n, 4n + B*H*T) */

/* delta (B, H, T): delta[b, h, t] = dy . o over head h of row (b, t); dy
 * (B, T, d), o in saved. One work-item per (row, head): B*T*H of them. */
__kernel void attention_fused_backward_delta(__global float *delta, __global const float *dy,
                                             __global const float *saved, const int n,
                                             const int rows, const int T, const int H,
                                             const int hd)
{
    const int g = get_global_id(0);
    if (g >= rows * H)
        return;
    const int r = g / H, h = g - r * H, b = r / T, t = r - b * T;
    __global const float *x = dy + g * hd, *o = saved + 3 * n + g * hd;
    float sum = 0.0f;
    for (int c = 0; c < hd; c++)
        sum += x[c] * o[c];
    delta[(b * H + h) * T + t] = sum;
}

/* dk, dv (B, T, d): the gradients of the keys and values; q, k, v, dy
 * (B, T, d); lse (forward) and delta (B, H, T).
 * Groups: (key tiles, H, B), tile work-items each; key tile 0 (the most
 * queries) goes first. Local: qs, dys tile x N; qc, dyc N x tile (lse and
 * delta are read from global memory, 16 queries at a time: with them in
 * local memory the tiles of head dim 128 would not fit in 32 KiB). */
ATT_INLINE void att_backward_kv(const int HD, __global float *dk, __global float *dv,
                                __global const float *q, __global const float *k,
                                __global const float *v, __global const float *dy,
                                __global const float *lse, __global const float *delta,
                                const int T, const int H, const int hd, const int tile,
                                const float scale, __local float *qs, __local float *qc,
                                __local float *dys, __local float *dyc)
{
    const int kt = get_group_id(0), h = get_group_id(1), b = get_group_id(2);
    const int d = H * hd, head = b * T * d + h * hd, stats = (b * H + h) * T;
    const int j = kt * tile + get_local_id(0);
    const bool key = j < T;

    float kr[ATT_HD_MAX], vr[ATT_HD_MAX], p[ATT_TILE_MAX], ds[ATT_TILE_MAX];
    att_load_row(HD, kr, k, head + j * d, hd, key);
    att_load_row(HD, vr, v, head + j * d, hd, key);
    attv dk_acc[ATT_HD_MAX / ATT_VW], dv_acc[ATT_HD_MAX / ATT_VW];
    for (int dc = 0; dc < HD / ATT_VW; dc++)
        dk_acc[dc] = dv_acc[dc] = 0.0f;

    for (int i0 = kt * tile; i0 < T; i0 += tile) {
        barrier(CLK_LOCAL_MEM_FENCE);
        att_stage_rows(HD, qs, q, head, i0, T, d, hd, tile);
        att_stage_cols(HD, qc, q, head, i0, T, d, hd, tile);
        att_stage_rows(HD, dys, dy, head, i0, T, d, hd, tile);
        att_stage_cols(HD, dyc, dy, head, i0, T, d, hd, tile);
        barrier(CLK_LOCAL_MEM_FENCE);
        if (key) {
            /* Queries i0 + first .. i0 + last - 1 attend to key j. */
            const int first = max(0, j - i0), last = min(tile, T - i0);
            for (int ch = first / ATT_VW; ch * ATT_VW < last; ch++) {
                const int i = i0 + ch * ATT_VW;
                const atti lane = (atti)i + ATT_LANES;
                const atti masked = lane < (atti)j || lane >= (atti)T;
                const attv s = scale * att_dot_lanes(HD, kr, qc, tile, ch);
                const attv lse_i = att_load_lanes(lse, stats + i, T - i);
                const attv pc = select(exp(s - lse_i), (attv)0.0f, masked);
                const attv dp = att_dot_lanes(HD, vr, dyc, tile, ch);
                att_store(pc, ch, p);
                att_store(pc * (dp - att_load_lanes(delta, stats + i, T - i)), ch, ds);
            }
            for (int r = first; r < last; r++) {
                const float pr = p[r], dsr = ds[r];
                for (int dc = 0; dc < HD / ATT_VW; dc++) {
                    dv_acc[dc] += pr * att_load(dc, dys + r * HD);
                    dk_acc[dc] += dsr * att_load(dc, qs + r * HD);
                }
            }
        }
    }
    if (key) {
        att_store_row(HD, dv, head + j * d, hd, dv_acc, 1.0f);
        att_store_row(HD, dk, head + j * d, hd, dk_acc, scale);
    }
}

/* dq (B, T, d): the gradient of the queries; the rest as in
 * att_backward_kv. Groups: (query tiles, H, B), heaviest first. Local: ks
 * tile x N; kc, vc N x tile. */
ATT_INLINE void att_backward_q(const int HD, __global float *dq, __global const float *q,
                               __global const float *k, __global const float *v,
                               __global const float *dy, __global const float *lse,
                               __global const float *delta, const int T, const int H, const int hd,
                               const int tile, const float scale, __local float *ks,
                               __local float *kc, __local float *vc)
{
    const int qt = get_num_groups(0) - 1 - get_group_id(0);
    const int h = get_group_id(1), b = get_group_id(2);
    const int d = H * hd, head = b * T * d + h * hd;
    const int i = qt * tile + get_local_id(0);
    const bool row = i < T;

    float qr[ATT_HD_MAX], dyr[ATT_HD_MAX], ds[ATT_TILE_MAX];
    att_load_row(HD, qr, q, head + i * d, hd, row);
    att_load_row(HD, dyr, dy, head + i * d, hd, row);
    const int stat = (b * H + h) * T + i;
    const float lse_i = row ? lse[stat] : 0.0f, delta_i = row ? delta[stat] : 0.0f;
    attv acc[ATT_HD_MAX / ATT_VW];
    for (int dc = 0; dc < HD / ATT_VW; dc++)
        acc[dc] = 0.0f;

    for (int j0 = 0; j0 <= qt * tile; j0 += tile) {
        barrier(CLK_LOCAL_MEM_FENCE);
        att_stage_rows(HD, ks, k, head, j0, T, d, hd, tile);
        att_stage_cols(HD, kc, k, head, j0, T, d, hd, tile);
        att_stage_cols(HD, vc, v, head, j0, T, d, hd, tile);
        barrier(CLK_LOCAL_MEM_FENCE);
        if (row && j0 <= i) {
            const int keys = min(tile, i - j0 + 1);
            for (int ch = 0; ch * ATT_VW < keys; ch++) {
                const atti j = (atti)(j0 + ch * ATT_VW) + ATT_LANES;
                const attv s = scale * att_dot_lanes(HD, qr, kc, tile, ch);
                const attv pc = select(exp(s - lse_i), (attv)0.0f, j > (atti)i);
                const attv dp = att_dot_lanes(HD, dyr, vc, tile, ch);
                att_store(pc * (dp - delta_i), ch, ds);
            }
            for (int j = 0; j < keys; j++) {
                const float dsj = ds[j];
                for (int dc = 0; dc < HD / ATT_VW; dc++)
                    acc[dc] += dsj * att_load(dc, ks + j * HD);
            }
        }
    }
    if (row)
        att_store_row(HD, dq, head + i * d, hd, acc, scale);
}

/* The kernels of one head-dim capacity. saved: the block above, n floats
 * per tensor; delta (B, H, T) from attention_fused_backward_delta. */
#define ATT_KERNELS(HD)                                                                        \
    __kernel void attention_fused_forward_hd##HD(                                              \
        __global float *y, __global float *saved, const int n, __global const float *q,        \
        __global const float *k, __global const float *v, const int T, const int H,            \
        const int hd, const int tile, const float scale, __local float *kt, __local float *vs) \
    {                                                                                          \
        att_forward(HD, y, saved, n, q, k, v, T, H, hd, tile, scale, kt, vs);                  \
    }                                                                                          \
    __kernel void attention_fused_backward_kv_hd##HD(                                          \
        __global float *dk, __global float *dv, __global const float *dy,                      \
        __global const float *saved, const int n, __global const float *delta, const int T,    \
        const int H, const int hd, const int tile, const float scale, __local float *qs,       \
        __local float *qc, __local float *dys, __local float *dyc)                             \
    {                                                                                          \
        att_backward_kv(HD, dk, dv, saved, saved + n, saved + 2 * n, dy, saved + 4 * n, delta, \
                        T, H, hd, tile, scale, qs, qc, dys, dyc);                              \
    }                                                                                          \
    __kernel void attention_fused_backward_q_hd##HD(                                           \
        __global float *dq, __global const float *dy, __global const float *saved,             \
        const int n, __global const float *delta, const int T, const int H, const int hd,      \
        const int tile, const float scale, __local float *ks, __local float *kc,               \
        __local float *vc)                                                                     \
    {                                                                                          \
        att_backward_q(HD, dq, saved, saved + n, saved + 2 * n, dy, saved + 4 * n, delta, T,   \
                       H, hd, tile, scale, ks, kc, vc);                                        \
    }

ATT_KERNELS(16)
ATT_KERNELS(32)
ATT_KERNELS(64)
ATT_KERNELS(128)
