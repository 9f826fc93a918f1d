/* Plain-C reference of kernels/loss.cl's token_stats, in double inside:
 * per row of logits (N, V), the loss on the target (0 when masked), the
 * predictive entropy -sum p log p and the max probability of softmax(row). */
#ifndef DUOCL_TESTS_TOKEN_STATS_REF_H
#define DUOCL_TESTS_TOKEN_STATS_REF_H

#include <stddef.h>
#include <stdint.h>

/* One row of V floats: entropy (nats) and max probability, by the textbook
 * formulas p_i = exp(x_i - max) / sum, H = -sum_i p_i log p_i (p_i = 0 terms
 * skipped), max p = max_i p_i. */
void ref_token_stats_row(const float *x, size_t V, double *entropy, double *max_prob);

/* Every row; losses as ref_cross_entropy_forward. */
void ref_token_stats(const float *logits, const int32_t *targets, float *losses, float *entropy,
                     float *max_prob, size_t N, size_t V);

#endif
