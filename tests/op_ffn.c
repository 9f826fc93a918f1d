/* ffn.cl (the SwiGLU gate) against its double reference at M in 1, 7, 129
 * and F in 48, 100, 256, 1024; extreme inputs (|a| up to 1e4, no inf or NaN
 * where the exact value is finite); the reference backward against central
 * finite differences; determinism.
 *
 * Tolerances (u = 2^-24): the device evaluates exp (OpenCL allows 3 ulp),
 * one division (2.5 ulp) and a few products in float: h and db get
 * rtol 1e-6 (~17 u) and atol 1e-7 for values near zero. da = dh b s (1 + a (1-s))
 * cancels near a = -1.28 where silu' = 0 and a (1-s) ~ -1: there s and
 * a (1-s) carry a few u of error each (exp's 3 ulp), about 4u = 2.4e-7 on the
 * bracket, times |dh b s| <= 0.44: atol 3e-7 with rtol 1e-6. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/ffn.h"
#include "ref/ffn_ref.h"
#include "ref/check_f64.h"
#include "testutil.h"

/* Device forward and backward on given a, b, dh; compares with the reference
 * and, if repeat, checks a second run gives the same bytes. */
static void check_values(test_context *t, const char *label, const float *a, const float *b,
                         const float *dh, size_t m, size_t f, bool repeat)
{
    size_t n = m * f;
    double *ad = ref_to_double(a, n), *bd = ref_to_double(b, n), *dhd = ref_to_double(dh, n);
    double *hd = test_malloc(n * sizeof *hd), *dad = test_malloc(n * sizeof *dad);
    double *dbd = test_malloc(n * sizeof *dbd);
    ref_swiglu_forward(hd, ad, bd, n);
    ref_swiglu_backward(dad, dbd, dhd, ad, bd, n);
    float *want_h = ref_to_float(hd, n), *want_da = ref_to_float(dad, n), *want_db = ref_to_float(dbd, n);
    float *got[3], *again[3];
    for (int k = 0; k < 3; k++) {
        got[k] = test_malloc(n * sizeof(float));
        again[k] = test_malloc(n * sizeof(float));
    }
    cl_mem d_a = test_upload(t, a, n * sizeof *a), d_b = test_upload(t, b, n * sizeof *b);
    cl_mem d_dh = test_upload(t, dh, n * sizeof *dh);
    cl_mem d_h = test_alloc(t, n * sizeof(float)), d_da = test_alloc(t, n * sizeof(float));
    cl_mem d_db = test_alloc(t, n * sizeof(float));
    char name[128];
    for (int run = 0; run < (repeat ? 2 : 1); run++) {
        float **out = run ? again : got;
        if (!test_ok(t, "swiglu_forward", duo_swiglu_forward(t->rt, d_h, d_a, d_b, m, f)) ||
            !test_ok(t, "swiglu_backward", duo_swiglu_backward(t->rt, d_da, d_db, d_dh, d_a, d_b, m, f)))
            break;
        test_download(t, d_h, out[0], n * sizeof(float));
        test_download(t, d_da, out[1], n * sizeof(float));
        test_download(t, d_db, out[2], n * sizeof(float));
        if (run == 0) {
            snprintf(name, sizeof name, "swiglu_forward_matches_reference_%s", label);
            test_close(t, name, got[0], want_h, n, 1e-7, 1e-6);
            snprintf(name, sizeof name, "swiglu_backward_da_matches_reference_%s", label);
            test_close(t, name, got[1], want_da, n, 3e-7, 1e-6);
            snprintf(name, sizeof name, "swiglu_backward_db_matches_reference_%s", label);
            test_close(t, name, got[2], want_db, n, 1e-7, 1e-6);
        } else {
            snprintf(name, sizeof name, "swiglu_forward_deterministic_%s", label);
            test_same_bytes(t, name, got[0], again[0], n * sizeof(float));
            snprintf(name, sizeof name, "swiglu_backward_da_deterministic_%s", label);
            test_same_bytes(t, name, got[1], again[1], n * sizeof(float));
            snprintf(name, sizeof name, "swiglu_backward_db_deterministic_%s", label);
            test_same_bytes(t, name, got[2], again[2], n * sizeof(float));
        }
    }
    duo_buffer_release(&d_a), duo_buffer_release(&d_b), duo_buffer_release(&d_dh);
    duo_buffer_release(&d_h), duo_buffer_release(&d_da), duo_buffer_release(&d_db);
    for (int k = 0; k < 3; k++)
        free(got[k]), free(again[k]);
    free(ad), free(bd), free(dhd), free(hd), free(dad), free(dbd);
    free(want_h), free(want_da), free(want_db);
}

static void check_size(test_context *t, size_t m, size_t f)
{
    size_t n = m * f;
    float *a = test_malloc(n * sizeof *a), *b = test_malloc(n * sizeof *b);
    float *dh = test_malloc(n * sizeof *dh);
    test_fill(t, a, n, -8, 8);
    test_fill(t, b, n, -2, 2);
    test_fill(t, dh, n, -1, 1);
    char label[64];
    snprintf(label, sizeof label, "m%zu_f%zu", m, f);
    check_values(t, label, a, b, dh, m, f, true);
    free(a), free(b), free(dh);
}

/* Large |a| where a naive 1 / (1 + exp(-a)) overflows exp (a < -88.7) and
 * where sigmoid rounds to 0 or 1: results must stay finite and correct. */
static void check_extremes(test_context *t)
{
    const float a[] = {-1e4f, -1000, -104, -89, -88.7f, -60, -20, -1.2784645f, -1e-30f, 0,
                       1e-30f, 20, 60, 88.7f, 89, 104, 1000, 1e4f};
    enum { N = sizeof a / sizeof a[0] };
    float b[N], dh[N];
    for (int i = 0; i < N; i++) {
        b[i] = 1.5f;
        dh[i] = -0.75f;
    }
    check_values(t, "extreme_inputs", a, b, dh, 1, N, false);
}

/* L = sum(h * r) in double; central differences in a and b with step 1e-4
 * (truncation h^2 |2 b r silu'''| / 6 < 1e-8; rounding of the 300-term sum
 * ~1e-13 / 2h < 1e-9): atol and rtol 1e-7 against the reference backward
 * with dh = r. */
static void check_finite_differences(test_context *t, size_t n)
{
    const double h = 1e-4;
    float *af = test_malloc(n * sizeof *af), *bf = test_malloc(n * sizeof *bf);
    float *rf = test_malloc(n * sizeof *rf);
    test_fill(t, af, n, -8, 8);
    test_fill(t, bf, n, -2, 2);
    test_fill(t, rf, n, -1, 1);
    double *a = ref_to_double(af, n), *b = ref_to_double(bf, n), *r = ref_to_double(rf, n);
    double *y = test_malloc(n * sizeof *y), *da = test_malloc(n * sizeof *da);
    double *db = test_malloc(n * sizeof *db);
    double *got = test_malloc(2 * n * sizeof *got), *want = test_malloc(2 * n * sizeof *want);
    ref_swiglu_backward(da, db, r, a, b, n);
    for (int which = 0; which < 2; which++) {
        double *p = which ? b : a;
        for (size_t i = 0; i < n; i++) {
            double keep = p[i], loss[2];
            for (int side = 0; side < 2; side++) {
                p[i] = keep + (side ? -h : h);
                ref_swiglu_forward(y, a, b, n);
                loss[side] = 0;
                for (size_t k = 0; k < n; k++)
                    loss[side] += y[k] * r[k];
            }
            p[i] = keep;
            got[which * n + i] = which ? db[i] : da[i];
            want[which * n + i] = (loss[0] - loss[1]) / (2 * h);
        }
    }
    char name[96];
    snprintf(name, sizeof name, "swiglu_reference_backward_matches_finite_differences_n%zu", n);
    test_close_f64(t, name, got, want, 2 * n, 1e-7, 1e-7);
    free(af), free(bf), free(rf), free(a), free(b), free(r), free(y), free(da), free(db);
    free(got), free(want);
}

static void run(test_context *t)
{
    check_finite_differences(t, 300);
    check_extremes(t);
    check_size(t, 1, 48);
    check_size(t, 7, 100);
    if (t->small)
        return;
    check_size(t, 129, 256);
    check_size(t, 129, 48);
    check_size(t, 7, 1024);
    check_size(t, 4096, 64); /* the quickstart's small FFN over a batch */
}

int main(int argc, char **argv) { return test_main(argc, argv, "op_ffn", run); }
