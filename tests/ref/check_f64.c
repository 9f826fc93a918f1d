#include <math.h>
#include <stdio.h>

#include "check_f64.h"

double *ref_to_double(const float *x, size_t n)
{
    double *d = test_malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

float *ref_to_float(const double *x, size_t n)
{
    float *f = test_malloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)x[i];
    return f;
}

bool test_close_f64(test_context *t, const char *name, const double *got, const double *want,
                    size_t n, double atol, double rtol)
{
    size_t worst = 0;
    double worst_excess = -INFINITY, worst_error = 0;
    for (size_t i = 0; i < n; i++) {
        double error = fabs(got[i] - want[i]), excess = error - (atol + rtol * fabs(want[i]));
        if (isnan(excess))
            excess = INFINITY;
        if (excess > worst_excess) {
            worst_excess = excess;
            worst_error = error;
            worst = i;
        }
    }
    char detail[160];
    bool ok = n == 0 || worst_excess <= 0;
    if (ok)
        snprintf(detail, sizeof detail, "worst error %.3g (atol %.1g, rtol %.1g)", worst_error, atol,
                 rtol);
    else
        snprintf(detail, sizeof detail, "at [%zu]: got %.17g want %.17g, error %.3g > atol %.1g + rtol %.1g",
                 worst, n ? got[worst] : 0.0, n ? want[worst] : 0.0, worst_error, atol, rtol);
    return test_true(t, name, ok, detail);
}
