#include <math.h>

#include "ffn_ref.h"

/* 1 / (1 + exp(-x)) in double: exp(-x) overflows only below x = -709, where
 * the result is 0 anyway (1 / inf). */
static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

void ref_swiglu_forward(double *h, const double *a, const double *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h[i] = a[i] * sigmoid(a[i]) * b[i];
}

/* silu'(x) = s + x s (1 - s), s = sigmoid(x). */
void ref_swiglu_backward(double *da, double *db, const double *dh, const double *a,
                         const double *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double s = sigmoid(a[i]);
        da[i] = dh[i] * b[i] * (s + a[i] * s * (1.0 - s));
        db[i] = dh[i] * a[i] * s;
    }
}
