/* Plain-C reference of kernels/rope.cl, in double throughout: angles
 * t * theta^(-2i/hd) and the rotation. in, out, dy, dx: (B, T, H, hd)
 * row-major; out may alias in, dx may alias dy. */
#ifndef DUOCL_TESTS_ROPE_REF_H
#define DUOCL_TESTS_ROPE_REF_H

#include <stddef.h>

void ref_rope_forward(double *out, const double *in, size_t b, size_t t, size_t heads,
                      size_t head_dim, double theta);

/* dx = rotation of dy by the negative angle (the transpose of the forward). */
void ref_rope_backward(double *dx, const double *dy, size_t b, size_t t, size_t heads,
                       size_t head_dim, double theta);

#endif
