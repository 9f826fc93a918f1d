/* norm.cl (RMSNorm) against its double reference at sizes that are not
 * multiples of the work-group size (rows 1, 7, 17, 129, 300; widths 48, 100,
 * 256, 2560), the reference backward against central finite differences, and
 * determinism (two runs, same bytes).
 *
 * Inputs: x in [-2, 2), w in [0.5, 1.5), dy in [-1, 1), eps 1e-5.
 * Tolerances (u = 2^-24; observed errors are 5-20x below them on PoCL):
 * the device sums squares in float (a few terms per work-item, then a tree:
 * relative error about (C/WG + log2 WG) u, ~10 u), and rsqrt (2 ulp), the
 * division by C and two products add about 5 u, so rstd and y get rtol 1e-6
 * (about 17 u), and atol 1e-7 for y entries near zero.
 * dx = r (w dy - x k) cancels: its error is relative to the size of the two
 * terms (|r w dy| + |r x k| < 8 here), not to dx; about u times that with
 * k's ~10 u: atol 1e-6, rtol 1e-6.
 * dw sums N terms of size < 2 r in float, 16 per block and then one per
 * block; the error grows with (16 + N/16) u sum|terms| in the worst case and
 * like its square root typically: for N <= 300, atol 1e-5, rtol 1e-6. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/norm.h"
#include "ref/norm_ref.h"
#include "ref/check_f64.h"
#include "testutil.h"

static const float eps = 1e-5f;

/* Random inputs and the double reference's forward and backward on them. */
typedef struct inputs {
    float *x, *w, *dy;          /* (n, c) in [-2, 2), (c) in [0.5, 1.5), (n, c) in [-1, 1) */
    double *xd, *wd, *dyd;      /* the same in double */
    double *y, *rstd, *dx, *dw; /* the reference: (n, c), (n), (n, c), (c) */
} inputs;

static inputs make_inputs(test_context *t, size_t n, size_t c, double epsilon)
{
    inputs in = {.x = test_malloc(n * c * sizeof(float)), .w = test_malloc(c * sizeof(float)),
                 .dy = test_malloc(n * c * sizeof(float))};
    test_fill(t, in.x, n * c, -2, 2);
    test_fill(t, in.w, c, 0.5f, 1.5f);
    test_fill(t, in.dy, n * c, -1, 1);
    in.xd = ref_to_double(in.x, n * c);
    in.wd = ref_to_double(in.w, c);
    in.dyd = ref_to_double(in.dy, n * c);
    in.y = test_malloc(n * c * sizeof(double));
    in.rstd = test_malloc(n * sizeof(double));
    in.dx = test_malloc(n * c * sizeof(double));
    in.dw = test_malloc(c * sizeof(double));
    ref_rmsnorm_forward(in.y, in.rstd, in.xd, in.wd, n, c, epsilon);
    ref_rmsnorm_backward(in.dx, in.dw, in.dyd, in.xd, in.wd, in.rstd, n, c);
    return in;
}

static void free_inputs(inputs *in)
{
    free(in->x), free(in->w), free(in->dy), free(in->xd), free(in->wd), free(in->dyd);
    free(in->y), free(in->rstd), free(in->dx), free(in->dw);
}

typedef struct device_run {
    float *y, *rstd, *dx, *dw;
} device_run;

/* Forward then backward on the device; false if a launch failed. */
static bool run_device(test_context *t, cl_mem d_x, cl_mem d_w, cl_mem d_dy, size_t n, size_t c,
                       device_run *out)
{
    cl_mem d_y = test_alloc(t, n * c * sizeof(float)), d_rstd = test_alloc(t, n * sizeof(float));
    cl_mem d_dx = test_alloc(t, n * c * sizeof(float)), d_dw = test_alloc(t, c * sizeof(float));
    cl_mem scratch = test_alloc(t, duo_rmsnorm_backward_scratch_floats(n, c) * sizeof(float));
    bool ok = test_ok(t, "rmsnorm_forward", duo_rmsnorm_forward(t->rt, d_y, d_rstd, d_x, d_w, n, c, eps)) &&
              test_ok(t, "rmsnorm_backward", duo_rmsnorm_backward(t->rt, d_dx, d_dw, d_dy, d_x, d_w,
                                                                  d_rstd, scratch, n, c));
    if (ok) {
        out->y = test_malloc(n * c * sizeof(float));
        out->rstd = test_malloc(n * sizeof(float));
        out->dx = test_malloc(n * c * sizeof(float));
        out->dw = test_malloc(c * sizeof(float));
        test_download(t, d_y, out->y, n * c * sizeof(float));
        test_download(t, d_rstd, out->rstd, n * sizeof(float));
        test_download(t, d_dx, out->dx, n * c * sizeof(float));
        test_download(t, d_dw, out->dw, c * sizeof(float));
    }
    duo_buffer_release(&d_y);
    duo_buffer_release(&d_rstd);
    duo_buffer_release(&d_dx);
    duo_buffer_release(&d_dw);
    duo_buffer_release(&scratch);
    return ok;
}

static void free_run(device_run *r)
{
    free(r->y);
    free(r->rstd);
    free(r->dx);
    free(r->dw);
}

static void check_size(test_context *t, size_t n, size_t c)
{
    inputs in = make_inputs(t, n, c, eps);
    float *want_y = ref_to_float(in.y, n * c), *want_rstd = ref_to_float(in.rstd, n);
    float *want_dx = ref_to_float(in.dx, n * c), *want_dw = ref_to_float(in.dw, c);

    cl_mem d_x = test_upload(t, in.x, n * c * sizeof(float));
    cl_mem d_w = test_upload(t, in.w, c * sizeof(float));
    cl_mem d_dy = test_upload(t, in.dy, n * c * sizeof(float));
    device_run first = {0}, second = {0};
    char name[96];
    if (run_device(t, d_x, d_w, d_dy, n, c, &first)) {
        snprintf(name, sizeof name, "rmsnorm_forward_matches_reference_n%zu_c%zu", n, c);
        test_close(t, name, first.y, want_y, n * c, 1e-7, 1e-6);
        snprintf(name, sizeof name, "rmsnorm_forward_rstd_matches_reference_n%zu_c%zu", n, c);
        test_close(t, name, first.rstd, want_rstd, n, 0, 1e-6);
        snprintf(name, sizeof name, "rmsnorm_backward_dx_matches_reference_n%zu_c%zu", n, c);
        test_close(t, name, first.dx, want_dx, n * c, 1e-6, 1e-6);
        snprintf(name, sizeof name, "rmsnorm_backward_dw_matches_reference_n%zu_c%zu", n, c);
        test_close(t, name, first.dw, want_dw, c, 1e-5, 1e-6);
        if (run_device(t, d_x, d_w, d_dy, n, c, &second)) {
            snprintf(name, sizeof name, "rmsnorm_forward_y_deterministic_n%zu_c%zu", n, c);
            test_same_bytes(t, name, first.y, second.y, n * c * sizeof(float));
            snprintf(name, sizeof name, "rmsnorm_forward_rstd_deterministic_n%zu_c%zu", n, c);
            test_same_bytes(t, name, first.rstd, second.rstd, n * sizeof(float));
            snprintf(name, sizeof name, "rmsnorm_backward_dx_deterministic_n%zu_c%zu", n, c);
            test_same_bytes(t, name, first.dx, second.dx, n * c * sizeof(float));
            snprintf(name, sizeof name, "rmsnorm_backward_dw_deterministic_n%zu_c%zu", n, c);
            test_same_bytes(t, name, first.dw, second.dw, c * sizeof(float));
        }
    }
    free_run(&first);
    free_run(&second);
    duo_buffer_release(&d_x);
    duo_buffer_release(&d_w);
    duo_buffer_release(&d_dy);
    free_inputs(&in);
    free(want_y), free(want_rstd), free(want_dx), free(want_dw);
}

/* L = sum(y * r) for random r, in double. */
static double loss(const double *x, const double *w, const double *r, size_t n, size_t c,
                   double fd_eps, double *y, double *rstd)
{
    ref_rmsnorm_forward(y, rstd, x, w, n, c, fd_eps);
    double sum = 0;
    for (size_t i = 0; i < n * c; i++)
        sum += y[i] * r[i];
    return sum;
}

/* Central difference of loss() in one entry of p, step h. */
static double central(double *p, size_t i, double h, const double *x, const double *w,
                      const double *r, size_t n, size_t c, double fd_eps, double *y, double *rstd)
{
    double keep = p[i];
    p[i] = keep + h;
    double plus = loss(x, w, r, n, c, fd_eps, y, rstd);
    p[i] = keep - h;
    double minus = loss(x, w, r, n, c, fd_eps, y, rstd);
    p[i] = keep;
    return (plus - minus) / (2 * h);
}

/* The reference backward (with dy = r) against central differences in double,
 * step 1e-5: truncation error ~h^2 |L'''| ~ 1e-9, rounding ~1e-16 |L| / h;
 * atol and rtol 1e-7. eps is large (0.1) so its term is exercised. */
static void check_finite_differences(test_context *t, size_t n, size_t c)
{
    const double fd_eps = 0.1, h = 1e-5;
    inputs in = make_inputs(t, n, c, fd_eps); /* dy doubles as r */
    double *x = in.xd, *w = in.wd, *r = in.dyd, *y = in.y, *rstd = in.rstd;
    double *want = test_malloc(n * c * sizeof *want);
    for (size_t i = 0; i < n * c; i++)
        want[i] = central(x, i, h, x, w, r, n, c, fd_eps, y, rstd);
    char name[96];
    snprintf(name, sizeof name, "rmsnorm_reference_dx_matches_finite_differences_n%zu_c%zu", n, c);
    test_close_f64(t, name, in.dx, want, n * c, 1e-7, 1e-7);
    for (size_t j = 0; j < c; j++)
        want[j] = central(w, j, h, x, w, r, n, c, fd_eps, y, rstd);
    snprintf(name, sizeof name, "rmsnorm_reference_dw_matches_finite_differences_n%zu_c%zu", n, c);
    test_close_f64(t, name, in.dw, want, c, 1e-7, 1e-7);
    free_inputs(&in);
    free(want);
}

static void run(test_context *t)
{
    check_finite_differences(t, 7, 48);
    check_size(t, 1, 48);
    check_size(t, 17, 100); /* two row blocks for dw */
    if (t->small)
        return;
    check_size(t, 7, 100);
    check_size(t, 129, 48);
    check_size(t, 129, 256);
    check_size(t, 300, 100);
    check_size(t, 3, 2560); /* the paper's width: 40 columns per work-item */
}

int main(int argc, char **argv) { return test_main(argc, argv, "op_norm", run); }
