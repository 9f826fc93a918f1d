/* The learning-rate schedule of a training run.
 *
 * `step` is the 0-based index of the optimizer step about to be taken
 * (0 .. steps-1). With W = warmup and S = steps:
 *
 *   step <  W:  lr * (step + 1) / W           linear warm-up from 0 (the first
 *                                              step already moves the weights)
 *   step >= W:  constant: lr
 *               cosine:   min_lr + (lr - min_lr) * (1 + cos(pi * p)) / 2,
 *                         p = (step - W) / (S - 1 - W), clamped to [0, 1]
 *                         (if S - 1 - W <= 0: p = 0 at step W, 1 after it)
 *
 * so the first step after warm-up uses lr and the last step (S - 1) uses
 * exactly min_lr. Steps past S - 1 stay at min_lr. Computed in double and
 * rounded once to float by the caller if needed, so every device and the
 * PyTorch parity script see the same value. */
#ifndef DUOCL_SCHEDULE_H
#define DUOCL_SCHEDULE_H

#include "duocl/config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The learning rate of step `step` (>= 0) under train's schedule. */
double duo_lr_at(const duo_train_config *train, long step);

#ifdef __cplusplus
}
#endif
#endif
