/* Collectives between ranks (see include/duocl/comm.h). Every rank calls the
 * same ones in the same order with the same sizes. With one rank each is a
 * no-op or the identity. Failures return DUO_ERR_IO with a message naming
 * the MPI call (a rank that died, a network error). */
#ifndef DUOCL_HOST_COMM_H
#define DUOCL_HOST_COMM_H

#include <stdbool.h>
#include <stddef.h>

#include "duocl/comm.h"

/* In-place sum over ranks. Every rank gets the same bits: element i is
 * ((x_0 + x_1) + x_2) + ... + x_{N-1} in rank order, whatever MPI's own
 * reduction order would be (reduce-scatter by blocks, each block summed in
 * rank order by the rank that owns it, then all-gather). Counted in
 * duo_comm_get_stats. */
duo_status duo_comm_sum_floats(float *buf, size_t n);
duo_status duo_comm_sum_doubles(double *buf, size_t n);
/* The sum of size() * local gradient shards, in shard order. This rank
 * holds shards rank * local .. rank * local + local - 1, shard j of them at
 * buf + j * stride (n floats each, stride >= n). On return buf[0..n) holds,
 * on every rank, ((s_0 + s_1) + s_2) + ... + s_{S-1}, S = size() * local:
 * the same float operations whatever the number of ranks (one rank adds its
 * S shards itself; with several, each block's owner receives every rank's
 * copies and adds them in shard order). The other shards' memory is
 * clobbered. With local == 1 this is duo_comm_sum_floats. Counted in
 * duo_comm_get_stats when ranks > 1. */
duo_status duo_comm_sum_shards(float *buf, size_t stride, int local, size_t n);
/* Exact (integers). */
duo_status duo_comm_sum_longs(long long *buf, size_t n);

/* root's `bytes` bytes at buf to every rank. */
duo_status duo_comm_broadcast(void *buf, size_t bytes, int root);

/* Every rank sends `bytes` bytes; root receives size*bytes into recv in rank
 * order (recv is used on root only; NULL elsewhere is fine). */
duo_status duo_comm_gather(const void *send, size_t bytes, void *recv, int root);

/* Every rank sends its own `bytes`; on root counts[r] must be the bytes rank
 * r sends (gather them first with duo_comm_gather of a size_t when not known)
 * and recv holds their sum, pieces in rank order. counts and recv are used on
 * root only. */
duo_status duo_comm_gatherv(const void *send, size_t bytes, void *recv, const size_t *counts,
                            int root);

/* *any = logical OR of `mine` over ranks (stop flags, errors). */
duo_status duo_comm_any(bool mine, bool *any);

duo_status duo_comm_barrier(void);

/* duo_comm_barrier and duo_comm_broadcast for a rank that may wait long while
 * another rank works alone (a stage or router on rank 0): the wait sleeps
 * (MPI_Ibarrier / MPI_Ibcast tested every 1 ms, the nap doubling up to 20
 * ms) instead of polling in MPI, so a waiting rank leaves its core to the
 * working one. Adds up to a nap of latency: not for the per-step sums.
 * Every rank must call the same one (a nonblocking collective does not
 * match a blocking one). */
duo_status duo_comm_wait_barrier(void);
duo_status duo_comm_wait_broadcast(void *buf, size_t bytes, int root);

/* Records that the failure about to be returned is reached by every rank at
 * the same point (see duo_comm_failed_together). */
void duo_comm_mark_failed_together(void);

#endif
