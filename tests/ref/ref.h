/* Plain-C references of every device op, written for clarity, in float with
 * double accumulators where a sum is long. One section per kernels/ file. */
#ifndef DUOCL_TESTS_REF_H
#define DUOCL_TESTS_REF_H

#include <stddef.h>

/* residual.cl */
void ref_residual_add(float *out, const float *a, const float *b, size_t n);
void ref_scaled_add(float *y, const float *x, float alpha, size_t n);

#endif
