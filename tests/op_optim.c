/* optim.cl against its C reference: several AdamW steps at awkward sizes, the
 * float reference against the textbook formula in double, a step on a slice
 * (offset) leaving its neighbours alone, the global gradient norm against a
 * double reference, determinism, and the clip factor.
 *
 * Tolerances.
 *   AdamW device vs float reference (same operations in the same order, 5
 *   steps): the device may contract a multiply-add into an FMA and OpenCL lets
 *   sqrt and divide be off by a few ulp, so each step may differ by a few ulp:
 *   p, m, v within atol 1e-7 + rtol 2e-6 (values are O(1); m can cancel to
 *   near 0, hence the atol).
 *   Float reference vs double formula, 5 steps: rounding of the float
 *   constants and of each operation, atol 1e-6 + rtol 1e-5.
 *   Gradient norm vs double: float sums of squares over short grid-stride runs
 *   then a tree, relative error far below rtol 1e-5.
 * Determinism: the same state and gradients give identical bytes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/optim.h"
#include "ref/optim_ref.h"
#include "testutil.h"

enum { STEPS = 5 };

/* A warm-up-like lr schedule and a clip factor that changes per step. */
static duo_adamw_hparams step_hparams(int step, double weight_decay)
{
    duo_adamw_hparams h = {.lr = 2e-3 * (0.5 + 0.25 * step), .beta1 = 0.9, .beta2 = 0.95,
                           .eps = 1e-8, .weight_decay = weight_decay, .step = step};
    return h;
}

static float step_grad_scale(int step) { return step % 2 ? 1.0f : 0.37f; }

typedef struct adam_state {
    float *p, *m, *v;
} adam_state;

static adam_state state_new(size_t n)
{
    adam_state s = {test_malloc(n * sizeof(float)), test_malloc(n * sizeof(float)),
                    test_malloc(n * sizeof(float))};
    return s;
}

static void state_free(adam_state *s)
{
    free(s->p);
    free(s->m);
    free(s->v);
}

/* Runs STEPS device steps on elements [offset, offset + n) of buffers holding
 * `total` floats, starting from p0 and zero moments; grads holds STEPS arrays of
 * `total`. Returns the whole buffers in out. */
static bool device_steps(test_context *t, const char *name, const float *p0, const float *grads,
                         size_t total, size_t offset, size_t n, double weight_decay, adam_state *out)
{
    cl_mem p = test_upload(t, p0, total * sizeof(float));
    /* Zero moments uploaded rather than filled: oclgrind --uninitialized does not
     * count clEnqueueFillBuffer (duo_buffer_fill_zero) as initialising memory. */
    float *zeros = test_malloc(total * sizeof(float)); /* calloc */
    cl_mem m = test_upload(t, zeros, total * sizeof(float)), v = test_upload(t, zeros, total * sizeof(float));
    cl_mem g = test_alloc(t, total * sizeof(float));
    free(zeros);
    bool ok = true;
    for (int step = 1; ok && step <= STEPS; step++) {
        duo_adamw_hparams h = step_hparams(step, weight_decay);
        ok = test_ok(t, name, duo_buffer_write(t->rt, g, 0, total * sizeof(float),
                                               grads + (size_t)(step - 1) * total)) &&
             test_ok(t, name, duo_adamw_step(t->rt, p, g, m, v, offset, n, &h, step_grad_scale(step)));
    }
    if (ok) {
        test_download(t, p, out->p, total * sizeof(float));
        test_download(t, m, out->m, total * sizeof(float));
        test_download(t, v, out->v, total * sizeof(float));
    }
    duo_buffer_release(&p);
    duo_buffer_release(&m);
    duo_buffer_release(&v);
    duo_buffer_release(&g);
    return ok;
}

static void check_adamw(test_context *t, size_t n, double weight_decay)
{
    float *p0 = test_malloc(n * sizeof(float)), *grads = test_malloc(STEPS * n * sizeof(float));
    test_fill(t, p0, n, -1, 1);
    test_fill(t, grads, STEPS * n, -1, 1);
    char name[96], tag[48];
    snprintf(tag, sizeof tag, "n%zu_wd%g", n, weight_decay);

    /* Float reference and the double formula. */
    adam_state want = state_new(n);
    memcpy(want.p, p0, n * sizeof(float));
    double *dp = test_malloc(n * sizeof(double)), *dm = test_malloc(n * sizeof(double));
    double *dv = test_malloc(n * sizeof(double)), *dg = test_malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        dp[i] = p0[i];
    for (int step = 1; step <= STEPS; step++) {
        duo_adamw_hparams h = step_hparams(step, weight_decay);
        const float *g = grads + (size_t)(step - 1) * n;
        ref_adamw_step(want.p, g, want.m, want.v, n, &h, step_grad_scale(step));
        for (size_t i = 0; i < n; i++)
            dg[i] = g[i];
        ref_adamw_step_double(dp, dg, dm, dv, n, &h, step_grad_scale(step));
    }
    float *as_float = test_malloc(n * sizeof(float));
    const double *formula[3] = {dp, dm, dv};
    const float *reference[3] = {want.p, want.m, want.v};
    const char *what[3] = {"param", "m", "v"};
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < n; i++)
            as_float[i] = (float)formula[k][i];
        snprintf(name, sizeof name, "adamw_reference_%s_matches_formula_%s", what[k], tag);
        test_close(t, name, reference[k], as_float, n, 1e-6, 1e-5);
    }

    /* The device, twice from the same start. */
    adam_state got = state_new(n), again = state_new(n);
    snprintf(name, sizeof name, "adamw_step_matches_reference_%s", tag);
    if (device_steps(t, name, p0, grads, n, 0, n, weight_decay, &got)) {
        const float *device[3] = {got.p, got.m, got.v};
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof name, "adamw_step_%s_matches_reference_%s", what[k], tag);
            test_close(t, name, device[k], reference[k], n, 1e-7, 2e-6);
        }
        snprintf(name, sizeof name, "adamw_step_deterministic_%s", tag);
        if (device_steps(t, name, p0, grads, n, 0, n, weight_decay, &again)) {
            const float *first[3] = {got.p, got.m, got.v}, *second[3] = {again.p, again.m, again.v};
            for (int k = 0; k < 3; k++) {
                snprintf(name, sizeof name, "adamw_step_%s_deterministic_%s", what[k], tag);
                test_same_bytes(t, name, second[k], first[k], n * sizeof(float));
            }
        }
    }
    state_free(&want);
    state_free(&got);
    state_free(&again);
    free(p0);
    free(grads);
    free(dp);
    free(dm);
    free(dv);
    free(dg);
    free(as_float);
}

/* A step on elements [offset, offset + n) of a larger buffer matches the same
 * step on a buffer of n, and leaves the elements around it untouched. */
static void check_adamw_slice(test_context *t, size_t total, size_t offset, size_t n)
{
    float *p0 = test_malloc(total * sizeof(float)), *grads = test_malloc(STEPS * total * sizeof(float));
    test_fill(t, p0, total, -1, 1);
    test_fill(t, grads, STEPS * total, -1, 1);
    adam_state want = state_new(total), got = state_new(total);
    memcpy(want.p, p0, total * sizeof(float));
    for (int step = 1; step <= STEPS; step++) {
        duo_adamw_hparams h = step_hparams(step, 0.1);
        const float *g = grads + (size_t)(step - 1) * total + offset;
        ref_adamw_step(want.p + offset, g, want.m + offset, want.v + offset, n, &h,
                       step_grad_scale(step));
    }
    char name[96];
    snprintf(name, sizeof name, "adamw_step_on_slice_%zu_of_%zu_matches_reference", n, total);
    if (device_steps(t, name, p0, grads, total, offset, n, 0.1, &got)) {
        test_close(t, name, got.p, want.p, total, 1e-7, 2e-6);
        bool untouched = true;
        for (size_t i = 0; i < total; i++)
            if (i < offset || i >= offset + n)
                untouched = untouched && got.p[i] == p0[i] && got.m[i] == 0 && got.v[i] == 0;
        snprintf(name, sizeof name, "adamw_step_on_slice_%zu_of_%zu_leaves_the_rest", n, total);
        test_true(t, name, untouched, untouched ? "outside elements unchanged" : "an outside element changed");
    }
    state_free(&want);
    state_free(&got);
    free(p0);
    free(grads);
}

/* The norm of `count` tensors, each a slice at a small offset of its own buffer. */
static void check_grad_norm(test_context *t, const size_t *sizes, int count, const char *tag)
{
    enum { MAX = 8, OFFSET = 3 };
    float *host[MAX];
    const float *views[MAX];
    duo_grad_span spans[MAX];
    for (int k = 0; k < count; k++) {
        host[k] = test_malloc((sizes[k] + OFFSET) * sizeof(float));
        test_fill(t, host[k], sizes[k] + OFFSET, -1, 1);
        host[k][0] = 1e3f; /* outside the slice: would dominate if it were read */
        views[k] = host[k] + OFFSET;
        spans[k] = (duo_grad_span){test_upload(t, host[k], (sizes[k] + OFFSET) * sizeof(float)),
                                   OFFSET, sizes[k]};
    }
    cl_mem scratch = test_alloc(t, duo_grad_norm_scratch_bytes(t->rt, spans, count));
    float want = (float)ref_grad_norm(views, sizes, count), got = NAN, again = NAN;
    char name[96];
    snprintf(name, sizeof name, "grad_norm_matches_double_reference_%s", tag);
    if (test_ok(t, name, duo_grad_norm(t->rt, spans, count, scratch, &got)))
        test_close(t, name, &got, &want, 1, 1e-7, 1e-5);
    snprintf(name, sizeof name, "grad_norm_deterministic_%s", tag);
    if (test_ok(t, name, duo_grad_norm(t->rt, spans, count, scratch, &again)))
        test_same_bytes(t, name, &again, &got, sizeof got);
    for (int k = 0; k < count; k++) {
        duo_buffer_release(&spans[k].buffer);
        free(host[k]);
    }
    duo_buffer_release(&scratch);
}

static void check_clip_factor(test_context *t)
{
    struct {
        float norm, max_norm, want;
    } cases[] = {
        {2.0f, 1.0f, 1.0f / (2.0f + 1e-6f)}, /* clipped */
        {0.5f, 1.0f, 1.0f},                  /* below the threshold: unchanged */
        {1.0f, 1.0f, 1.0f / (1.0f + 1e-6f)}, /* at it: PyTorch's 1e-6 makes it just below 1 */
        {0.0f, 1.0f, 1.0f},                  /* zero gradient */
        {5.0f, 0.0f, 1.0f},                  /* clipping off */
    };
    bool ok = true;
    char detail[128] = "all cases as clip_grad_norm_";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float got = duo_clip_factor(cases[i].norm, cases[i].max_norm);
        if (got != cases[i].want && ok) {
            ok = false;
            snprintf(detail, sizeof detail, "norm %g, max %g: got %.9g want %.9g", cases[i].norm,
                     cases[i].max_norm, got, cases[i].want);
        }
    }
    ok = ok && isnan(duo_clip_factor(NAN, 1.0f));
    test_true(t, "clip_factor_matches_clip_grad_norm", ok, detail);
}

static void run(test_context *t)
{
    const size_t sizes[] = {1, 1000, 100003};
    size_t count = t->small ? 2 : 3;
    for (size_t i = 0; i < count; i++) {
        check_adamw(t, sizes[i], 0.1);
        check_adamw(t, sizes[i], 0.0);
    }
    check_adamw_slice(t, t->small ? 100 : 5000, 7, t->small ? 77 : 4099);

    const size_t one[] = {1}, several[] = {1000, 1, 37, 100003, 0, 4099}, tiny[] = {37, 1, 0, 300};
    check_grad_norm(t, one, 1, "one_element");
    if (t->small)
        check_grad_norm(t, tiny, 4, "four_tensors");
    else
        check_grad_norm(t, several, 6, "six_tensors");
    check_grad_norm(t, NULL, 0, "no_tensors");
    check_clip_factor(t);
}

int main(int argc, char **argv) { return test_main(argc, argv, "op_optim", run); }
