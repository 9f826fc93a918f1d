/* compact.cl against its C reference, plus the properties the model relies on:
 * every token lands in exactly one route, in increasing token order; counts
 * and offsets agree; empty routes work; gather then scatter is the identity;
 * the index lists are right for N spanning many work-groups and many chunks of
 * the group-total scan; two runs give identical bytes.
 * Everything here is integer bookkeeping, copies or one float add per element
 * (the same add in the reference), so every comparison is exact (tolerance 0).
 *
 * The device buffers are allocated once, at the largest size, and every host
 * write covers a whole buffer: oclgrind 21.10's --uninitialized check sizes
 * its record of a buffer by the last host write to it (and keeps a released
 * buffer's record for the next buffer with the same id), so a partial write or
 * a reused id makes later kernel writes beyond that size look uninitialized. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duocl/routes.h"
#include "ops/compact.h"
#include "ops/routes.h"
#include "ref/compact_ref.h"
#include "testutil.h"

#define SENTINEL 777.0f /* rows a kernel must not touch keep this value */

typedef enum pattern {
    PATTERN_RANDOM,    /* each route with probability 1/3 */
    PATTERN_NO_SMALL,  /* SKIP and BIG only: an empty route in the middle */
    PATTERN_ALL_SKIP,  /* nothing runs an FFN */
    PATTERN_ALL_SMALL,
    PATTERN_ALL_BIG,
    PATTERN_COUNT
} pattern;

static const char *pattern_names[] = {"random", "no_small", "all_skip", "all_small", "all_big"};
static const char *route_names[] = {"skip", "small", "big"};

/* Device buffers shared by all cases: up to max_n tokens, max_elems floats. */
typedef struct workspace {
    size_t max_n, max_elems;
    size_t routes_bytes, float_bytes;
    unsigned char *staging;                 /* host copy of a whole buffer */
    cl_mem routes;                          /* 3 max_n uint8 (three layers of routes) */
    cl_mem meta, index, slot;               /* for max_n tokens */
    cl_mem x, h, block, out, y, zero;       /* max_elems floats */
} workspace;

static workspace ws;

static void workspace_create(test_context *t, size_t max_n, size_t max_elems)
{
    ws.max_n = max_n;
    ws.max_elems = max_elems;
    ws.routes_bytes = 3 * max_n;
    ws.float_bytes = max_elems * sizeof(float);
    ws.staging = test_malloc(ws.routes_bytes > ws.float_bytes ? ws.routes_bytes : ws.float_bytes);
    ws.routes = test_alloc(t, ws.routes_bytes);
    ws.meta = test_alloc(t, duo_compact_meta_ints(t->rt, max_n) * sizeof(int));
    ws.index = test_alloc(t, max_n * sizeof(int));
    ws.slot = test_alloc(t, max_n * sizeof(int));
    cl_mem *floats[] = {&ws.x, &ws.h, &ws.block, &ws.out, &ws.y, &ws.zero};
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        *floats[i] = test_alloc(t, ws.float_bytes);
}

static void workspace_release(void)
{
    cl_mem *all[] = {&ws.routes, &ws.meta, &ws.index, &ws.slot, &ws.x,
                     &ws.h,      &ws.block, &ws.out, &ws.y,     &ws.zero};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        duo_buffer_release(all[i]);
    free(ws.staging);
}

/* Writes bytes of host data to the start of a workspace buffer, and zeros to
 * the rest of it (one whole-buffer write, for oclgrind; see the top). */
static void upload(test_context *t, cl_mem buffer, const void *host, size_t bytes)
{
    size_t full = buffer == ws.routes ? ws.routes_bytes
                  : buffer == ws.meta || buffer == ws.index || buffer == ws.slot ? 0
                                                                                  : ws.float_bytes;
    if (full == 0 || bytes > full) {
        fprintf(stderr, "fatal: upload of %zu bytes to a buffer not meant for it\n", bytes);
        exit(2);
    }
    memcpy(ws.staging, host, bytes);
    memset(ws.staging + bytes, 0, full - bytes);
    if (!test_ok(t, "writing a buffer", duo_buffer_write(t->rt, buffer, 0, full, ws.staging)))
        exit(2);
}

static void make_routes(test_context *t, uint8_t *routes, size_t n, pattern p)
{
    for (size_t i = 0; i < n; i++) {
        switch (p) {
        case PATTERN_RANDOM: routes[i] = (uint8_t)duo_rng_below(&t->rng, 3); break;
        case PATTERN_NO_SMALL:
            routes[i] = duo_rng_below(&t->rng, 2) ? DUO_ROUTE_BIG : DUO_ROUTE_SKIP;
            break;
        case PATTERN_ALL_SKIP: routes[i] = DUO_ROUTE_SKIP; break;
        case PATTERN_ALL_SMALL: routes[i] = DUO_ROUTE_SMALL; break;
        default: routes[i] = DUO_ROUTE_BIG; break;
        }
    }
}

static void fill_value(float *x, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        x[i] = v;
}

/* Checks the index lists by their definition, not against the reference:
 * the ranges tile [0, n), each route's range holds only its own tokens in
 * increasing order, and slot inverts index (so the n entries are n distinct
 * tokens: each token lands in exactly one route). */
static bool index_properties_hold(const uint8_t *routes, size_t n, const duo_compact_counts *c,
                                  const int *index, const int *slot, char *detail, size_t size)
{
    snprintf(detail, size, "counts %d %d %d, offsets %d %d %d", c->count[0], c->count[1],
             c->count[2], c->offset[0], c->offset[1], c->offset[2]);
    if (c->offset[0] != 0 || c->offset[1] != c->count[0] ||
        c->offset[2] != c->count[0] + c->count[1] || (size_t)(c->offset[2] + c->count[2]) != n) {
        snprintf(detail, size, "counts %d %d %d offsets %d %d %d do not tile %zu tokens",
                 c->count[0], c->count[1], c->count[2], c->offset[0], c->offset[1], c->offset[2],
                 n);
        return false;
    }
    for (int r = 0; r < DUO_ROUTE_COUNT; r++)
        for (int j = 0; j < c->count[r]; j++) {
            int s = c->offset[r] + j, token = index[s];
            if (token < 0 || (size_t)token >= n || routes[token] != r || slot[token] != s ||
                (j > 0 && token <= index[s - 1])) {
                snprintf(detail, size, "route %d entry %d (slot %d) is token %d", r, j, s, token);
                return false;
            }
        }
    return true;
}

/* Runs compact_index on n host routes; fills counts and the host copies. */
static bool build_index(test_context *t, const uint8_t *routes, size_t n, const char *name,
                        duo_compact_counts *counts, int *index, int *slot)
{
    upload(t, ws.routes, routes, n);
    if (!test_ok(t, name, duo_compact_index(t->rt, ws.routes, 0, n, ws.meta, ws.index, ws.slot,
                                            counts)))
        return false;
    test_download(t, ws.index, index, n * sizeof(int));
    test_download(t, ws.slot, slot, n * sizeof(int));
    return true;
}

/* The index lists of n tokens against the reference and their definition. */
static bool check_index(test_context *t, const uint8_t *routes, size_t n, const char *label,
                        duo_compact_counts *c, int *index, int *slot)
{
    char name[128], detail[256] = "";
    snprintf(name, sizeof name, "compact_index_%s", label);
    if (!build_index(t, routes, n, name, c, index, slot))
        return false;
    int counts[3], offsets[3];
    int *want_index = test_malloc(n * sizeof(int)), *want_slot = test_malloc(n * sizeof(int));
    ref_compact_index(routes, n, counts, offsets, want_index, want_slot);
    bool same = memcmp(counts, c->count, sizeof counts) == 0 &&
                memcmp(offsets, c->offset, sizeof offsets) == 0;
    snprintf(detail, sizeof detail,
             "device counts %d %d %d offsets %d %d %d, reference %d %d %d / %d %d %d",
             c->count[0], c->count[1], c->count[2], c->offset[0], c->offset[1], c->offset[2],
             counts[0], counts[1], counts[2], offsets[0], offsets[1], offsets[2]);
    snprintf(name, sizeof name, "compact_counts_match_reference_%s", label);
    test_true(t, name, same, detail);
    snprintf(name, sizeof name, "compact_index_matches_reference_%s", label);
    same = test_same_bytes(t, name, index, want_index, n * sizeof(int)) && same;
    snprintf(name, sizeof name, "compact_slot_matches_reference_%s", label);
    same = test_same_bytes(t, name, slot, want_slot, n * sizeof(int)) && same;
    snprintf(name, sizeof name, "compact_each_token_in_one_route_stable_%s", label);
    bool hold = index_properties_hold(routes, n, c, index, slot, detail, sizeof detail);
    same = test_true(t, name, hold, detail) && same;
    free(want_index);
    free(want_slot);
    return same;
}

/* Gather, scatter-add, copy-rows and the backward scatter on one layer. */
static void check_rows(test_context *t, const uint8_t *routes, size_t n, size_t C,
                       const duo_compact_counts *c, const int *index, const char *label)
{
    size_t elems = n * C;
    float *x = test_malloc(elems * sizeof *x), *h = test_malloc(elems * sizeof *h);
    float *got = test_malloc(elems * sizeof *got), *want = test_malloc(elems * sizeof *want);
    float *block = test_malloc(elems * sizeof *block);
    test_fill(t, x, elems, -2, 2);
    test_fill(t, h, elems, -2, 2);
    upload(t, ws.x, x, elems * sizeof *x);
    upload(t, ws.h, h, elems * sizeof *h);
    char name[128];

    /* Gather per route, and of SMALL and BIG together (adjacent in the list). */
    for (int r = 0; r <= DUO_ROUTE_COUNT; r++) {
        int offset = r < 3 ? c->offset[r] : c->offset[DUO_ROUTE_SMALL];
        int count = r < 3 ? c->count[r] : c->count[DUO_ROUTE_SMALL] + c->count[DUO_ROUTE_BIG];
        snprintf(name, sizeof name, "compact_gather_%s_matches_reference_%s",
                 r < 3 ? route_names[r] : "routed", label);
        duo_status st = duo_compact_gather(t->rt, ws.block, ws.x, ws.index, offset, count, C);
        if (!test_ok(t, name, st))
            continue;
        test_download(t, ws.block, got, (size_t)count * C * sizeof *got);
        ref_compact_gather(want, x, index, offset, count, C);
        test_close(t, name, got, want, (size_t)count * C, 0, 0);
    }

    /* Forward: FFN outputs y_r per routed route, SKIP copies h; every row is written. */
    fill_value(want, elems, SENTINEL);
    upload(t, ws.out, want, elems * sizeof *want);
    bool ok = test_ok(t, "compact_copy_rows", duo_compact_copy_rows(t->rt, ws.out, ws.h, ws.index,
                                                                    c->offset[0], c->count[0], C));
    ref_compact_copy_rows(want, h, index, c->offset[0], c->count[0], C);
    for (int r = DUO_ROUTE_SMALL; r <= DUO_ROUTE_BIG; r++) {
        size_t rows = (size_t)c->count[r] * C;
        test_fill(t, block, rows, -3, 3);
        upload(t, ws.y, block, rows * sizeof *block);
        ok = test_ok(t, "compact_scatter_add",
                     duo_compact_scatter_add(t->rt, ws.out, ws.h, ws.y, ws.index, c->offset[r],
                                             c->count[r], C)) && ok;
        ref_compact_scatter_add(want, h, block, index, c->offset[r], c->count[r], C);
    }
    if (ok) {
        test_download(t, ws.out, got, elems * sizeof *got);
        snprintf(name, sizeof name, "compact_forward_residual_matches_reference_%s", label);
        test_close(t, name, got, want, elems, 0, 0);
    }

    /* Identity: gather the routed rows of x, scatter them onto h = 0. Routed
     * rows give back x, SKIP rows keep the sentinel. */
    int routed_offset = c->offset[DUO_ROUTE_SMALL];
    int routed = c->count[DUO_ROUTE_SMALL] + c->count[DUO_ROUTE_BIG];
    fill_value(got, elems, 0.0f);
    upload(t, ws.zero, got, elems * sizeof *got);
    fill_value(got, elems, SENTINEL);
    upload(t, ws.out, got, elems * sizeof *got);
    if (test_ok(t, "gather", duo_compact_gather(t->rt, ws.block, ws.x, ws.index, routed_offset,
                                                routed, C)) &&
        test_ok(t, "scatter_add", duo_compact_scatter_add(t->rt, ws.out, ws.zero, ws.block,
                                                          ws.index, routed_offset, routed, C))) {
        test_download(t, ws.out, got, elems * sizeof *got);
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < C; k++)
                want[i * C + k] = routes[i] == DUO_ROUTE_SKIP ? SENTINEL : x[i * C + k];
        snprintf(name, sizeof name, "compact_gather_then_scatter_is_identity_%s", label);
        test_close(t, name, got, want, elems, 0, 0);
    }

    /* In place, out = h (the model's usual call). */
    memcpy(want, h, elems * sizeof *want);
    upload(t, ws.out, h, elems * sizeof *h);
    test_fill(t, block, (size_t)routed * C, -3, 3);
    upload(t, ws.y, block, (size_t)routed * C * sizeof *block);
    if (test_ok(t, "scatter_add", duo_compact_scatter_add(t->rt, ws.out, ws.out, ws.y, ws.index,
                                                          routed_offset, routed, C))) {
        ref_compact_scatter_add(want, want, block, index, routed_offset, routed, C);
        test_download(t, ws.out, got, elems * sizeof *got);
        snprintf(name, sizeof name, "compact_scatter_add_in_place_matches_reference_%s", label);
        test_close(t, name, got, want, elems, 0, 0);
    }

    /* Backward: the overwriting scatter of each routed route's dblock onto
     * sentinel rows (SKIP rows keep the sentinel). */
    fill_value(want, elems, SENTINEL);
    upload(t, ws.out, want, elems * sizeof *want);
    ok = true;
    for (int r = DUO_ROUTE_SMALL; r <= DUO_ROUTE_BIG; r++) {
        size_t rows = (size_t)c->count[r] * C;
        test_fill(t, block, rows, -3, 3);
        upload(t, ws.y, block, rows * sizeof *block);
        ok = test_ok(t, "scatter", duo_compact_scatter(t->rt, ws.out, ws.y, ws.index,
                                                       c->offset[r], c->count[r], C)) &&
             ok;
        ref_compact_scatter(want, block, index, c->offset[r], c->count[r], C);
    }
    if (ok) {
        test_download(t, ws.out, got, elems * sizeof *got);
        snprintf(name, sizeof name, "compact_scatter_matches_reference_%s", label);
        test_close(t, name, got, want, elems, 0, 0);
    }
    free(x);
    free(h);
    free(got);
    free(want);
    free(block);
}

static void check_case(test_context *t, size_t n, size_t C, pattern p)
{
    uint8_t *routes = test_malloc(n);
    int *index = test_malloc(n * sizeof(int)), *slot = test_malloc(n * sizeof(int));
    make_routes(t, routes, n, p);
    char label[64];
    snprintf(label, sizeof label, "n%zu_c%zu_%s", n, C, pattern_names[p]);
    duo_compact_counts counts;
    if (check_index(t, routes, n, label, &counts, index, slot) && C > 0)
        check_rows(t, routes, n, C, &counts, index, label);
    free(routes);
    free(index);
    free(slot);
}

/* Two full runs (index lists and a gather of every row) give identical bytes. */
static void check_determinism(test_context *t, size_t n, size_t C)
{
    uint8_t *routes = test_malloc(n);
    make_routes(t, routes, n, PATTERN_RANDOM);
    float *x = test_malloc(n * C * sizeof *x), *block[2];
    int *index[2], *slot[2];
    test_fill(t, x, n * C, -1, 1);
    upload(t, ws.x, x, n * C * sizeof *x);
    duo_compact_counts counts;
    for (int run = 0; run < 2; run++) {
        block[run] = test_malloc(n * C * sizeof *x);
        index[run] = test_malloc(n * sizeof(int));
        slot[run] = test_malloc(n * sizeof(int));
        build_index(t, routes, n, "compact_index", &counts, index[run], slot[run]);
        test_ok(t, "gather", duo_compact_gather(t->rt, ws.block, ws.x, ws.index, 0, (int)n, C));
        test_download(t, ws.block, block[run], n * C * sizeof *x);
    }
    char name[96];
    snprintf(name, sizeof name, "compact_index_deterministic_n%zu", n);
    test_same_bytes(t, name, index[0], index[1], n * sizeof(int));
    snprintf(name, sizeof name, "compact_slot_deterministic_n%zu", n);
    test_same_bytes(t, name, slot[0], slot[1], n * sizeof(int));
    snprintf(name, sizeof name, "compact_gather_deterministic_n%zu_c%zu", n, C);
    test_same_bytes(t, name, block[0], block[1], n * C * sizeof *x);
    for (int run = 0; run < 2; run++) {
        free(block[run]);
        free(index[run]);
        free(slot[run]);
    }
    free(x);
    free(routes);
}

/* One layer's row of the (L, N) table route_generate fills, compacted in place
 * through route_offset. */
static void check_layer_row(test_context *t, size_t n)
{
    const int layers = 3;
    duo_route_thresholds th;
    test_ok(t, "thresholds", duo_route_thresholds_make(0.25, 0.5, 0.25, &th));
    test_ok(t, "route_generate", duo_route_generate(t->rt, ws.routes, &th, 99, 5, 0, layers, n));
    uint8_t *routes = test_malloc(layers * n);
    test_download(t, ws.routes, routes, layers * n);
    int *index = test_malloc(n * sizeof(int)), *slot = test_malloc(n * sizeof(int));
    int *want_index = test_malloc(n * sizeof(int)), *want_slot = test_malloc(n * sizeof(int));
    int counts[3], offsets[3];
    duo_compact_counts c;
    char name[96];
    snprintf(name, sizeof name, "compact_index_of_layer_row_n%zu", n);
    if (test_ok(t, name, duo_compact_index(t->rt, ws.routes, 2 * n, n, ws.meta, ws.index, ws.slot,
                                           &c))) {
        test_download(t, ws.index, index, n * sizeof(int));
        test_download(t, ws.slot, slot, n * sizeof(int));
        ref_compact_index(routes + 2 * n, n, counts, offsets, want_index, want_slot);
        bool same = memcmp(counts, c.count, sizeof counts) == 0 &&
                    memcmp(offsets, c.offset, sizeof offsets) == 0 &&
                    memcmp(index, want_index, n * sizeof(int)) == 0 &&
                    memcmp(slot, want_slot, n * sizeof(int)) == 0;
        test_true(t, name, same, "counts, offsets, index and slot of routes[2n..3n) vs reference");
    }
    free(routes);
    free(index);
    free(slot);
    free(want_index);
    free(want_slot);
}

/* Bad route ids are reported; zero tokens give zero counts. */
static void check_edges(test_context *t)
{
    duo_compact_counts c;
    memset(&c, 0x55, sizeof c);
    test_ok(t, "compact_index_of_zero_tokens",
            duo_compact_index(t->rt, ws.routes, 0, 0, ws.meta, ws.index, ws.slot, &c));
    test_true(t, "compact_zero_tokens_zero_counts",
              c.count[0] == 0 && c.count[1] == 0 && c.count[2] == 0 && c.offset[2] == 0,
              "counts and offsets all 0 for an empty batch");

    uint8_t routes[5] = {0, 1, 3, 2, 255};
    upload(t, ws.routes, routes, sizeof routes);
    duo_status st = duo_compact_index(t->rt, ws.routes, 0, 5, ws.meta, ws.index, ws.slot, &c);
    char detail[256];
    snprintf(detail, sizeof detail, "got %s: %s", duo_status_name(st), duo_last_error());
    test_true(t, "compact_invalid_route_ids_reported",
              st == DUO_ERR_INVALID_ARGUMENT && strstr(duo_last_error(), "2 of 5 route ids"),
              detail);
    duo_clear_error();
}

static void run(test_context *t)
{
    const size_t ns[] = {1, 7, 129, 1000, 4099};
    /* Multiples of 4 take the float4 kernels, 37 and 7 the float ones. */
    const size_t cs_full[] = {48, 100, 37}, cs_small[] = {48, 7};
    const size_t *cs = t->small ? cs_small : cs_full;
    size_t n_count = t->small ? 3 : 5, c_count = t->small ? 2 : 3;
    /* Index lists only, for N spanning many groups and several chunks of the
     * group-total scan (3 G > the work-group size: N > 1024 on oclgrind's 32). */
    size_t big = t->small ? 1100 : 70001;
    workspace_create(t, big, ns[n_count - 1] * 100);

    for (size_t i = 0; i < n_count; i++)
        for (size_t j = 0; j < c_count; j++)
            check_case(t, ns[i], cs[j], PATTERN_RANDOM);
    /* Empty routes and all-in-one-route, at a size with several work-groups. */
    for (int p = PATTERN_NO_SMALL; p < PATTERN_COUNT; p++)
        check_case(t, t->small ? 129 : 1000, t->small ? 16 : 48, (pattern)p);
    check_case(t, big, 0, PATTERN_RANDOM);
    check_case(t, big, 0, PATTERN_ALL_BIG);
    check_determinism(t, t->small ? 129 : 4099, t->small ? 16 : 100);
    check_layer_row(t, t->small ? 100 : 1000);
    check_edges(t);
    workspace_release();
}

int main(int argc, char **argv) { return test_main(argc, argv, "op_compact", run); }
