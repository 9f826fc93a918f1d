/* Plain-C reference of kernels/norm.cl, in double throughout (tests round
 * to float to compare with the device, and use the double results directly
 * for finite differences). x, y, dy, dx (N, C) row-major; w, dw (C); rstd (N). */
#ifndef DUOCL_TESTS_NORM_REF_H
#define DUOCL_TESTS_NORM_REF_H

#include <stddef.h>

/* y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps) per row. */
void ref_rmsnorm_forward(double *y, double *rstd, const double *x, const double *w, size_t n,
                         size_t c, double eps);

/* dx and dw (overwritten) from dy, x, w and the forward's rstd. */
void ref_rmsnorm_backward(double *dx, double *dw, const double *dy, const double *x,
                          const double *w, const double *rstd, size_t n, size_t c);

#endif
