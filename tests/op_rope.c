/* rope.cl against its double reference for (B, T, H, hd) with head dims 16
 * and 24, rows 1, 7, 129 and positions up to 1023, in and out of place; the
 * reference backward against central finite differences; determinism.
 *
 * Precision: the device takes cos and sin from a table computed in double
 * and rounded to float once (relative error <= u = 2^-24), then rotates in
 * float: two products and a sum, each rounded (an FMA only removes a
 * rounding). For a pair (x0, x1) the error is at most
 * 2u (|x0||c| + |x1||s|) + u |out| <= 3u |(x0, x1)|, i.e. about 1.8e-7
 * relative to the pair's norm, whatever the position. Inputs are in [-1, 1),
 * so |(x0, x1)| < sqrt(2): atol 3e-7, rtol 0, for every T (checked at
 * T = 1024). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/rope.h"
#include "ref/rope_ref.h"
#include "ref/check_f64.h"
#include "testutil.h"

static const double rope_atol = 3e-7;

/* After a launch that returned st: downloads out into got (n floats) and
 * checks it against want within atol, as CHECK_SHAPE; false if the launch failed. */
static bool check_launch(test_context *t, const char *launch, duo_status st, cl_mem out, float *got,
                         const float *want, size_t n, double atol, const char *check,
                         const char *shape)
{
    if (!test_ok(t, launch, st))
        return false;
    test_download(t, out, got, n * sizeof *got);
    char name[128];
    snprintf(name, sizeof name, "%s_%s", check, shape);
    test_close(t, name, got, want, n, atol, 0);
    return true;
}

/* One shape with a table for sequences up to max_t (>= t). */
static void check_shape(test_context *t, size_t b, size_t len, size_t heads, size_t hd,
                        size_t max_t, double theta)
{
    size_t n = b * len * heads * hd;
    duo_rope_table table;
    if (!test_ok(t, "rope table", duo_rope_table_create(t->rt, max_t, hd, theta, &table)))
        return;
    float *x = test_malloc(n * sizeof *x), *got = test_malloc(n * sizeof *got);
    float *again = test_malloc(n * sizeof *again);
    test_fill(t, x, n, -1, 1);
    double *xd = ref_to_double(x, n), *yd = test_malloc(n * sizeof *yd), *gd = test_malloc(n * sizeof *gd);
    ref_rope_forward(yd, xd, b, len, heads, hd, theta);
    ref_rope_backward(gd, xd, b, len, heads, hd, theta); /* x doubles as dy */
    float *want_y = ref_to_float(yd, n), *want_dx = ref_to_float(gd, n);
    cl_mem d_x = test_upload(t, x, n * sizeof *x), d_out = test_alloc(t, n * sizeof *x);
    char shape[64], name[128];
    snprintf(shape, sizeof shape, "b%zu_t%zu_h%zu_hd%zu", b, len, heads, hd);

    if (check_launch(t, "rope_forward", duo_rope_forward(t->rt, d_out, d_x, &table, b, len, heads),
                     d_out, got, want_y, n, rope_atol, "rope_forward_matches_reference", shape))
        /* The rotation is orthogonal: backward(forward(x)) = x. */
        check_launch(t, "rope_backward", duo_rope_backward(t->rt, d_out, d_out, &table, b, len, heads),
                     d_out, again, x, n, 2 * rope_atol, "rope_backward_inverts_forward", shape);
    check_launch(t, "rope_backward", duo_rope_backward(t->rt, d_out, d_x, &table, b, len, heads),
                 d_out, got, want_dx, n, rope_atol, "rope_backward_matches_reference", shape);
    /* In place, twice from the same input: same bytes as each other and
     * within tolerance of the reference. */
    if (check_launch(t, "rope_forward in place", duo_rope_forward(t->rt, d_x, d_x, &table, b, len, heads),
                     d_x, got, want_y, n, rope_atol, "rope_forward_in_place_matches_reference", shape)) {
        duo_buffer_write(t->rt, d_x, 0, n * sizeof *x, x);
        if (test_ok(t, "rope_forward in place", duo_rope_forward(t->rt, d_x, d_x, &table, b, len, heads))) {
            test_download(t, d_x, again, n * sizeof *again);
            snprintf(name, sizeof name, "rope_forward_deterministic_%s", shape);
            test_same_bytes(t, name, got, again, n * sizeof *got);
        }
    }
    duo_buffer_write(t->rt, d_x, 0, n * sizeof *x, x);
    check_launch(t, "rope_backward in place", duo_rope_backward(t->rt, d_x, d_x, &table, b, len, heads),
                 d_x, got, want_dx, n, rope_atol, "rope_backward_in_place_matches_reference", shape);
    duo_buffer_release(&d_x);
    duo_buffer_release(&d_out);
    duo_rope_table_release(&table);
    free(x), free(got), free(again), free(xd), free(yd), free(gd), free(want_y), free(want_dx);
}

/* L = sum(RoPE(x) * r) is linear in x, so the central difference (double,
 * step 1e-3) is exact up to rounding ~1e-13: atol and rtol 1e-9 against the
 * reference backward with dy = r. */
static void check_finite_differences(test_context *t, size_t b, size_t len, size_t heads,
                                     size_t hd)
{
    const double theta = 10000, h = 1e-3;
    size_t n = b * len * heads * hd;
    float *xf = test_malloc(n * sizeof *xf), *rf = test_malloc(n * sizeof *rf);
    test_fill(t, xf, n, -1, 1);
    test_fill(t, rf, n, -1, 1);
    double *x = ref_to_double(xf, n), *r = ref_to_double(rf, n), *y = test_malloc(n * sizeof *y);
    double *dx = test_malloc(n * sizeof *dx);
    double *want = test_malloc(n * sizeof *want);
    ref_rope_backward(dx, r, b, len, heads, hd, theta);
    for (size_t i = 0; i < n; i++) {
        double keep = x[i], loss[2];
        for (int side = 0; side < 2; side++) {
            x[i] = keep + (side ? -h : h);
            ref_rope_forward(y, x, b, len, heads, hd, theta);
            loss[side] = 0;
            for (size_t k = 0; k < n; k++)
                loss[side] += y[k] * r[k];
        }
        x[i] = keep;
        want[i] = (loss[0] - loss[1]) / (2 * h);
    }
    char name[96];
    snprintf(name, sizeof name, "rope_reference_backward_matches_finite_differences_hd%zu", hd);
    test_close_f64(t, name, dx, want, n, 1e-9, 1e-9);
    free(xf), free(rf), free(x), free(r), free(y), free(dx), free(want);
}

static void check_arguments(test_context *t)
{
    duo_rope_table table;
    duo_status st = duo_rope_table_create(t->rt, 8, 15, 10000, &table);
    test_true(t, "rope_table_rejects_odd_head_dim", st == DUO_ERR_INVALID_ARGUMENT, duo_last_error());
    if (!test_ok(t, "rope table", duo_rope_table_create(t->rt, 8, 16, 10000, &table)))
        return;
    cl_mem buffer = test_alloc(t, 9 * 16 * sizeof(float));
    st = duo_rope_forward(t->rt, buffer, buffer, &table, 1, 9, 1);
    test_true(t, "rope_forward_rejects_sequence_longer_than_table",
              st == DUO_ERR_INVALID_ARGUMENT, duo_last_error());
    duo_buffer_release(&buffer);
    duo_rope_table_release(&table);
}

static void run(test_context *t)
{
    check_arguments(t);
    check_finite_differences(t, 2, 3, 2, 16);
    check_finite_differences(t, 1, 5, 1, 24);
    check_shape(t, 1, 1, 2, 16, 1, 10000);
    check_shape(t, 1, 7, 3, 24, 7, 10000);
    check_shape(t, 2, 5, 1, 16, 64, 10000); /* table longer than the sequence */
    if (t->small)
        return;
    check_shape(t, 3, 43, 4, 16, 43, 10000); /* 129 rows */
    check_shape(t, 1, 129, 4, 24, 256, 10000);
    check_shape(t, 1, 1024, 2, 24, 1024, 10000); /* positions up to 1023 */
    check_shape(t, 2, 1024, 1, 16, 1024, 500000);
    check_shape(t, 16, 256, 4, 64, 256, 10000);  /* the quickstart model's q */
}

int main(int argc, char **argv) { return test_main(argc, argv, "op_rope", run); }
