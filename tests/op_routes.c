/* routes.cl and host/routes.c against the reference written from the
 * specification in routes.h. Routes are integers: device, host and reference
 * must agree byte for byte (tolerance 0). The generator's statistics are
 * checked with binomial bounds: every count within 5 standard deviations (+1)
 * of its expectation, which a correct generator misses with probability about
 * 6e-7 per check (the seed changes every run and is printed). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duocl/routes.h"
#include "ops/routes.h"
#include "ref/routes_ref.h"
#include "testutil.h"

#define SIGMAS 5.0

typedef struct probabilities {
    double big, small, skip;
} probabilities;

static const probabilities settings[] = {
    {0.5, 0.5, 0.0},   /* Duo training's default */
    {0.25, 0.5, 0.25}, /* all three routes */
    {0.3, 0.3, 0.4},   /* not multiples of 2^-24: rounding of thresholds */
    {1.0, 0.0, 0.0},   /* everything BIG */
    {0.0, 0.0, 1.0},   /* everything SKIP */
};

static void check_thresholds(test_context *t)
{
    duo_route_thresholds th;
    bool ok = duo_route_thresholds_make(0.5, 0.5, 0.0, &th) == DUO_OK && th.big_end == 1u << 23 &&
              th.small_end == 1u << 24;
    ok = ok && duo_route_thresholds_make(1.0, 0.0, 0.0, &th) == DUO_OK && th.big_end == 1u << 24 &&
         th.small_end == 1u << 24;
    ok = ok && duo_route_thresholds_make(0.0, 0.0, 1.0, &th) == DUO_OK && th.big_end == 0 &&
         th.small_end == 0;
    ok = ok && duo_route_thresholds_make(0.25, 0.5, 0.25, &th) == DUO_OK &&
         th.big_end == 1u << 22 && th.small_end == 3u << 22;
    test_true(t, "route_thresholds_exact_for_dyadic_probabilities", ok, "wrong thresholds");

    const probabilities bad[] = {
        {0.5, 0.5, 0.5}, {-0.1, 0.6, 0.5}, {NAN, 0.5, 0.5}, {1.5, -0.5, 0.0}, {0.5, 0.4, 0.0}};
    bool all_rejected = true;
    char detail[512] = "";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        duo_status st = duo_route_thresholds_make(bad[i].big, bad[i].small, bad[i].skip, &th);
        if (st != DUO_ERR_INVALID_ARGUMENT || !strstr(duo_last_error(), "p_big=") ||
            !strstr(duo_last_error(), "sum to 1")) {
            all_rejected = false;
            snprintf(detail, sizeof detail, "(%g, %g, %g) gave %s: %s", bad[i].big, bad[i].small,
                     bad[i].skip, duo_status_name(st), duo_last_error());
        }
    }
    test_true(t, "route_probabilities_validated_with_message", all_rejected, detail);
    duo_route route;
    test_true(t, "route_sample_validates",
              duo_route_sample(0.6, 0.6, 0.0, 1, 2, 3, 4, &route) == DUO_ERR_INVALID_ARGUMENT,
              "duo_route_sample accepted probabilities summing to 1.2");
    duo_clear_error();
}

/* Device rows (layers, n) against the host library and the reference. */
static void check_device(test_context *t, int layers, size_t n, const probabilities *p)
{
    size_t total = (size_t)layers * n;
    uint64_t seed = duo_rng_next(&t->rng), step = duo_rng_below(&t->rng, 1000000);
    uint8_t *got = test_malloc(total), *again = test_malloc(total);
    uint8_t *host = test_malloc(total), *want = test_malloc(total);
    duo_route_thresholds th;
    char name[96];
    snprintf(name, sizeof name, "route_generate_l%d_n%zu_p%.2g_%.2g_%.2g", layers, n, p->big,
             p->small, p->skip);
    test_ok(t, name, duo_route_thresholds_make(p->big, p->small, p->skip, &th));
    cl_mem droutes = test_alloc(t, total);
    if (test_ok(t, name, duo_route_generate(t->rt, droutes, &th, seed, step, 0, layers, n)) &&
        test_ok(t, name, duo_route_generate(t->rt, droutes, &th, seed, step, 0, layers, n))) {
        test_download(t, droutes, got, total);
        test_ok(t, name, duo_route_generate(t->rt, droutes, &th, seed, step, 0, layers, n));
        test_download(t, droutes, again, total);
        for (int l = 0; l < layers; l++)
            for (size_t i = 0; i < n; i++)
                host[(size_t)l * n + i] =
                    (uint8_t)duo_route_pick(&th, seed, step, (uint32_t)l, (uint32_t)i);
        ref_route_generate(want, seed, step, 0, layers, n, p->big, p->small, p->skip);
        char check[128];
        snprintf(check, sizeof check, "%s_host_matches_reference", name);
        test_same_bytes(t, check, host, want, total);
        snprintf(check, sizeof check, "%s_device_matches_host", name);
        test_same_bytes(t, check, got, host, total);
        snprintf(check, sizeof check, "%s_deterministic", name);
        test_same_bytes(t, check, got, again, total);

        /* A later slice of layers is the same rows of the full table. */
        if (layers >= 2) {
            test_ok(t, name, duo_route_generate(t->rt, droutes, &th, seed, step, 1, layers - 1, n));
            test_download(t, droutes, again, (size_t)(layers - 1) * n);
            snprintf(check, sizeof check, "%s_first_layer_offset", name);
            test_same_bytes(t, check, again, got + n, (size_t)(layers - 1) * n);
        }
    }
    duo_buffer_release(&droutes);
    free(got);
    free(again);
    free(host);
    free(want);
}

/* Empirical frequencies of device routes, per route and for pairs of
 * adjacent layers (independence across layers). */
static void check_frequencies(test_context *t, int layers, size_t n, const probabilities *p)
{
    size_t total = (size_t)layers * n;
    uint64_t seed = duo_rng_next(&t->rng);
    uint8_t *routes = test_malloc(total);
    duo_route_thresholds th;
    char name[96], detail[256] = "";
    snprintf(name, sizeof name, "route_frequencies_within_5_sigma_p%.2g_%.2g_%.2g_n%zu", p->big,
             p->small, p->skip, total);
    test_ok(t, name, duo_route_thresholds_make(p->big, p->small, p->skip, &th));
    cl_mem droutes = test_alloc(t, total);
    if (test_ok(t, name, duo_route_generate(t->rt, droutes, &th, seed, 7, 0, layers, n))) {
        test_download(t, droutes, routes, total);
        size_t counts[3];
        ref_route_counts(routes, total, counts);
        const double want[3] = {p->skip, p->small, p->big};
        bool ok = true;
        for (int r = 0; r < 3; r++)
            ok = ok && ref_count_plausible(counts[r], total, want[r], SIGMAS);
        snprintf(detail, sizeof detail, "SKIP %zu SMALL %zu BIG %zu of %zu, expected %.0f %.0f %.0f",
                 counts[0], counts[1], counts[2], total, want[0] * (double)total,
                 want[1] * (double)total, want[2] * (double)total);
        test_true(t, name, ok, detail);

        size_t both_big = 0, pairs = (size_t)(layers - 1) * n;
        for (int l = 0; l + 1 < layers; l++)
            for (size_t i = 0; i < n; i++)
                both_big += routes[(size_t)l * n + i] == 2 && routes[(size_t)(l + 1) * n + i] == 2;
        snprintf(name, sizeof name, "route_layers_independent_p%.2g_%.2g_%.2g", p->big, p->small,
                 p->skip);
        snprintf(detail, sizeof detail, "%zu of %zu adjacent-layer pairs both BIG, expected %.1f",
                 both_big, pairs, p->big * p->big * (double)pairs);
        test_true(t, name, ref_count_plausible(both_big, pairs, p->big * p->big, SIGMAS), detail);
    }
    duo_buffer_release(&droutes);
    free(routes);
}

/* Changing any one of seed, step, layer or token must give an unrelated
 * stream: the 24-bit hash values (almost) never coincide, and routes agree
 * only as often as independent draws do (sum of p_r^2 = 0.375 here). */
static void check_streams_differ(test_context *t, size_t n)
{
    const uint64_t seed = duo_rng_next(&t->rng), step = 12345;
    const uint32_t layer = 3;
    const char *what[] = {"seed", "step", "layer", "token"};
    duo_route_thresholds th;
    test_ok(t, "thresholds", duo_route_thresholds_make(0.25, 0.5, 0.25, &th));
    for (int v = 0; v < 4; v++) {
        size_t same_hash = 0, same_route = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t token = (uint32_t)i;
            uint64_t a = duo_route_hash(seed, step, layer, token);
            uint64_t b = duo_route_hash(seed + (v == 0), step + (v == 1), layer + (v == 2),
                                        token + (v == 3));
            same_hash += (a >> 40) == (b >> 40);
            same_route += duo_route_pick(&th, seed, step, layer, token) ==
                          duo_route_pick(&th, seed + (v == 0), step + (v == 1), layer + (v == 2),
                                         token + (v == 3));
        }
        char name[64], detail[160];
        snprintf(name, sizeof name, "route_stream_changes_with_%s", what[v]);
        snprintf(detail, sizeof detail,
                 "%zu of %zu hashes and %zu routes equal (expected ~0 and %.1f)", same_hash, n,
                 same_route, 0.375 * (double)n);
        test_true(t, name, same_hash <= 2 && ref_count_plausible(same_route, n, 0.375, SIGMAS),
                  detail);
    }
}

/* Many host draws: a tighter check of the frequencies and of the hash's top
 * bits being uniform (16 equal bins; chi-square with 15 degrees of freedom
 * exceeds 57.0 with probability 8e-7). */
static void check_host_statistics(test_context *t, size_t draws)
{
    const uint64_t seed = duo_rng_next(&t->rng);
    size_t bins[16] = {0};
    for (size_t i = 0; i < draws; i++)
        bins[duo_route_hash(seed, i / 4096, (uint32_t)(i % 7), (uint32_t)(i % 4096)) >> 60]++;
    double chi2 = 0, expected = (double)draws / 16;
    for (int b = 0; b < 16; b++)
        chi2 += ((double)bins[b] - expected) * ((double)bins[b] - expected) / expected;
    char detail[96];
    snprintf(detail, sizeof detail, "chi-square %.2f, 15 degrees of freedom (limit 57.0)", chi2);
    test_true(t, "route_hash_top_bits_uniform", chi2 < 57.0, detail);

    for (size_t s = 0; s < 3; s++) {
        const probabilities *p = &settings[s];
        duo_route_thresholds th;
        test_ok(t, "thresholds", duo_route_thresholds_make(p->big, p->small, p->skip, &th));
        size_t counts[3] = {0};
        for (size_t i = 0; i < draws; i++)
            counts[duo_route_pick(&th, seed, i / 4096, 0, (uint32_t)(i % 4096))]++;
        const double want[3] = {p->skip, p->small, p->big};
        bool ok = true;
        for (int r = 0; r < 3; r++)
            ok = ok && ref_count_plausible(counts[r], draws, want[r], SIGMAS);
        char name[96];
        snprintf(name, sizeof name, "route_host_frequencies_p%.2g_%.2g_%.2g_%zu_draws", p->big,
                 p->small, p->skip, draws);
        snprintf(detail, sizeof detail, "counts SKIP %zu SMALL %zu BIG %zu", counts[0], counts[1],
                 counts[2]);
        test_true(t, name, ok, detail);
    }
}

static void run(test_context *t)
{
    check_thresholds(t);
    const struct {
        int layers;
        size_t n;
    } sizes[] = {{1, 1}, {3, 7}, {2, 129}, {6, 1000}, {2, 4099}};
    size_t size_count = t->small ? 3 : 5;
    for (size_t s = 0; s < size_count; s++)
        for (size_t p = 0; p < sizeof settings / sizeof settings[0]; p++)
            check_device(t, sizes[s].layers, sizes[s].n, &settings[p]);
    for (size_t p = 0; p < 3; p++)
        check_frequencies(t, t->small ? 2 : 8, t->small ? 512 : 4096, &settings[p]);
    check_streams_differ(t, 100000);
    check_host_statistics(t, (size_t)1 << 20);
}

int main(int argc, char **argv) { return test_main(argc, argv, "op_routes", run); }
