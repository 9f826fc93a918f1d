/* One optimizer step of stage-1 training on the device: forward, backward,
 * global gradient norm, clipping and AdamW (weight decay on the matrices and
 * the embedding, not on the norm gains). With several ranks
 * (include/duocl/comm.h) each rank runs forward and backward on its share of
 * the global batch and the gradients are summed over ranks through host
 * memory before the update. */
#ifndef DUOCL_HOST_TRAIN_STEP_H
#define DUOCL_HOST_TRAIN_STEP_H

#include <stdint.h>

#include "duocl/config.h"
#include "duocl/train.h"
#include "model.h"

/* duo_step_result (what a step did) is public, in duocl/train.h. */

/* Where the time of the ranks' gradient sum went, summed over steps. */
typedef struct duo_grad_sync_stats {
    uint64_t steps, buckets, bytes; /* bytes: gradient bytes summed per rank */
    double read_s, sum_s, write_s;  /* device -> host, over ranks, host -> device */
} duo_grad_sync_stats;

/* Scratch for the gradient norm; created once per model. host_grads: the
 * host copy of the gradients for the ranks' sum (allocated on first use). */
typedef struct duo_optimizer {
    cl_mem norm_scratch;
    float *host_grads;
    duo_grad_sync_stats sync;
} duo_optimizer;

duo_status duo_optimizer_create(duo_model *m, duo_optimizer *out);
void duo_optimizer_destroy(duo_optimizer *o);

/* Runs one step on the batch already set in `a` (duo_model_set_batch*).
 * `step` counts from 0 (the schedule's step; AdamW's bias correction uses
 * step + 1). A loss or gradient norm that is NaN or infinite stops before
 * the parameters change: DUO_ERR_NUMERIC naming the step. */
duo_status duo_train_step(duo_model *m, duo_activations *a, duo_optimizer *o,
                          const duo_train_config *train, long step, duo_step_result *out);

/* The same step with every rank holding its share of the global batch in
 * `a`, `valid` of its targets unmasked. Every rank calls it at the same step.
 * The loss is the global batch's mean (the ranks' losses weighted by their
 * valid targets, summed in doubles); the gradient buffer is read back in
 * buckets of DUO_GRAD_BUCKET_FLOATS, each multiplied by valid / (all ranks'
 * valid), summed over ranks in rank order (duo_comm_sum_floats) and written
 * back (the reads of later buckets run while earlier ones are summed), so it is the gradient of the global-batch mean loss and the same bits
 * on every rank; then the norm, clipping and AdamW as in duo_train_step, so
 * every rank's parameters stay bit-identical. A non-finite global loss fails
 * on every rank at once. With one rank this is duo_train_step. */
enum { DUO_GRAD_BUCKET_FLOATS = 1 << 20 };
duo_status duo_train_step_ranks(duo_model *m, duo_activations *a, duo_optimizer *o,
                                const duo_train_config *train, long step, uint64_t valid,
                                duo_step_result *out);

/* FNV-1a of the parameter buffer's bytes (read to the host). */
duo_status duo_model_params_hash(duo_model *m, uint64_t *out);

#endif
