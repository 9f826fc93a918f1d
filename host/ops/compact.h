/* Masked token compaction (kernels/compact.cl): route ids -> per-route counts
 * -> stable index lists -> gather rows into a block per route -> (GEMMs on the
 * block) -> scatter back with the residual add. Backward: the same gather
 * gives a block's gradient and a scatter returns the FFN input's gradient.
 * Every buffer is caller-owned; the layouts are described in compact.cl. */
#ifndef DUOCL_OPS_COMPACT_H
#define DUOCL_OPS_COMPACT_H

#include "duocl/routes.h"
#include "device/runtime_internal.h"

/* What the host needs to size each route's GEMMs: route r's tokens are
 * index[offset[r] .. offset[r] + count[r]), r a duo_route. */
typedef struct duo_compact_counts {
    int count[DUO_ROUTE_COUNT];
    int offset[DUO_ROUTE_COUNT];
} duo_compact_counts;

/* Fills `out` from the per-route token counts as duo_compact_index lays the
 * index list out (routes in id order, offset[SKIP] = 0): a host that knows
 * the routes gets the device's counts without reading them back. */
void duo_compact_counts_set(const int count[DUO_ROUTE_COUNT], duo_compact_counts *out);

/* Ints the meta buffer needs for n tokens (8 + 3 * ceil(n / work_group_reduce)). */
size_t duo_compact_meta_ints(const duo_runtime *rt, size_t n);

/* Builds the index lists of the n routes at routes[route_offset ..] (uint8):
 * meta (duo_compact_meta_ints ints), index (n ints) and slot (n ints) are
 * written on the device. If counts is not NULL, the counts are read back
 * (a blocking read) and a route id above 2 is an error; with NULL nothing is
 * read and the host does not wait. */
duo_status duo_compact_index(duo_runtime *rt, cl_mem routes, size_t route_offset, size_t n,
                             cl_mem meta, cl_mem index, cl_mem slot, duo_compact_counts *counts);

/* block (count, C) row j = x (N, C) row index[offset + j]. Also the backward
 * of compact_scatter_add for the block: dblock = gather of dout. */
duo_status duo_compact_gather(duo_runtime *rt, cl_mem block, cl_mem x, cl_mem index, int offset,
                              int count, size_t C);

/* out[t] = h[t] + block[j] for t = index[offset + j]; out may be h. */
duo_status duo_compact_scatter_add(duo_runtime *rt, cl_mem out, cl_mem h, cl_mem block,
                                   cl_mem index, int offset, int count, size_t C);

/* out[t] = h[t] for t = index[offset + j] (the SKIP route when out is not h). */
duo_status duo_compact_copy_rows(duo_runtime *rt, cl_mem out, cl_mem h, cl_mem index, int offset,
                                 int count, size_t C);

/* dx[t] = dblock[j] for t = index[offset + j] (overwrites those rows only). */
duo_status duo_compact_scatter(duo_runtime *rt, cl_mem dx, cl_mem dblock, cl_mem index, int offset,
                               int count, size_t C);

#endif
