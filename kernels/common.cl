/* Shared by every kernel program: the host puts this file in front of each
 * other .cl file of kernels/ before compiling it (host/device/program.c), so
 * those files use what is defined here without an #include. It is not a
 * program of its own.
 *
 * The one work-group reduction. Every kernel that combines the values of a
 * work-group's items into one (a row's maximum or sum, a block of partial
 * sums) calls it, so the order of the additions, and with it the bits of the
 * result, is fixed in one place.
 *
 *   float group_sum_float(__local float *scratch, float value)   sum
 *   float group_max_float(__local float *scratch, float value)   maximum (fmax: a NaN loses)
 *   int   group_sum_int  (__local int   *scratch, int   value)   sum
 *   ulong group_sum_ulong(__local ulong *scratch, ulong value)   sum
 *
 * Contract:
 *   - a 1-D work-group of exactly DUO_WG_REDUCE items (a power of two; the
 *     host's profile sizes are, and the kernels say so with
 *     reqd_work_group_size(DUO_WG_REDUCE, 1, 1));
 *   - scratch: DUO_WG_REDUCE entries of __local memory;
 *   - every work-item of the group calls it, with its own value (it holds
 *     barriers, so a work-item that returned early would hang the group);
 *   - every work-item gets the result, and scratch is free for reuse (the
 *     next reduction may take the same array) when it returns.
 *
 * The tree: item l stores its value in scratch[l]; then for span =
 * DUO_WG_REDUCE/2, /4, ..., 1, each item l < span does
 * scratch[l] = combine(scratch[l], scratch[l + span]), with a barrier after
 * each step. For 8 items the result is ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)),
 * always, on every device, so the same inputs give the same bits. */

#define DUO_GROUP_REDUCTION(NAME, T, COMBINE)                                  \
T NAME(__local T *scratch, const T value)                                      \
{                                                                              \
    const int lid = get_local_id(0);                                           \
    scratch[lid] = value;                                                      \
    barrier(CLK_LOCAL_MEM_FENCE);                                              \
    for (int span = DUO_WG_REDUCE / 2; span > 0; span >>= 1) {                 \
        if (lid < span)                                                        \
            scratch[lid] = COMBINE(scratch[lid], scratch[lid + span]);         \
        barrier(CLK_LOCAL_MEM_FENCE);                                          \
    }                                                                          \
    const T result = scratch[0];                                               \
    /* Everyone has read scratch[0] before a later reduction overwrites it. */ \
    barrier(CLK_LOCAL_MEM_FENCE);                                              \
    return result;                                                             \
}

#define DUO_ADD(a, b) ((a) + (b))

DUO_GROUP_REDUCTION(group_sum_float, float, DUO_ADD)
DUO_GROUP_REDUCTION(group_max_float, float, fmax)
DUO_GROUP_REDUCTION(group_sum_int, int, DUO_ADD)
DUO_GROUP_REDUCTION(group_sum_ulong, ulong, DUO_ADD)

#undef DUO_ADD
#undef DUO_GROUP_REDUCTION
