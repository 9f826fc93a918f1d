/* Plain-C reference of kernels/residual.cl. Every kernels/<family>.cl has a
 * tests/ref/<family>_ref.{h,c}, written for clarity, not speed. */
#ifndef DUOCL_TESTS_RESIDUAL_REF_H
#define DUOCL_TESTS_RESIDUAL_REF_H

#include <stddef.h>

void ref_residual_add(float *out, const float *a, const float *b, size_t n);
void ref_scaled_add(float *y, const float *x, float alpha, size_t n);

#endif
