/* Stages spread over ranks: ranges, agreement, gathers (see spread.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/comm.h"
#include "base/error.h"
#include "spread.h"

duo_spread duo_spread_all(size_t n) { return (duo_spread){0, n}; }

duo_spread duo_spread_part(size_t offset, size_t n, size_t total)
{
    size_t rank = (size_t)duo_comm_rank(), size = (size_t)duo_comm_size();
    if (size <= 1)
        return (duo_spread){0, n};
    size_t lo = total * rank / size, hi = total * (rank + 1) / size;
    size_t a = lo > offset ? lo : offset, b = hi < offset + n ? hi : offset + n;
    if (b <= a)
        return (duo_spread){0, 0};
    return (duo_spread){a - offset, b - a};
}

bool duo_spread_root(void) { return duo_comm_rank() == 0; }

duo_status duo_spread_agree(duo_status mine)
{
    if (duo_comm_size() <= 1)
        return mine;
    bool any = false;
    duo_status st = duo_comm_any(mine != DUO_OK, &any);
    if (mine != DUO_OK)
        return mine;
    if (st != DUO_OK)
        return st;
    if (any)
        return duo_fail(DUO_ERR_IO, "another rank failed (its error is on its standard error); "
                        "rank %d stopped with it", duo_comm_rank());
    return DUO_OK;
}

duo_status duo_spread_gather(void *array, size_t elem, duo_spread mine)
{
    int size = duo_comm_size();
    if (size <= 1)
        return DUO_OK;
    bool root = duo_spread_root();
    uint64_t piece[2] = {mine.first, mine.count}, *pieces = NULL;
    size_t *counts = NULL;
    uint8_t *recv = NULL;
    if (root) {
        pieces = malloc((size_t)size * sizeof piece);
        counts = malloc((size_t)size * sizeof *counts);
        if (!pieces || !counts) {
            free(pieces);
            free(counts);
            pieces = NULL;
            counts = NULL;
        }
    }
    /* Every rank takes part in every collective, also after an error here,
     * so that none waits for another. */
    duo_status st = duo_comm_gather(piece, sizeof piece, pieces, 0);
    bool bad = root && (!pieces || !counts);
    size_t total = 0, start = 0, next = 0;
    bool started = false;
    for (int r = 0; root && st == DUO_OK && !bad && r < size; r++) {
        size_t first = (size_t)pieces[2 * r], count = (size_t)pieces[2 * r + 1];
        counts[r] = count * elem;
        total += counts[r];
        if (!count)
            continue; /* an empty piece may say any first */
        if (!started)
            start = next = first;
        started = true;
        bad = first != next;
        next = first + count;
    }
    if (root && !bad && total) {
        recv = malloc(total);
        bad = recv == NULL;
    }
    duo_status agreed = duo_spread_agree(st != DUO_OK ? st
                                         : bad ? duo_fail(DUO_ERR_INTERNAL, "spread gather: out of "
                                                          "memory or pieces that do not follow each "
                                                          "other on rank 0")
                                               : DUO_OK);
    if (agreed == DUO_OK)
        agreed = duo_comm_gatherv((uint8_t *)array + mine.first * elem, mine.count * elem, recv,
                                  counts, 0);
    if (agreed == DUO_OK && root && total)
        memcpy((uint8_t *)array + start * elem, recv, total);
    free(recv);
    free(pieces);
    free(counts);
    return agreed;
}

duo_status duo_spread_share_result(duo_status root_status, void *result, size_t bytes)
{
    if (duo_comm_size() <= 1)
        return root_status;
    /* The status and rank 0's message, then the result. */
    struct {
        int32_t status;
        char message[1024];
    } head = {.status = (int32_t)root_status};
    bool root = duo_spread_root();
    if (root && root_status != DUO_OK)
        snprintf(head.message, sizeof head.message, "%s", duo_last_error());
    /* The other ranks may wait here long while rank 0 works alone (a stage
     * on rank 0, a router it trains alone): they sleep in the wait. */
    duo_status st = duo_comm_wait_broadcast(&head, sizeof head, 0);
    if (st == DUO_OK && head.status == DUO_OK && bytes)
        st = duo_comm_broadcast(result, bytes, 0);
    if (root)
        return st != DUO_OK && root_status == DUO_OK ? st : root_status;
    if (st != DUO_OK)
        return st;
    if (head.status != DUO_OK)
        return duo_fail(DUO_ERR_IO, "rank 0 failed: %s", head.message);
    return DUO_OK;
}
