/* loss.cl against its C reference (double inside) at awkward sizes, the
 * reference backward against central finite differences, a numerically hard
 * row (V = 32768, logits +-80), masked rows, in-place backward and determinism.
 *
 * Tolerances. The device sums exp(x - max) in float: each work-item adds about
 * V / work-group terms in sequence, then a tree of log2(work-group) levels, so
 * the sum's relative error is at most ~(V/wg + log2 wg) eps and typically far
 * less; log(sum) turns that into an absolute error of the loss. max - x[target]
 * is one float rounding, 0.5 ulp of up to 160 (7.6e-6) for logits +-80.
 *   losses:   atol 1e-5 + rtol 1e-6 (rtol covers the max - x[target] rounding)
 *   dlogits:  atol 1e-6 * scale + rtol 1e-5 (p = exp(x - m) / sum: a few ulp of exp
 *             plus the sum's relative error; p - 1 loses nothing beyond that)
 *   mean:     atol 1e-6 + rtol 1e-5 against the double mean of the device losses;
 *             the valid count must be exact
 *   reference backward vs central differences (double, h = 1e-4): atol 1e-6,
 *             rtol 1e-5 (truncation ~h^2 is 1e-8; the reference rounds to float)
 * In-place and out-of-place backward run the same arithmetic: identical bytes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/loss.h"
#include "ref/loss_ref.h"
#include "testutil.h"

/* Random targets in [0, V) with about one in five masked; fixed edge cases
 * where the row count allows: row 0 aims at 0, row 2 is masked (with PyTorch's
 * ignore_index -100), the last row aims at V - 1. */
static void make_targets(test_context *t, int32_t *targets, size_t N, size_t V)
{
    for (size_t i = 0; i < N; i++)
        targets[i] = duo_rng_below(&t->rng, 5) == 0 ? -1 : (int32_t)duo_rng_below(&t->rng, V);
    if (N >= 1)
        targets[0] = 0;
    if (N >= 3)
        targets[2] = -100;
    if (N >= 2)
        targets[N - 1] = (int32_t)V - 1;
}

static float *nan_array(size_t n)
{
    float *x = test_malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = NAN;
    return x;
}

/* Every masked row of losses (N) and dlogits (N, V) is exactly zero. */
static void check_masked_zero(test_context *t, const char *name, const int32_t *targets,
                              const float *losses, const float *dlogits, size_t N, size_t V)
{
    bool ok = true;
    for (size_t r = 0; r < N; r++) {
        if (targets[r] >= 0)
            continue;
        ok = ok && losses[r] == 0.0f;
        for (size_t i = 0; i < V; i++)
            ok = ok && dlogits[r * V + i] == 0.0f;
    }
    test_true(t, name, ok, ok ? "masked losses and gradient rows are exactly 0" : "a masked row is not 0");
}

static void check_case(test_context *t, const float *logits, const int32_t *targets, size_t N,
                       size_t V, const char *tag)
{
    duo_runtime *rt = t->rt;
    size_t nv = N * V;
    float *want_loss = test_malloc(N * sizeof(float)), *got_loss = nan_array(N);
    float *want_grad = test_malloc(nv * sizeof(float)), *got_grad = nan_array(nv);
    float *again = test_malloc(nv * sizeof(float));
    char name[96];

    cl_mem dlogits_in = test_upload(t, logits, nv * sizeof(float));
    cl_mem dtargets = test_upload(t, targets, N * sizeof(int32_t));
    cl_mem dloss = test_upload(t, got_loss, N * sizeof(float)); /* NaN: unwritten shows */
    cl_mem dgrad = test_upload(t, got_grad, nv * sizeof(float));
    size_t scratch_bytes = duo_cross_entropy_mean_scratch_bytes(rt, N);
    cl_mem scratch = test_alloc(t, scratch_bytes), result = test_alloc(t, 8);

    /* Forward. */
    ref_cross_entropy_forward(logits, targets, want_loss, N, V);
    snprintf(name, sizeof name, "cross_entropy_forward_matches_reference_%s", tag);
    if (test_ok(t, name, duo_cross_entropy_forward(rt, dlogits_in, dtargets, dloss, N, V))) {
        test_download(t, dloss, got_loss, N * sizeof(float));
        test_close(t, name, got_loss, want_loss, N, 1e-5, 1e-6);
    }

    /* Mean and count, against the double mean of the device's own losses. */
    int32_t want_count;
    float want_mean = (float)ref_cross_entropy_mean(got_loss, targets, N, &want_count);
    duo_cross_entropy_mean_result mean = {NAN, -1}, mean_again = {NAN, -1};
    snprintf(name, sizeof name, "cross_entropy_mean_matches_reference_%s", tag);
    if (test_ok(t, name, duo_cross_entropy_mean(rt, dloss, dtargets, N, scratch, result, &mean))) {
        test_close(t, name, &mean.mean, &want_mean, 1, 1e-6, 1e-5);
        char detail[64];
        snprintf(detail, sizeof detail, "got %d, want %d", (int)mean.count, (int)want_count);
        snprintf(name, sizeof name, "cross_entropy_mean_counts_valid_tokens_%s", tag);
        test_true(t, name, mean.count == want_count, detail);
    }

    /* Backward, out of place, with the usual scale 1 / valid tokens. */
    float scale = want_count > 0 ? 1.0f / (float)want_count : 1.0f;
    ref_cross_entropy_backward(logits, targets, want_grad, N, V, scale);
    snprintf(name, sizeof name, "cross_entropy_backward_matches_reference_%s", tag);
    if (test_ok(t, name, duo_cross_entropy_backward(rt, dlogits_in, dtargets, dgrad, N, V, scale))) {
        test_download(t, dgrad, got_grad, nv * sizeof(float));
        test_close(t, name, got_grad, want_grad, nv, 1e-6 * scale, 1e-5);
    }
    snprintf(name, sizeof name, "cross_entropy_masked_rows_are_zero_%s", tag);
    check_masked_zero(t, name, targets, got_loss, got_grad, N, V);

    /* Determinism: every op again, same bytes. */
    snprintf(name, sizeof name, "cross_entropy_forward_deterministic_%s", tag);
    if (test_ok(t, name, duo_cross_entropy_forward(rt, dlogits_in, dtargets, dloss, N, V))) {
        test_download(t, dloss, again, N * sizeof(float));
        test_same_bytes(t, name, again, got_loss, N * sizeof(float));
    }
    snprintf(name, sizeof name, "cross_entropy_mean_deterministic_%s", tag);
    if (test_ok(t, name, duo_cross_entropy_mean(rt, dloss, dtargets, N, scratch, result, &mean_again)))
        test_same_bytes(t, name, &mean_again, &mean, sizeof mean);
    snprintf(name, sizeof name, "cross_entropy_backward_deterministic_%s", tag);
    if (test_ok(t, name, duo_cross_entropy_backward(rt, dlogits_in, dtargets, dgrad, N, V, scale))) {
        test_download(t, dgrad, again, nv * sizeof(float));
        test_same_bytes(t, name, again, got_grad, nv * sizeof(float));
    }

    /* In place: the gradient overwrites the logits. */
    snprintf(name, sizeof name, "cross_entropy_backward_in_place_same_bytes_%s", tag);
    if (test_ok(t, name, duo_cross_entropy_backward(rt, dlogits_in, dtargets, dlogits_in, N, V, scale))) {
        test_download(t, dlogits_in, again, nv * sizeof(float));
        test_same_bytes(t, name, again, got_grad, nv * sizeof(float));
    }

    duo_buffer_release(&dlogits_in);
    duo_buffer_release(&dtargets);
    duo_buffer_release(&dloss);
    duo_buffer_release(&dgrad);
    duo_buffer_release(&scratch);
    duo_buffer_release(&result);
    free(want_loss);
    free(got_loss);
    free(want_grad);
    free(got_grad);
    free(again);
}

static void check_random(test_context *t, size_t N, size_t V)
{
    float *logits = test_malloc(N * V * sizeof(float));
    int32_t *targets = test_malloc(N * sizeof(int32_t));
    test_fill(t, logits, N * V, -4, 4);
    make_targets(t, targets, N, V);
    char tag[48];
    snprintf(tag, sizeof tag, "n%zu_v%zu", N, V);
    check_case(t, logits, targets, N, V, tag);
    free(logits);
    free(targets);
}

/* Large logits over a large vocabulary: exp(80) overflows float without the
 * max subtraction. Row 0 is uniform in [-80, 80); row 1 is -80 everywhere but
 * +80 at its target (loss ~ 32767 e^-160, i.e. 0); row 2 is masked. */
static void check_large_logits(test_context *t, size_t V)
{
    const size_t N = 3;
    float *logits = test_malloc(N * V * sizeof(float));
    int32_t targets[3] = {(int32_t)duo_rng_below(&t->rng, V), (int32_t)duo_rng_below(&t->rng, V), -1};
    test_fill(t, logits, V, -80, 80);
    for (size_t i = 0; i < V; i++)
        logits[V + i] = i == (size_t)targets[1] ? 80.0f : -80.0f;
    test_fill(t, logits + 2 * V, V, -80, 80);
    char tag[48];
    snprintf(tag, sizeof tag, "v%zu_logits_pm80", V);
    check_case(t, logits, targets, N, V, tag);
    free(logits);
}

/* A target >= V is a caller bug: its row's loss and gradient are NaN (so the
 * mean loss shows it), and the other rows are unaffected. */
static void check_target_out_of_range(test_context *t)
{
    enum { N = 2, V = 37 };
    float logits[N * V], losses[N], grad[N * V];
    int32_t targets[N] = {V, 5};
    test_fill(t, logits, N * V, -4, 4);
    cl_mem dlogits = test_upload(t, logits, sizeof logits), dtargets = test_upload(t, targets, sizeof targets);
    cl_mem dloss = test_alloc(t, sizeof losses), dgrad = test_alloc(t, sizeof grad);
    const char *name = "cross_entropy_target_out_of_range_gives_nan_row";
    if (test_ok(t, name, duo_cross_entropy_forward(t->rt, dlogits, dtargets, dloss, N, V)) &&
        test_ok(t, name, duo_cross_entropy_backward(t->rt, dlogits, dtargets, dgrad, N, V, 1.0f))) {
        test_download(t, dloss, losses, sizeof losses);
        test_download(t, dgrad, grad, sizeof grad);
        bool ok = isnan(losses[0]) && isfinite(losses[1]);
        for (size_t i = 0; i < V; i++)
            ok = ok && isnan(grad[i]) && isfinite(grad[V + i]);
        test_true(t, name, ok, ok ? "row 0 NaN, row 1 finite" : "expected NaN only in row 0");
    }
    duo_buffer_release(&dlogits);
    duo_buffer_release(&dtargets);
    duo_buffer_release(&dloss);
    duo_buffer_release(&dgrad);
}

/* The mean alone over many tokens, so the first pass has several work-groups
 * and, past 256 of them, work-items that loop (random losses in [0, 10)). */
static void check_mean_many(test_context *t, size_t N)
{
    float *losses = test_malloc(N * sizeof(float));
    int32_t *targets = test_malloc(N * sizeof(int32_t));
    test_fill(t, losses, N, 0, 10);
    for (size_t i = 0; i < N; i++)
        targets[i] = duo_rng_below(&t->rng, 3) == 0 ? -1 : 1;
    cl_mem dlosses = test_upload(t, losses, N * sizeof(float));
    cl_mem dtargets = test_upload(t, targets, N * sizeof(int32_t));
    cl_mem scratch = test_alloc(t, duo_cross_entropy_mean_scratch_bytes(t->rt, N));
    cl_mem result = test_alloc(t, sizeof(duo_cross_entropy_mean_result));
    int32_t want_count;
    float want = (float)ref_cross_entropy_mean(losses, targets, N, &want_count);
    duo_cross_entropy_mean_result got = {NAN, -1}, again = {NAN, -1};
    char name[96], detail[64];
    snprintf(name, sizeof name, "cross_entropy_mean_matches_reference_n%zu", N);
    if (test_ok(t, name, duo_cross_entropy_mean(t->rt, dlosses, dtargets, N, scratch, result, &got))) {
        test_close(t, name, &got.mean, &want, 1, 1e-6, 1e-5);
        snprintf(detail, sizeof detail, "got %d, want %d", (int)got.count, (int)want_count);
        snprintf(name, sizeof name, "cross_entropy_mean_counts_valid_tokens_n%zu", N);
        test_true(t, name, got.count == want_count, detail);
    }
    snprintf(name, sizeof name, "cross_entropy_mean_deterministic_n%zu", N);
    if (test_ok(t, name, duo_cross_entropy_mean(t->rt, dlosses, dtargets, N, scratch, result, &again)))
        test_same_bytes(t, name, &again, &got, sizeof got);
    duo_buffer_release(&dlosses);
    duo_buffer_release(&dtargets);
    duo_buffer_release(&scratch);
    duo_buffer_release(&result);
    free(losses);
    free(targets);
}

/* The reference backward against central differences of the reference loss
 * sum(scale * loss_t) in double; one row masked. */
static void check_reference_gradient(test_context *t)
{
    enum { N = 3, V = 37 };
    float logits[N * V], grad[N * V], numeric[N * V];
    int32_t targets[N] = {5, -1, V - 1};
    const float scale = 0.5f;
    const double h = 1e-4;
    double row[V];
    test_fill(t, logits, N * V, -3, 3);
    ref_cross_entropy_backward(logits, targets, grad, N, V, scale);
    for (size_t r = 0; r < N; r++)
        for (size_t i = 0; i < V; i++) {
            if (targets[r] < 0) {
                numeric[r * V + i] = 0; /* the loss does not depend on a masked row */
                continue;
            }
            for (size_t j = 0; j < V; j++)
                row[j] = logits[r * V + j];
            row[i] += h;
            double up = ref_cross_entropy_row(row, V, targets[r]);
            row[i] -= 2 * h;
            double down = ref_cross_entropy_row(row, V, targets[r]);
            numeric[r * V + i] = (float)(scale * (up - down) / (2 * h));
        }
    test_close(t, "cross_entropy_reference_backward_matches_finite_differences", grad, numeric,
               N * V, 1e-6, 1e-5);
}

static void run(test_context *t)
{
    check_reference_gradient(t);
    const size_t rows[] = {1, 7, 129}, widths[] = {37, 100, 4099};
    size_t row_count = t->small ? 2 : 3, width_count = t->small ? 2 : 3;
    for (size_t i = 0; i < row_count; i++)
        for (size_t j = 0; j < width_count; j++)
            check_random(t, rows[i], widths[j]);
    check_large_logits(t, t->small ? 300 : 32768);
    check_mean_many(t, t->small ? 300 : 40009);
    check_mean_many(t, 0); /* no tokens: mean 0, count 0 */
    check_target_out_of_range(t);
}

int main(int argc, char **argv) { return test_main(argc, argv, "op_loss", run); }
