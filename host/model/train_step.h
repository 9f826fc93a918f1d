/* One optimizer step of stage-1 training on the device: forward, backward,
 * global gradient norm, clipping and AdamW (weight decay on the matrices and
 * the embedding, not on the norm gains). */
#ifndef DUOCL_HOST_TRAIN_STEP_H
#define DUOCL_HOST_TRAIN_STEP_H

#include "duocl/config.h"
#include "duocl/train.h"
#include "model.h"

/* duo_step_result (what a step did) is public, in duocl/train.h. */

/* Scratch for the gradient norm; created once per model. */
typedef struct duo_optimizer {
    cl_mem norm_scratch;
} duo_optimizer;

duo_status duo_optimizer_create(duo_model *m, duo_optimizer *out);
void duo_optimizer_destroy(duo_optimizer *o);

/* Runs one step on the batch already set in `a` (duo_model_set_batch*).
 * `step` counts from 0 (the schedule's step; AdamW's bias correction uses
 * step + 1). A loss or gradient norm that is NaN or infinite stops before
 * the parameters change: DUO_ERR_NUMERIC naming the step. */
duo_status duo_train_step(duo_model *m, duo_activations *a, duo_optimizer *o,
                          const duo_train_config *train, long step, duo_step_result *out);

#endif
