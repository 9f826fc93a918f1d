/* Stages spread over ranks (mpirun -np N duocl eval|oracle|...): the work
 * items of a stage (batches of validation windows, over all its domains in
 * order) are cut into one contiguous range per rank, each rank computes its
 * range, and the results come back to rank 0 in item order, where the same
 * reduction as a single process runs on them, so the numbers are the same
 * bits. Rank 0 alone writes files. With one rank every call here is the
 * identity and costs nothing.
 *
 * The items must be whole batches of the single-process run (same batch
 * size, same window boundaries): a batch then runs the same kernels on the
 * same data on every rank, and its per-token results are the same bits. */
#ifndef DUOCL_HOST_SPREAD_H
#define DUOCL_HOST_SPREAD_H

#include <stdbool.h>
#include <stddef.h>

#include "duocl/status.h"

/* Items [first, first + count) of a list. */
typedef struct duo_spread {
    size_t first, count;
} duo_spread;

/* The whole list of n items (what one rank does alone). */
duo_spread duo_spread_all(size_t n);

/* This rank's share of the part [offset, offset + n) of a list of `total`
 * items cut into one contiguous range per rank (rank r holds
 * [total*r/size, total*(r+1)/size)), relative to the part: an empty range
 * when the rank holds none of it. The ranks' shares of a part, in rank
 * order, tile it. */
duo_spread duo_spread_part(size_t offset, size_t n, size_t total);

/* True on rank 0 (the one that reduces and writes). */
bool duo_spread_root(void);

/* Collective: every rank passes its own status; if any failed, every rank
 * returns an error (its own, or DUO_ERR_IO saying another rank failed), so
 * no rank waits in a later collective for one that gave up. */
duo_status duo_spread_agree(duo_status mine);

/* Collective: rank r's piece of an array of elem-byte elements, elements
 * [mine.first, mine.first + mine.count) of `array`, comes to rank 0 into the
 * same place of its `array`. The pieces in rank order must be contiguous
 * (they are when they come from duo_spread_part). Other ranks' arrays are
 * not changed. */
duo_status duo_spread_gather(void *array, size_t elem, duo_spread mine);

/* Collective: rank 0's status and `bytes` of *result go to every rank, which
 * returns rank 0's status (an error there is DUO_ERR_IO elsewhere, saying
 * rank 0 failed). Used after rank 0 wrote the files, so that every rank
 * returns the same summary, and after work rank 0 does alone: the other
 * ranks sleep while they wait (duo_comm_wait_broadcast). */
duo_status duo_spread_share_result(duo_status root_status, void *result, size_t bytes);

#endif
