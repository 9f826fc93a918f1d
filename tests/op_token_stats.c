/* token_stats (kernels/loss.cl) against its C reference (double inside) at
 * awkward sizes, on hard rows (logits +-80 over V = 32768, a near one-hot row,
 * a uniform row), with masked rows, and against cross_entropy_forward's bits.
 *
 * Tolerances. Each work-item sums about V / work-group terms in sequence,
 * then a tree of log2(work-group) levels, so s = sum exp(x - max) and
 * w = sum exp(x - max)(x - max) carry a relative error of at most
 * ~(V/wg + log2 wg) float eps, typically far less.
 *   losses:   the same bytes as duo_cross_entropy_forward (same arithmetic), and
 *             atol 1e-5 + rtol 1e-6 against the reference (as op_loss)
 *   entropy:  H = log(s) - w/s, two non-negative terms (no cancellation):
 *             atol 2e-5 + rtol 2e-5
 *   max_prob: 1/s, s's relative error: atol 1e-7 + rtol 1e-5
 * Masked rows (negative target): loss exactly 0, entropy and max_prob still
 * computed (they need no label). Two launches give the same bytes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/loss.h"
#include "ref/token_stats_ref.h"
#include "testutil.h"

static float *nan_array(size_t n)
{
    float *x = test_malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = NAN;
    return x;
}

static void check_case(test_context *t, const float *logits, const int32_t *targets, size_t N,
                       size_t V, const char *tag)
{
    duo_runtime *rt = t->rt;
    float *want_loss = test_malloc(N * sizeof(float)), *want_h = test_malloc(N * sizeof(float));
    float *want_p = test_malloc(N * sizeof(float));
    float *got_loss = nan_array(N), *got_h = nan_array(N), *got_p = nan_array(N);
    float *ce = nan_array(N), *again = nan_array(3 * N);
    char name[96];
    cl_mem dlogits = test_upload(t, logits, N * V * sizeof(float));
    cl_mem dtargets = test_upload(t, targets, N * sizeof(int32_t));
    cl_mem dloss = test_alloc(t, N * sizeof(float)), dh = test_alloc(t, N * sizeof(float));
    cl_mem dp = test_alloc(t, N * sizeof(float)), dce = test_alloc(t, N * sizeof(float));

    ref_token_stats(logits, targets, want_loss, want_h, want_p, N, V);
    snprintf(name, sizeof name, "token_stats_runs_%s", tag);
    if (test_ok(t, name, duo_token_stats(rt, dlogits, dtargets, dloss, dh, dp, N, V))) {
        test_download(t, dloss, got_loss, N * sizeof(float));
        test_download(t, dh, got_h, N * sizeof(float));
        test_download(t, dp, got_p, N * sizeof(float));
        snprintf(name, sizeof name, "token_stats_loss_matches_reference_%s", tag);
        test_close(t, name, got_loss, want_loss, N, 1e-5, 1e-6);
        snprintf(name, sizeof name, "token_stats_entropy_matches_reference_%s", tag);
        test_close(t, name, got_h, want_h, N, 2e-5, 2e-5);
        snprintf(name, sizeof name, "token_stats_max_prob_matches_reference_%s", tag);
        test_close(t, name, got_p, want_p, N, 1e-7, 1e-5);
        bool masked_ok = true;
        for (size_t r = 0; r < N; r++)
            if (targets[r] < 0)
                masked_ok = masked_ok && got_loss[r] == 0.0f && isfinite(got_h[r]) &&
                            isfinite(got_p[r]);
        snprintf(name, sizeof name, "token_stats_masked_rows_loss_0_stats_written_%s", tag);
        test_true(t, name, masked_ok, masked_ok ? "masked: loss 0, entropy and max_prob finite"
                                                : "a masked row has a nonzero loss or no stats");
    }
    snprintf(name, sizeof name, "token_stats_loss_same_bytes_as_cross_entropy_%s", tag);
    if (test_ok(t, name, duo_cross_entropy_forward(rt, dlogits, dtargets, dce, N, V))) {
        test_download(t, dce, ce, N * sizeof(float));
        test_same_bytes(t, name, ce, got_loss, N * sizeof(float));
    }
    snprintf(name, sizeof name, "token_stats_deterministic_%s", tag);
    if (test_ok(t, name, duo_token_stats(rt, dlogits, dtargets, dloss, dh, dp, N, V))) {
        test_download(t, dloss, again, N * sizeof(float));
        test_download(t, dh, again + N, N * sizeof(float));
        test_download(t, dp, again + 2 * N, N * sizeof(float));
        bool same = memcmp(again, got_loss, N * sizeof(float)) == 0 &&
                    memcmp(again + N, got_h, N * sizeof(float)) == 0 &&
                    memcmp(again + 2 * N, got_p, N * sizeof(float)) == 0;
        test_true(t, name, same, same ? "same bytes" : "a second launch differs");
    }
    duo_buffer_release(&dlogits);
    duo_buffer_release(&dtargets);
    duo_buffer_release(&dloss);
    duo_buffer_release(&dh);
    duo_buffer_release(&dp);
    duo_buffer_release(&dce);
    free(want_loss);
    free(want_h);
    free(want_p);
    free(got_loss);
    free(got_h);
    free(got_p);
    free(ce);
    free(again);
}

/* Random logits in [lo, hi), about one target in five masked. */
static void check_random(test_context *t, size_t N, size_t V, float lo, float hi)
{
    float *logits = test_malloc(N * V * sizeof(float));
    int32_t *targets = test_malloc(N * sizeof(int32_t));
    test_fill(t, logits, N * V, lo, hi);
    for (size_t i = 0; i < N; i++)
        targets[i] = duo_rng_below(&t->rng, 5) == 0 ? -1 : (int32_t)duo_rng_below(&t->rng, V);
    if (N >= 2)
        targets[N - 1] = (int32_t)V - 1;
    char tag[64];
    snprintf(tag, sizeof tag, "n%zu_v%zu_pm%g", N, V, (double)hi);
    check_case(t, logits, targets, N, V, tag);
    free(logits);
    free(targets);
}

/* Row 0: +80 at one entry, -80 elsewhere (entropy ~0, max_prob 1); row 1:
 * every logit 3.25 (entropy log V, max_prob 1/V); row 2: uniform in [-80, 80),
 * masked. */
static void check_edges(test_context *t, size_t V)
{
    const size_t N = 3;
    float *logits = test_malloc(N * V * sizeof(float));
    int32_t targets[3] = {(int32_t)duo_rng_below(&t->rng, V), 0, -1};
    for (size_t i = 0; i < V; i++) {
        logits[i] = i == (size_t)targets[0] ? 80.0f : -80.0f;
        logits[V + i] = 3.25f;
    }
    test_fill(t, logits + 2 * V, V, -80, 80);
    char tag[48];
    snprintf(tag, sizeof tag, "edges_v%zu", V);
    check_case(t, logits, targets, N, V, tag);
    free(logits);
}

static void run(test_context *t)
{
    const size_t rows[] = {1, 7, 129}, widths[] = {37, 100, 4099};
    size_t row_count = t->small ? 2 : 3, width_count = t->small ? 2 : 3;
    for (size_t i = 0; i < row_count; i++)
        for (size_t j = 0; j < width_count; j++)
            check_random(t, rows[i], widths[j], -4, 4);
    check_random(t, 5, t->small ? 300 : 32768, -80, 80);
    check_edges(t, t->small ? 257 : 32768);
}

int main(int argc, char **argv) { return test_main(argc, argv, "op_token_stats", run); }
