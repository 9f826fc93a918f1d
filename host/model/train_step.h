/* One optimizer step of stage-1 training on the device: forward, backward,
 * global gradient norm, clipping and AdamW (weight decay on the matrices and
 * the embedding, not on the norm gains). With gradient shards (several ranks,
 * include/duocl/comm.h, or train.grad_shards > 1) each rank runs forward and
 * backward on its shards of the global batch one by one and the shards'
 * gradients are added in shard order through host memory before the
 * update. */
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
 * host copies of this rank's gradient shards, host_slots of n_params floats
 * (allocated on first use). */
typedef struct duo_optimizer {
    cl_mem norm_scratch;
    float *host_grads;
    int host_slots;
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

/* The same step over gradient shards (duo_train_config.grad_shards): the
 * global batch is cut into `shards` equal shards, rank r computing shards
 * r * local .. r * local + local - 1 (local = shards / ranks) one after
 * another. For each of its shards, in order, a rank sets the shard's batch
 * in `a` and calls duo_train_shard_pass with slot j (0..local-1, slots =
 * local): forward, backward, and for every slot but the last a copy of the
 * gradients to host memory. Then duo_train_step_shards with the local
 * shards' losses loss[0..local) and every shard's unmasked targets
 * valid[0..shards): the loss is the global batch's mean (each shard's loss
 * x valid in doubles, added in shard order); each shard's gradient is
 * multiplied by valid / (all shards' valid), and the shards are added in
 * shard order (duo_comm_sum_shards, in buckets of DUO_GRAD_BUCKET_FLOATS
 * whose reads run while earlier ones are summed), so the gradient is the
 * global mean's and its bits are the same whatever the number of ranks;
 * then the norm, clipping and AdamW as in duo_train_step, so every rank's
 * parameters stay bit-identical. A non-finite global loss fails on every
 * rank at once. One shard on one rank is duo_train_step's arithmetic but
 * not its path: callers use duo_train_step then. */
enum { DUO_GRAD_BUCKET_FLOATS = 1 << 20 };
duo_status duo_train_shard_pass(duo_model *m, duo_activations *a, duo_optimizer *o, int slot,
                                int slots, float *loss);
duo_status duo_train_step_shards(duo_model *m, duo_optimizer *o, const duo_train_config *train,
                                 long step, int shards, const float *loss, const uint64_t *valid,
                                 duo_step_result *out);

/* FNV-1a of the parameter buffer's bytes (read to the host). */
duo_status duo_model_params_hash(duo_model *m, uint64_t *out);

#endif
