/* Causal attention (kernels/attention.cl and the CLBlast GEMMs around it)
 * against its double-precision C reference, at head dims 16 and 24, T in
 * 1, 7, 129 (not multiples of any work-group size), H 1..4 and B 1..3, plus
 * T 256 and 300 at a model-sized head dim, where CLBlast takes its indirect
 * GEMM path. The host cuts positions into blocks of 64 (host/ops/attention.c):
 * T 129 ends in a block of one position, T 300 in one of 44.
 *
 * Tolerance: q, k, v and dy are uniform in [-1, 1]. The device computes in
 * float with sums of at most T (scores: hd) terms, so its relative error is a
 * few float epsilons times log or sqrt of the sum's length, well under 1e-6 at
 * these sizes; we allow atol = 1e-5 * max(1, max |want|) and rtol 1e-5, which
 * is ~100 epsilons relative to the scale of the values and still catches any
 * wrong term (a mask off by one moves y by ~1/T, over 1e-3 here).
 *
 * The reference backward is checked against central finite differences of
 * L = sum(y * r) in double (eps 1e-5: truncation ~1e-10, rounding ~1e-11);
 * atol and rtol 1e-6 cover the final rounding to float of both sides. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/attention.h"
#include "ref/attention_ref.h"
#include "testutil.h"

static double *to_double(const float *x, size_t n)
{
    double *out = test_malloc((n ? n : 1) * sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = x[i];
    return out;
}

static void to_float(float *out, const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (float)x[i];
}

static double tolerance_for(const float *want, size_t n)
{
    double scale = 1;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)want[i]));
    return 1e-5 * scale;
}

/* Device buffers for one shape. Every output, saved and scratch starts as
 * NaN: a value the launchers fail to overwrite, or one that depends on memory
 * they never wrote, shows up as NaN. (saved and scratch are not left
 * uninitialised for oclgrind to watch because oclgrind --uninitialized flags
 * the output of CLBlast's direct GEMM when its C was never written, even with
 * beta = 0, though NaN there changes nothing.) */
typedef struct device_problem {
    duo_attention_shape s;
    size_t n;
    cl_mem q, k, v, dy, y, dq, dk, dv, saved, scratch;
} device_problem;

static cl_mem nan_buffer(test_context *t, size_t floats)
{
    void *bytes = test_malloc(floats * sizeof(float) + 1);
    memset(bytes, 0xff, floats * sizeof(float));
    cl_mem out = test_upload(t, bytes, floats * sizeof(float));
    free(bytes);
    return out;
}

static device_problem device_problem_create(test_context *t, duo_attention_shape s, const float *q,
                                            const float *k, const float *v, const float *dy)
{
    device_problem p = {.s = s, .n = s.B * s.T * s.H * s.hd};
    size_t bytes = p.n * sizeof(float);
    p.q = test_upload(t, q, bytes);
    p.k = test_upload(t, k, bytes);
    p.v = test_upload(t, v, bytes);
    p.dy = test_upload(t, dy, bytes);
    p.y = nan_buffer(t, p.n);
    p.dq = nan_buffer(t, p.n);
    p.dk = nan_buffer(t, p.n);
    p.dv = nan_buffer(t, p.n);
    size_t saved = duo_attention_saved_floats(s), scratch = duo_attention_scratch_floats(s);
    p.saved = nan_buffer(t, saved);
    p.scratch = nan_buffer(t, scratch);
    return p;
}

static void device_problem_release(device_problem *p)
{
    cl_mem *all[] = {&p->q, &p->k, &p->v, &p->dy, &p->y, &p->dq, &p->dk, &p->dv, &p->saved, &p->scratch};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        duo_buffer_release(all[i]);
}

static bool forward(test_context *t, device_problem *p)
{
    return test_ok(t, "attention_forward",
                   duo_attention_forward(t->rt, p->s, p->y, p->saved, p->scratch, p->q, p->k, p->v));
}

static bool backward(test_context *t, device_problem *p)
{
    return test_ok(t, "attention_backward",
                   duo_attention_backward(t->rt, p->s, p->dq, p->dk, p->dv, p->scratch, p->dy,
                                          p->saved));
}

static void compare(test_context *t, const char *what, duo_attention_shape s, cl_mem buffer,
                    const double *want64)
{
    size_t n = s.B * s.T * s.H * s.hd;
    float *got = test_malloc(n * sizeof *got + 1), *want = test_malloc(n * sizeof *want + 1);
    test_download(t, buffer, got, n * sizeof *got);
    to_float(want, want64, n);
    char name[96];
    snprintf(name, sizeof name, "attention_%s_matches_reference_b%zu_t%zu_h%zu_hd%zu", what, s.B,
             s.T, s.H, s.hd);
    test_close(t, name, got, want, n, tolerance_for(want, n), 1e-5);
    free(got);
    free(want);
}

/* Forward and backward against the reference; with `twice`, runs both again
 * and requires identical bytes in every output and in the saved block. */
static void check_against_reference(test_context *t, duo_attention_shape s, bool twice)
{
    size_t n = s.B * s.T * s.H * s.hd, bytes = n * sizeof(float);
    float *q = test_malloc(bytes + 1), *k = test_malloc(bytes + 1), *v = test_malloc(bytes + 1);
    float *dy = test_malloc(bytes + 1);
    test_fill(t, q, n, -1, 1);
    test_fill(t, k, n, -1, 1);
    test_fill(t, v, n, -1, 1);
    test_fill(t, dy, n, -1, 1);
    double *q64 = to_double(q, n), *k64 = to_double(k, n), *v64 = to_double(v, n);
    double *dy64 = to_double(dy, n), *y64 = to_double(q, n);
    double *dq64 = to_double(q, n), *dk64 = to_double(q, n), *dv64 = to_double(q, n);
    ref_attention_forward(y64, q64, k64, v64, s.B, s.T, s.H, s.hd);
    ref_attention_backward(dq64, dk64, dv64, dy64, q64, k64, v64, s.B, s.T, s.H, s.hd);

    device_problem p = device_problem_create(t, s, q, k, v, dy);
    if (forward(t, &p) && backward(t, &p)) {
        compare(t, "forward", s, p.y, y64);
        compare(t, "backward_dq", s, p.dq, dq64);
        compare(t, "backward_dk", s, p.dk, dk64);
        compare(t, "backward_dv", s, p.dv, dv64);
    }
    if (twice) {
        size_t saved_bytes = duo_attention_saved_floats(s) * sizeof(float);
        cl_mem *outputs[] = {&p.y, &p.dq, &p.dk, &p.dv, &p.saved};
        const char *names[] = {"y", "dq", "dk", "dv", "saved"};
        void *first[5];
        for (int i = 0; i < 5; i++) {
            size_t size = i == 4 ? saved_bytes : bytes;
            first[i] = test_malloc(size + 1);
            test_download(t, *outputs[i], first[i], size);
        }
        if (forward(t, &p) && backward(t, &p))
            for (int i = 0; i < 5; i++) {
                size_t size = i == 4 ? saved_bytes : bytes;
                void *second = test_malloc(size + 1);
                test_download(t, *outputs[i], second, size);
                char name[96];
                snprintf(name, sizeof name, "attention_is_deterministic_%s_t%zu", names[i], s.T);
                test_same_bytes(t, name, first[i], second, size);
                free(second);
            }
        for (int i = 0; i < 5; i++)
            free(first[i]);
    }
    device_problem_release(&p);
    free(q), free(k), free(v), free(dy);
    free(q64), free(k64), free(v64), free(dy64), free(y64), free(dq64), free(dk64), free(dv64);
}

/* Huge keys and values at positions after `cut` must not change any output
 * row at or before `cut` by a single bit: masked scores are never read and
 * masked probabilities are exactly zero. */
static void check_causality(test_context *t, duo_attention_shape s, size_t cut)
{
    size_t n = s.B * s.T * s.H * s.hd, d = s.H * s.hd, bytes = n * sizeof(float);
    float *q = test_malloc(bytes + 1), *k = test_malloc(bytes + 1), *v = test_malloc(bytes + 1);
    float *before = test_malloc(bytes + 1), *after = test_malloc(bytes + 1);
    test_fill(t, q, n, -1, 1);
    test_fill(t, k, n, -1, 1);
    test_fill(t, v, n, -1, 1);
    device_problem p = device_problem_create(t, s, q, k, v, q);
    bool ran = forward(t, &p);
    if (ran)
        test_download(t, p.y, before, bytes);
    for (size_t b = 0; b < s.B; b++)
        for (size_t i = (b * s.T + cut + 1) * d; i < (b + 1) * s.T * d; i++) {
            k[i] = 1e30f;
            v[i] = -1e30f;
        }
    ran = ran && test_ok(t, "upload k", duo_buffer_write(t->rt, p.k, 0, bytes, k)) &&
          test_ok(t, "upload v", duo_buffer_write(t->rt, p.v, 0, bytes, v)) && forward(t, &p);
    if (ran) {
        test_download(t, p.y, after, bytes);
        bool same = true;
        for (size_t b = 0; b < s.B; b++)
            same = same && memcmp(before + b * s.T * d, after + b * s.T * d,
                                  (cut + 1) * d * sizeof(float)) == 0;
        char name[96];
        snprintf(name, sizeof name, "attention_forward_ignores_future_keys_t%zu_cut%zu", s.T, cut);
        test_true(t, name, same,
                  same ? "rows up to the cut are identical bytes"
                       : "a row up to the cut changed when only later keys and values did");
    }
    device_problem_release(&p);
    free(q), free(k), free(v), free(before), free(after);
}

static double loss(const double *q, const double *k, const double *v, const double *r, double *y,
                   duo_attention_shape s)
{
    size_t n = s.B * s.T * s.H * s.hd;
    ref_attention_forward(y, q, k, v, s.B, s.T, s.H, s.hd);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += y[i] * r[i];
    return sum;
}

/* The reference backward against central differences of L = sum(y * r). */
static void check_reference_gradients(test_context *t)
{
    duo_attention_shape s = {.B = 2, .T = 5, .H = 2, .hd = 3};
    size_t n = s.B * s.T * s.H * s.hd;
    float *x = test_malloc(4 * n * sizeof *x);
    test_fill(t, x, 4 * n, -1, 1);
    double *qkv[3] = {to_double(x, n), to_double(x + n, n), to_double(x + 2 * n, n)};
    double *r = to_double(x + 3 * n, n), *y = to_double(x, n);
    double *grads[3] = {to_double(x, n), to_double(x, n), to_double(x, n)};
    ref_attention_backward(grads[0], grads[1], grads[2], r, qkv[0], qkv[1], qkv[2], s.B, s.T, s.H,
                           s.hd);
    const char *names[3] = {"dq", "dk", "dv"};
    float *got = test_malloc(n * sizeof *got), *want = test_malloc(n * sizeof *want);
    const double eps = 1e-5;
    for (int which = 0; which < 3; which++) {
        for (size_t i = 0; i < n; i++) {
            double keep = qkv[which][i];
            qkv[which][i] = keep + eps;
            double up = loss(qkv[0], qkv[1], qkv[2], r, y, s);
            qkv[which][i] = keep - eps;
            double down = loss(qkv[0], qkv[1], qkv[2], r, y, s);
            qkv[which][i] = keep;
            want[i] = (float)((up - down) / (2 * eps));
            got[i] = (float)grads[which][i];
        }
        char name[96];
        snprintf(name, sizeof name, "attention_reference_%s_matches_finite_differences", names[which]);
        test_close(t, name, got, want, n, 1e-6, 1e-6);
    }
    for (int i = 0; i < 3; i++)
        free(qkv[i]), free(grads[i]);
    free(x), free(r), free(y), free(got), free(want);
}

static void run(test_context *t)
{
    check_reference_gradients(t);
    if (t->small) {
        check_against_reference(t, (duo_attention_shape){1, 1, 1, 16}, false);
        check_against_reference(t, (duo_attention_shape){2, 7, 2, 24}, true);
        check_causality(t, (duo_attention_shape){1, 7, 1, 16}, 3);
        /* Two position blocks, the second of two positions. */
        check_against_reference(t, (duo_attention_shape){1, 66, 1, 16}, false);
        return;
    }
    const duo_attention_shape shapes[] = {
        {1, 1, 1, 16}, {2, 7, 3, 24}, {3, 7, 4, 16}, {3, 129, 2, 16}, {1, 129, 4, 24}, {2, 33, 1, 24},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        check_against_reference(t, shapes[i], i == 3);
    /* The model's shape at a smaller batch: CLBlast's indirect GEMM path. */
    check_against_reference(t, (duo_attention_shape){2, 256, 4, 64}, true);
    check_against_reference(t, (duo_attention_shape){1, 300, 2, 64}, false);
    check_causality(t, (duo_attention_shape){2, 129, 3, 24}, 64);
}

int main(int argc, char **argv) { return test_main(argc, argv, "op_attention", run); }
