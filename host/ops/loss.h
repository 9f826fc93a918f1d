/* Softmax cross-entropy on the device (kernels/loss.cl): per-token losses, their
 * mean over valid tokens, and the gradient with respect to the logits.
 *
 * Shapes: logits and dlogits (N, V) row-major floats; targets (N) int32, where a
 * negative target masks the token (loss 0, gradient row 0, excluded from the
 * mean and the count); losses (N) floats, in nats. A target >= V is a caller bug:
 * that row's loss and gradient come out NaN. The caller owns every buffer. */
#ifndef DUOCL_OPS_LOSS_H
#define DUOCL_OPS_LOSS_H

#include <stdint.h>

#include "device/runtime_internal.h"

/* losses[t] = logsumexp(logits[t, :]) - logits[t, targets[t]], computed with the
 * row maximum subtracted (stable for any logits whose exp(x - max) sum is finite). */
duo_status duo_cross_entropy_forward(duo_runtime *rt, cl_mem logits, cl_mem targets, cl_mem losses,
                                     size_t N, size_t V);

/* dlogits[t, :] = (softmax(logits[t, :]) - onehot(targets[t])) * scale, 0 for a
 * masked row; scale is usually 1 / (valid token count). dlogits may be the same
 * buffer as logits (in place); otherwise they must not overlap. */
duo_status duo_cross_entropy_backward(duo_runtime *rt, cl_mem logits, cl_mem targets,
                                      cl_mem dlogits, size_t N, size_t V, float scale);

/* Per-token statistics of softmax(logits[t, :]) in one pass over each row:
 *   losses[t]   the same bits as duo_cross_entropy_forward (0 masked, NaN for
 *               a target >= V)
 *   entropy[t]  predictive entropy -sum_i p_i log p_i, nats (0..log V)
 *   max_prob[t] max_i p_i (1/V..1)
 * Entropy and max_prob need no label and are written for masked rows too.
 * Every output is (N) floats; N = 0 launches nothing. */
duo_status duo_token_stats(duo_runtime *rt, cl_mem logits, cl_mem targets, cl_mem losses,
                           cl_mem entropy, cl_mem max_prob, size_t N, size_t V);

/* The mean's result: exactly the 8 bytes the kernel writes to the result buffer. */
typedef struct duo_cross_entropy_mean_result {
    float mean;    /* mean loss over valid tokens; 0 when there are none */
    int32_t count; /* number of valid (target >= 0) tokens */
} duo_cross_entropy_mean_result;

/* Bytes of scratch duo_cross_entropy_mean needs for N tokens; never shrinks as N
 * grows, so a buffer sized for the largest N serves every smaller one. */
size_t duo_cross_entropy_mean_scratch_bytes(const duo_runtime *rt, size_t N);

/* Mean of losses over valid tokens and their count, by a fixed two-pass tree
 * (same inputs, same bits). Writes sizeof(duo_cross_entropy_mean_result) bytes
 * at the start of `result` (a device buffer, so evaluation can stay on the
 * device); when `host` is not NULL also reads them back into *host (blocking).
 * scratch: at least duo_cross_entropy_mean_scratch_bytes(rt, N) bytes. */
duo_status duo_cross_entropy_mean(duo_runtime *rt, cl_mem losses, cl_mem targets, size_t N,
                                  cl_mem scratch, cl_mem result,
                                  duo_cross_entropy_mean_result *host);

#endif
