/* Plain-C reference of causal multi-head attention (kernels/attention.cl and
 * the GEMMs around it), in double precision throughout: clear, not fast.
 * q, k, v, y and the gradients are (B, T, H*hd) row-major, head h in columns
 * [h*hd, (h+1)*hd); query t attends to keys 0..t with scale 1/sqrt(hd). */
#ifndef DUOCL_TESTS_ATTENTION_REF_H
#define DUOCL_TESTS_ATTENTION_REF_H

#include <stddef.h>

void ref_attention_forward(double *y, const double *q, const double *k, const double *v, size_t B,
                           size_t T, size_t H, size_t hd);

/* dq, dk, dv (overwritten): gradients of sum(y * dy); recomputes the softmax. */
void ref_attention_backward(double *dq, double *dk, double *dv, const double *dy, const double *q,
                            const double *k, const double *v, size_t B, size_t T, size_t H,
                            size_t hd);

#endif
