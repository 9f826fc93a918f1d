/* The collectives of host/base/comm.c, run under mpirun with any number of
 * ranks (tests/mpi_train.sh starts it with 1, 2 and 3): sums are checked bit
 * for bit against the rank-order sum each rank computes itself from every
 * rank's (seeded) values, the shard sums (1 to 3 shards per rank) against
 * the shard-order sum; gather, gatherv, broadcast and any against their
 * definitions; the sleeping barrier and broadcast (duo_comm_wait_*) deliver
 * the root's bytes and, while the root works alone, leave the waiting ranks
 * nearly idle (their CPU time well under the wait's wall time). Exit 0 only
 * when every check passed on this rank. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/comm.h"
#include "base/rng.h"

static int failures;

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "rank %d: FAIL %s\n", duo_comm_rank(), what);
        failures++;
    }
}

static double seconds_of(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The sleeping waits: `root` sleeps `work_s` (working alone) before it joins;
 * the others wait in duo_comm_wait_barrier, then in duo_comm_wait_broadcast
 * of `n` bytes. Every rank checks the bytes; a waiting rank checks it used
 * under a fifth of the wait in CPU time (a rank polling in MPI uses all of
 * its core, or its share of a loaded machine). */
static void check_sleeping_waits(int root, double work_s, size_t n)
{
    int rank = duo_comm_rank(), size = duo_comm_size();
    unsigned char *buf = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        buf[i] = rank == root ? (unsigned char)(i * 7u + (unsigned)root) : 0xee;
    double wall0 = seconds_of(CLOCK_MONOTONIC), cpu0 = seconds_of(CLOCK_PROCESS_CPUTIME_ID);
    if (rank == root) {
        struct timespec work = {.tv_sec = (time_t)work_s,
                                .tv_nsec = (long)((work_s - (double)(time_t)work_s) * 1e9)};
        nanosleep(&work, NULL);
    }
    check(duo_comm_wait_barrier() == DUO_OK, "wait_barrier status");
    if (rank == root)
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = (long)(work_s * 0.5e9)}, NULL);
    check(duo_comm_wait_broadcast(buf, n, root) == DUO_OK, "wait_broadcast status");
    double wall = seconds_of(CLOCK_MONOTONIC) - wall0;
    double cpu = seconds_of(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += buf[i] != (unsigned char)(i * 7u + (unsigned)root);
    char what[160];
    snprintf(what, sizeof what, "wait_broadcast of %zu bytes from rank %d: %zu wrong", n, root,
             bad);
    check(bad == 0, what);
    if (size > 1 && rank != root && work_s > 0) {
        snprintf(what, sizeof what, "waiting %.2f s for rank %d used %.3f s of CPU (at most a fifth)",
                 wall, root, cpu);
        check(wall >= work_s && cpu < 0.2 * wall, what);
        printf("rank %d: waited %.2f s for rank %d, %.3f s of CPU\n", rank, wall, root, cpu);
    }
    free(buf);
}

/* Rank r's value at i: wide magnitudes, so the order of the sum shows in the bits. */
static float value_of(int r, size_t i)
{
    duo_rng rng = duo_rng_seeded((uint64_t)r * 1000003u + i);
    float u = duo_rng_uniform(&rng);
    return (u - 0.5f) * powf(10.0f, (float)((i + (size_t)r) % 9) - 4.0f);
}

int main(int argc, char **argv)
{
    if (duo_comm_init(&argc, &argv) != DUO_OK) {
        fprintf(stderr, "duo_comm_init: %s\n", duo_last_error());
        return 1;
    }
    int rank = duo_comm_rank(), size = duo_comm_size();
    const size_t sizes[] = {0, 1, 3, 7, 1000, 100003};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        float *f = malloc((n + 1) * sizeof *f);
        double *d = malloc((n + 1) * sizeof *d);
        long long *l = malloc((n + 1) * sizeof *l);
        for (size_t i = 0; i < n; i++) {
            f[i] = value_of(rank, i);
            d[i] = (double)value_of(rank, i) * 1.0000001;
            l[i] = (long long)i * (rank + 1);
        }
        check(duo_comm_sum_floats(f, n) == DUO_OK, "sum_floats status");
        check(duo_comm_sum_doubles(d, n) == DUO_OK, "sum_doubles status");
        check(duo_comm_sum_longs(l, n) == DUO_OK, "sum_longs status");
        size_t bad_f = 0, bad_d = 0, bad_l = 0;
        for (size_t i = 0; i < n; i++) {
            float wf = value_of(0, i);
            double wd = (double)value_of(0, i) * 1.0000001;
            for (int r = 1; r < size; r++) {
                wf += value_of(r, i);
                wd += (double)value_of(r, i) * 1.0000001;
            }
            bad_f += memcmp(&wf, &f[i], sizeof wf) != 0;
            bad_d += memcmp(&wd, &d[i], sizeof wd) != 0;
            bad_l += l[i] != (long long)i * size * (size + 1) / 2;
        }
        char what[96];
        snprintf(what, sizeof what, "sum of %zu floats in rank order (%zu differ)", n, bad_f);
        check(bad_f == 0, what);
        snprintf(what, sizeof what, "sum of %zu doubles in rank order (%zu differ)", n, bad_d);
        check(bad_d == 0, what);
        snprintf(what, sizeof what, "sum of %zu longs (%zu differ)", n, bad_l);
        check(bad_l == 0, what);
        free(f);
        free(d);
        free(l);
    }

    int mine[3] = {rank, rank * 10, -rank};
    int *all = calloc((size_t)size * 3, sizeof *all);
    check(duo_comm_gather(mine, sizeof mine, rank == 0 ? all : NULL, 0) == DUO_OK, "gather");
    if (rank == 0)
        for (int r = 0; r < size; r++)
            check(all[3 * r] == r && all[3 * r + 1] == 10 * r && all[3 * r + 2] == -r,
                  "gather: piece in rank order");

    /* gatherv: rank r sends r+1 bytes of value r; root learns the counts first. */
    size_t my_bytes = (size_t)rank + 1;
    size_t *counts = calloc((size_t)size, sizeof *counts);
    check(duo_comm_gather(&my_bytes, sizeof my_bytes, counts, 0) == DUO_OK, "gather counts");
    unsigned char piece[64];
    memset(piece, rank, sizeof piece);
    unsigned char *joined = calloc((size_t)size * ((size_t)size + 1), 1);
    check(duo_comm_gatherv(piece, my_bytes, joined, counts, 0) == DUO_OK, "gatherv");
    if (rank == 0) {
        size_t at = 0;
        for (int r = 0; r < size; r++)
            for (int j = 0; j <= r; j++)
                check(joined[at++] == r, "gatherv: bytes of rank r in order");
    }

    char text[32] = "";
    if (rank == size - 1)
        snprintf(text, sizeof text, "from %d", rank);
    check(duo_comm_broadcast(text, sizeof text, size - 1) == DUO_OK, "broadcast");
    char want[32];
    snprintf(want, sizeof want, "from %d", size - 1);
    check(strcmp(text, want) == 0, "broadcast: root's bytes everywhere");

    bool any = true;
    check(duo_comm_any(false, &any) == DUO_OK && !any, "any(false everywhere) is false");
    check(duo_comm_any(rank == size - 1, &any) == DUO_OK && any, "any(one rank) is true");
    check(duo_comm_barrier() == DUO_OK, "barrier");
    check_sleeping_waits(0, 0.6, 1000);
    check_sleeping_waits(size - 1, 0.2, 3000001);
    check_sleeping_waits(0, 0.0, 0);

    duo_comm_stats stats;
    duo_comm_get_stats(&stats);
    if (size > 1)
        check(stats.sum_calls == 10 && stats.sum_bytes > 0, "stats count the float/double sums");

    /* Shard sums: rank r holds shards r * local + j at buf + j * stride. */
    const size_t shard_sizes[] = {0, 1, 7, 1000, 100003};
    for (int local = 1; local <= 3; local++)
        for (size_t k = 0; k < sizeof shard_sizes / sizeof shard_sizes[0]; k++) {
            size_t n = shard_sizes[k], stride = n + 5;
            float *buf = malloc((stride * (size_t)local + 1) * sizeof *buf);
            for (int j = 0; j < local; j++)
                for (size_t i = 0; i < n; i++)
                    buf[(size_t)j * stride + i] = value_of(rank * local + j, i);
            check(duo_comm_sum_shards(buf, stride, local, n) == DUO_OK, "sum_shards status");
            size_t bad = 0;
            for (size_t i = 0; i < n; i++) {
                float want = value_of(0, i);
                for (int g = 1; g < size * local; g++)
                    want += value_of(g, i);
                bad += memcmp(&want, &buf[i], sizeof want) != 0;
            }
            char what[128];
            snprintf(what, sizeof what, "sum of %d shards of %zu floats in shard order (%zu differ)",
                     size * local, n, bad);
            check(bad == 0, what);
            free(buf);
        }

    bool failed_anywhere = false;
    duo_comm_any(failures > 0, &failed_anywhere);
    if (rank == 0)
        printf("mpi_comm_check: %d ranks: %s\n", size, failed_anywhere ? "FAILED" : "all passed");
    free(all);
    free(counts);
    free(joined);
    duo_comm_finalize();
    return failed_anywhere ? 1 : 0;
}
