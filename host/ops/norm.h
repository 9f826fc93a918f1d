/* RMSNorm on the device (kernels/norm.cl): y = x * rstd * w per row, with
 * rstd = 1 / sqrt(mean(x^2) + eps). Shapes: x, y, dy, dx (N, C) row-major;
 * w, dw (C); rstd (N). The caller owns every buffer; launchers allocate
 * nothing. Results are deterministic (fixed reduction order, no atomics). */
#ifndef DUOCL_OPS_NORM_H
#define DUOCL_OPS_NORM_H

#include "device/runtime_internal.h"

/* Rows per block of the weight-gradient partial sums. */
enum { DUO_RMSNORM_ROWS_PER_BLOCK = 16 };

/* y = RMSNorm(x; w) and rstd (N), saved for backward. y must not alias x. */
duo_status duo_rmsnorm_forward(duo_runtime *rt, cl_mem y, cl_mem rstd, cl_mem x, cl_mem w,
                               size_t n, size_t c, float eps);

/* Floats of scratch that duo_rmsnorm_backward needs for N rows of width C:
 * one row of partial weight gradients per block of rows. */
size_t duo_rmsnorm_backward_scratch_floats(size_t n, size_t c);

/* dx (N, C) and dw (C) from dy, x, w and forward's rstd; both overwritten
 * (accumulate elsewhere if needed). scratch holds at least
 * duo_rmsnorm_backward_scratch_floats(n, c) floats; its content is clobbered. */
duo_status duo_rmsnorm_backward(duo_runtime *rt, cl_mem dx, cl_mem dw, cl_mem dy, cl_mem x,
                                cl_mem w, cl_mem rstd, cl_mem scratch, size_t n, size_t c);

#endif
