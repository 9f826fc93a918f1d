/* Masked token compaction: the tokens of each route are gathered into one
 * contiguous block, so a route's FFN GEMMs run on exactly its tokens, and the
 * results are scattered back with the residual add. Every token has exactly
 * one slot and one destination, so nothing here needs atomics, and the order
 * is stable: the same routes give the same bytes.
 *
 * Shapes: N tokens (the flattened batch, b * T + t), C channels, G = ceil(N /
 * DUO_WG_REDUCE) work-groups of the index-building kernels.
 *
 * Buffers:
 *   routes: uint8 route ids (0 SKIP, 1 SMALL, 2 BIG); the N ids of one layer
 *           start at routes[route_offset] (route_offset = l * N in the (L, N)
 *           buffer of route_generate). Ids above 2 get no slot (slot -1) and
 *           are reported through meta[6].
 *   meta:   int, 8 + 3 G entries:
 *           [0..2] count[r]   tokens routed to r = SKIP, SMALL, BIG
 *           [3..5] offset[r]  where route r starts in the index list
 *                             (offset[0] = 0, routes in id order)
 *           [6]    tokens with an invalid route id, [7] G
 *           [8 + r G + g]     after compact_count: tokens of group g routed to r;
 *                             after compact_scan: the index-list position of the
 *                             first of them (an exclusive prefix sum over the
 *                             flattened (3, G) table, which is route-major, so
 *                             it already includes offset[r]).
 *   index:  int (N): index[offset[r] + j] = t, the position of the j-th token
 *           (in increasing t) routed to r. The list of route r is the
 *           range [offset[r], offset[r] + count[r]); SMALL and BIG are adjacent,
 *           so [offset[1], N) lists every token that runs an FFN.
 *   slot:   int (N): slot[t] = the position of token t in index (index[slot[t]] = t).
 *   x, h, out, dout, dx: float (N, C) row-major, one row per token.
 *   block, dblock: float (count, C) row-major: row j belongs to the token
 *           index[offset + j].
 *
 * The row kernels take (offset, count) from the host, which has read meta's
 * counts to size the GEMMs; one work-item per element (float or float4). */

#define WG DUO_WG_REDUCE
#define META_HEADER 8

/* The three per-route counts of a group travel packed in one ulong, 16 bits per
 * route (a group has at most WG <= 65535 tokens), so one scan ranks all three. */
#define ROUTE_FIELD(packed, r) ((int)(((packed) >> (16 * (r))) & 0xffffUL))

static ulong route_flag(__global const uchar *routes, const int route_offset, const int n,
                        const int token)
{
    if (token >= n)
        return 0;
    const uint r = routes[route_offset + token];
    return r < 3 ? (ulong)1 << (16 * r) : 0;
}

/* Step 1: per-group, per-route token counts (one sum of the packed flags).
 * Global size G * WG. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void compact_count(__global int *meta, __global const uchar *routes, const int route_offset,
                   const int n)
{
    __local ulong scratch[WG];
    const int lid = get_local_id(0), g = get_group_id(0), groups = get_num_groups(0);
    const ulong flag = route_flag(routes, route_offset, n, g * WG + lid);
    const ulong packed = group_sum_ulong(scratch, flag);
    if (lid < 3)
        meta[META_HEADER + lid * groups + g] = ROUTE_FIELD(packed, lid);
}

/* Step 2: one work-group scans the (3, G) table in place (exclusive), chunk by
 * chunk with a running carry, and writes the header. Global size WG; also run
 * (alone) for n = 0, so the header is always written on the device. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void compact_scan(__global int *meta, const int groups, const int n)
{
    __local int buf[WG];
    __local int route_start[3];
    const int lid = get_local_id(0);
    const int total = 3 * groups;
    int carry = 0;
    /* With no tokens (groups = 0) the loop does not run and the header is zeros. */
    if (lid < 3)
        route_start[lid] = 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int base = 0; base < total; base += WG) {
        const int i = base + lid;
        const int v = i < total ? meta[META_HEADER + i] : 0;
        buf[lid] = v;
        barrier(CLK_LOCAL_MEM_FENCE);
        /* Hillis-Steele inclusive scan: log2(WG) steps. */
        for (int stride = 1; stride < WG; stride <<= 1) {
            const int left = lid >= stride ? buf[lid - stride] : 0;
            barrier(CLK_LOCAL_MEM_FENCE);
            buf[lid] += left;
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        const int exclusive = carry + buf[lid] - v;
        if (i < total) {
            meta[META_HEADER + i] = exclusive;
            /* Compares, not i % groups: oclgrind cannot simulate the LLVM
             * 'freeze' its optimiser puts around a division here. */
            for (int r = 0; r < 3; r++)
                if (i == r * groups)
                    route_start[r] = exclusive;
        }
        carry += buf[WG - 1];
        /* Everyone has read buf[WG - 1] before the next chunk overwrites it. */
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        for (int r = 0; r < 3; r++) {
            const int end = r < 2 ? route_start[r + 1] : carry;
            meta[r] = end - route_start[r];
            meta[3 + r] = route_start[r];
        }
        meta[6] = n - carry;
        meta[7] = groups;
    }
}

/* Step 3: each group ranks its tokens within their route (a local exclusive
 * scan of the packed flags) and writes index and slot. Global size G * WG. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void compact_index(__global int *index, __global int *slot, __global const int *meta,
                   __global const uchar *routes, const int route_offset, const int n)
{
    __local ulong buf[WG];
    const int lid = get_local_id(0), g = get_group_id(0), groups = get_num_groups(0);
    const int token = g * WG + lid;
    const ulong v = route_flag(routes, route_offset, n, token);
    buf[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = 1; stride < WG; stride <<= 1) {
        const ulong left = lid >= stride ? buf[lid - stride] : 0;
        barrier(CLK_LOCAL_MEM_FENCE);
        buf[lid] += left;
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (token >= n)
        return;
    const uint r = routes[route_offset + token];
    if (r >= 3) {
        slot[token] = -1;
        return;
    }
    const int s = meta[META_HEADER + r * groups + g] + ROUTE_FIELD(buf[lid] - v, r);
    index[s] = token;
    slot[token] = s;
}

/* Where work-item (c, j) of a row kernel works, in elements of the kernel's
 * type: *token_elem in the token's row of an (N, width) buffer (the token being
 * index[offset + j]), *block_elem in row j of a (count, width) block. False for
 * the work-items past the edge, which do nothing. */
static bool compact_element(__global const int *index, const int offset, const int count,
                            const int width, size_t *token_elem, size_t *block_elem)
{
    const int c = get_global_id(0), j = get_global_id(1);
    if (c >= width || j >= count)
        return false;
    *token_elem = (size_t)index[offset + j] * width + c;
    *block_elem = (size_t)j * width + c;
    return true;
}

/* The row kernels, written once for an element type T and instantiated twice:
 * on float (any C; `width` = C) and on float4 (names ending in 4, used when C
 * is a multiple of 4; `width` = C / 4, rows are still C floats). Moving four
 * floats per work-item is about 3x faster on PoCL. Each element is copied or
 * added on its own, so both give the same bits. Global size (width, count). */
#define COMPACT_ROW_KERNELS(T, SUFFIX)                                                        \
                                                                                              \
/* Forward, before the FFN (and backward: the block's gradient is the gather of              \
 * dout): block[j] = x[index[offset + j]]. */                                                 \
__kernel void compact_gather##SUFFIX(__global T *block, __global const T *x,                  \
                                     __global const int *index, const int offset,             \
                                     const int count, const int width)                        \
{                                                                                             \
    size_t t, b;                                                                              \
    if (compact_element(index, offset, count, width, &t, &b))                                 \
        block[b] = x[t];                                                                      \
}                                                                                             \
                                                                                              \
/* Forward, after the FFN: the residual add, out[t] = h[t] + block[j] for                     \
 * t = index[offset + j]. out may be h itself (each element is read and then                  \
 * written by the same work-item). */                                                         \
__kernel void compact_scatter_add##SUFFIX(__global T *out, __global const T *h,               \
                                          __global const T *block, __global const int *index, \
                                          const int offset, const int count, const int width) \
{                                                                                             \
    size_t t, b;                                                                              \
    if (compact_element(index, offset, count, width, &t, &b))                                 \
        out[t] = h[t] + block[b];                                                             \
}                                                                                             \
                                                                                              \
/* Forward, SKIP tokens: out[t] = h[t] for t = index[offset + j] (not needed                  \
 * when out is h). */                                                                         \
__kernel void compact_copy_rows##SUFFIX(__global T *out, __global const T *h,                 \
                                        __global const int *index, const int offset,          \
                                        const int count, const int width)                     \
{                                                                                             \
    size_t t, b;                                                                              \
    if (compact_element(index, offset, count, width, &t, &b))                                 \
        out[t] = h[t];                                                                        \
}                                                                                             \
                                                                                              \
/* Backward: the FFN input's gradient goes back to its tokens, overwriting:                   \
 * dx[t] = dblock[j] for t = index[offset + j]; other rows of dx are untouched. */            \
__kernel void compact_scatter##SUFFIX(__global T *dx, __global const T *dblock,               \
                                      __global const int *index, const int offset,            \
                                      const int count, const int width)                       \
{                                                                                             \
    size_t t, b;                                                                              \
    if (compact_element(index, offset, count, width, &t, &b))                                 \
        dx[t] = dblock[b];                                                                    \
}

COMPACT_ROW_KERNELS(float, )
COMPACT_ROW_KERNELS(float4, 4)
