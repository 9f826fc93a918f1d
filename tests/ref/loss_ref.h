/* Plain-C reference of kernels/loss.cl, in double internally. Shapes as in
 * host/ops/loss.h: logits (N, V) row-major, targets (N) int32 with negative =
 * masked, losses (N). */
#ifndef DUOCL_TESTS_LOSS_REF_H
#define DUOCL_TESTS_LOSS_REF_H

#include <stddef.h>
#include <stdint.h>

/* logsumexp(x) - x[target] for one row of V doubles (target in [0, V)). */
double ref_cross_entropy_row(const double *x, size_t V, int32_t target);

/* Per-token losses; 0 for masked tokens. */
void ref_cross_entropy_forward(const float *logits, const int32_t *targets, float *losses,
                               size_t N, size_t V);

/* dlogits = (softmax(logits) - onehot(target)) * scale per row; 0 for masked rows. */
void ref_cross_entropy_backward(const float *logits, const int32_t *targets, float *dlogits,
                                size_t N, size_t V, float scale);

/* Mean of losses over valid tokens (0 when none) and their count. */
double ref_cross_entropy_mean(const float *losses, const int32_t *targets, size_t N,
                              int32_t *count);

#endif
