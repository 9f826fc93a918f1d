/* Causal attention (kernels/attention.cl and the CLBlast GEMMs around it)
 * against its double-precision C reference, at head dims 16 and 24, T in
 * 1, 7, 129 (not multiples of any work-group size), H 1..4 and B 1..3, plus
 * T 256 and 300 at a model-sized head dim, where CLBlast takes its indirect
 * GEMM path. The host cuts positions into blocks of 64 (host/ops/attention.c):
 * T 129 ends in a block of one position, T 300 in one of 44. The checks and
 * their tolerance are the harness's (attention_harness.h), shared with
 * op_attention_fused.
 *
 * The reference backward is checked against central finite differences of
 * L = sum(y * r) in double (eps 1e-5: truncation ~1e-10, rounding ~1e-11);
 * atol and rtol 1e-6 cover the final rounding to float of both sides. */
#include <stdio.h>
#include <stdlib.h>

#include "attention_harness.h"
#include "ref/attention_ref.h"
#include "testutil.h"

static const attention_path gemm_path = {
    .name = "attention",
    .saved_floats = duo_attention_saved_floats,
    .scratch_floats = duo_attention_scratch_floats,
    .forward = duo_attention_forward,
    .backward = duo_attention_backward,
};

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
    double *qkv[3] = {attention_to_double(x, n), attention_to_double(x + n, n),
                      attention_to_double(x + 2 * n, n)};
    double *r = attention_to_double(x + 3 * n, n), *y = attention_to_double(x, n);
    double *grads[3] = {attention_to_double(x, n), attention_to_double(x, n),
                        attention_to_double(x, n)};
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
    const attention_path *p = &gemm_path;
    check_reference_gradients(t);
    if (t->small) {
        attention_check_against_reference(t, p, (duo_attention_shape){1, 1, 1, 16}, false);
        attention_check_against_reference(t, p, (duo_attention_shape){2, 7, 2, 24}, true);
        attention_check_causality(t, p, (duo_attention_shape){1, 7, 1, 16}, 3);
        /* Two position blocks, the second of two positions. */
        attention_check_against_reference(t, p, (duo_attention_shape){1, 66, 1, 16}, false);
        return;
    }
    const duo_attention_shape shapes[] = {
        {1, 1, 1, 16}, {2, 7, 3, 24}, {3, 7, 4, 16}, {3, 129, 2, 16}, {1, 129, 4, 24}, {2, 33, 1, 24},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        attention_check_against_reference(t, p, shapes[i], i == 3);
    /* The model's shape at a smaller batch: CLBlast's indirect GEMM path. */
    attention_check_against_reference(t, p, (duo_attention_shape){2, 256, 4, 64}, true);
    attention_check_against_reference(t, p, (duo_attention_shape){1, 300, 2, 64}, false);
    attention_check_causality(t, p, (duo_attention_shape){2, 129, 3, 24}, 64);
}

int main(int argc, char **argv) { return test_main(argc, argv, "op_attention", run); }
