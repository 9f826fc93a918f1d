/* Plain-C reference of kernels/ffn.cl (the SwiGLU gate), in double:
 * h = silu(a) * b, silu(x) = x / (1 + exp(-x)). Flat arrays of n = M*F. */
#ifndef DUOCL_TESTS_FFN_REF_H
#define DUOCL_TESTS_FFN_REF_H

#include <stddef.h>

void ref_swiglu_forward(double *h, const double *a, const double *b, size_t n);

/* da = dh * b * silu'(a), db = dh * silu(a) (overwritten). */
void ref_swiglu_backward(double *da, double *db, const double *dh, const double *a,
                         const double *b, size_t n);

#endif
