/* One stage-1 training step on the device, on one rank or summed over ranks. */
#include <math.h>
#include <stdlib.h>

#include "duocl/schedule.h"
#include "base/clock.h"
#include "base/comm.h"
#include "base/error.h"
#include "base/hash.h"
#include "ops/optim.h"
#include "train_step.h"

static duo_grad_span whole_buffer(const duo_model *m)
{
    /* The alignment gaps between tensors are zero and add nothing. */
    return (duo_grad_span){m->grads, 0, m->n_params};
}

duo_status duo_optimizer_create(duo_model *m, duo_optimizer *out)
{
    *out = (duo_optimizer){0};
    duo_grad_span span = whole_buffer(m);
    return duo_buffer_create(m->rt, duo_grad_norm_scratch_bytes(m->rt, &span, 1),
                             &out->norm_scratch);
}

void duo_optimizer_destroy(duo_optimizer *o)
{
    duo_buffer_release(&o->norm_scratch);
    free(o->host_grads);
    o->host_grads = NULL;
    o->host_slots = 0;
}

/* Norm, clipping and AdamW on the gradients in m->grads. */
static duo_status update(duo_model *m, duo_optimizer *o, const duo_train_config *train, long step,
                         duo_step_result *out)
{
    duo_grad_span span = whole_buffer(m);
    DUO_TRY(duo_grad_norm(m->rt, &span, 1, o->norm_scratch, &out->grad_norm));
    if (!isfinite(out->grad_norm))
        return duo_fail(DUO_ERR_NUMERIC, "the gradient norm is %g at step %ld (loss %g)",
                        (double)out->grad_norm, step, (double)out->loss);
    out->clip_factor = duo_clip_factor(out->grad_norm, (float)train->grad_clip);
    out->lr = duo_lr_at(train, step);
    duo_adamw_hparams h = {.lr = out->lr, .beta1 = train->beta1, .beta2 = train->beta2,
                           .eps = train->eps, .weight_decay = train->weight_decay,
                           .step = step + 1};
    DUO_TRY(duo_adamw_step(m->rt, m->params, m->grads, m->adam_m, m->adam_v, 0, m->n_decay_params,
                           &h, out->clip_factor));
    h.weight_decay = 0.0;
    return duo_adamw_step(m->rt, m->params, m->grads, m->adam_m, m->adam_v, m->n_decay_params,
                          m->n_params - m->n_decay_params, &h, out->clip_factor);
}

duo_status duo_train_step(duo_model *m, duo_activations *a, duo_optimizer *o,
                          const duo_train_config *train, long step, duo_step_result *out)
{
    DUO_TRY(duo_model_forward(m, a, &out->loss, NULL));
    if (!isfinite(out->loss))
        return duo_fail(DUO_ERR_NUMERIC, "the loss is %g at step %ld: training diverged",
                        (double)out->loss, step);
    DUO_TRY(duo_model_backward(m, a));
    return update(m, o, train, step, out);
}

static duo_status reserve_host(duo_optimizer *o, size_t n, int slots)
{
    if (o->host_grads && o->host_slots >= slots)
        return DUO_OK;
    float *p = realloc(o->host_grads, (size_t)slots * n * sizeof(float));
    if (!p)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%d x %zu floats for the host copies of the "
                        "gradient shards", slots, n);
    o->host_grads = p;
    o->host_slots = slots;
    return DUO_OK;
}

duo_status duo_train_shard_pass(duo_model *m, duo_activations *a, duo_optimizer *o, int slot,
                                int slots, float *loss)
{
    if (slot < 0 || slot >= slots)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "gradient shard slot %d of %d", slot, slots);
    DUO_TRY(reserve_host(o, m->n_params, slots));
    DUO_TRY(duo_model_forward(m, a, loss, NULL));
    DUO_TRY(duo_model_backward(m, a));
    if (slot == slots - 1)
        return DUO_OK; /* read bucket by bucket by duo_train_step_shards */
    /* The next shard's backward overwrites m->grads: copy this one now. */
    DUO_TRY(duo_runtime_finish(m->rt));
    double t0 = duo_now_seconds();
    DUO_TRY(duo_buffer_read(m->rt, m->grads, 0, m->n_params * sizeof(float),
                            o->host_grads + (size_t)slot * m->n_params));
    o->sync.read_s += duo_now_seconds() - t0;
    return DUO_OK;
}

/* m->grads <- the sum in shard order of weight[j] * shard j over every
 * rank's shards, bucket by bucket. Shards 0..local-2 of this rank are on the
 * host already (duo_train_shard_pass); the last one is in m->grads. Once
 * the backward is done, every bucket's read of it is enqueued at once (not
 * blocking); then for each bucket in order: wait for its read, scale each
 * shard's copy, sum the shards (duo_comm_sum_shards) and enqueue the write
 * back. So the device copies bucket k+1 while bucket k is summed (on a GPU
 * its copy engine runs beside the host). Reads overlapping the backward
 * itself would need the backward to say when a layer's gradients are done:
 * not done. */
static duo_status sum_gradients(duo_model *m, duo_optimizer *o, int local, const float *weight)
{
    size_t n = m->n_params;
    size_t buckets = (n + DUO_GRAD_BUCKET_FLOATS - 1) / DUO_GRAD_BUCKET_FLOATS;
    DUO_TRY(reserve_host(o, n, local));
    float *last = o->host_grads + (size_t)(local - 1) * n;
    cl_event *read = calloc(buckets ? buckets : 1, sizeof *read);
    if (!read)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%zu events for the gradient buckets", buckets);
    duo_grad_sync_stats *s = &o->sync;
    /* The backward first, so read_s times the copies, not the device's work. */
    duo_status st = duo_runtime_finish(m->rt);
    for (size_t b = 0; b < buckets && st == DUO_OK; b++) {
        size_t at = b * DUO_GRAD_BUCKET_FLOATS;
        size_t len = n - at < DUO_GRAD_BUCKET_FLOATS ? n - at : DUO_GRAD_BUCKET_FLOATS;
        st = duo_buffer_read_start(m->rt, m->grads, at * sizeof(float), len * sizeof(float),
                                   last + at, &read[b]);
    }
    for (size_t b = 0; b < buckets && st == DUO_OK; b++) {
        size_t at = b * DUO_GRAD_BUCKET_FLOATS;
        size_t len = n - at < DUO_GRAD_BUCKET_FLOATS ? n - at : DUO_GRAD_BUCKET_FLOATS;
        double t0 = duo_now_seconds();
        st = duo_event_wait(m->rt, 1, &read[b]);
        double t1 = duo_now_seconds();
        for (int j = 0; j < local && st == DUO_OK; j++) {
            float *h = o->host_grads + (size_t)j * n + at;
            if (weight[j] != 1.0f)
                for (size_t i = 0; i < len; i++)
                    h[i] *= weight[j];
        }
        if (st == DUO_OK)
            st = duo_comm_sum_shards(o->host_grads + at, n, local, len);
        double t2 = duo_now_seconds();
        if (st == DUO_OK)
            st = duo_buffer_write_start(m->rt, m->grads, at * sizeof(float), len * sizeof(float),
                                        o->host_grads + at);
        s->read_s += t1 - t0;
        s->sum_s += t2 - t1;
        s->write_s += duo_now_seconds() - t2;
        s->buckets++;
        s->bytes += len * sizeof(float);
    }
    /* Every read done (also after a failure: the host copy must not be
     * written by a read after this returns), and the writes too (timed). */
    double t3 = duo_now_seconds();
    duo_status finished = duo_runtime_finish(m->rt);
    s->write_s += duo_now_seconds() - t3;
    for (size_t b = 0; b < buckets; b++)
        if (read[b])
            clReleaseEvent(read[b]);
    free(read);
    DUO_TRY(st);
    DUO_TRY(finished);
    s->steps++;
    return DUO_OK;
}

duo_status duo_train_step_shards(duo_model *m, duo_optimizer *o, const duo_train_config *train,
                                 long step, int shards, const float *loss, const uint64_t *valid,
                                 duo_step_result *out)
{
    int ranks = duo_comm_size(), rank = duo_comm_rank();
    if (shards < 1 || shards % ranks != 0)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "%d gradient shards over %d ranks", shards,
                        ranks);
    int local = shards / ranks, first = rank * local;
    /* The global mean: each shard's loss sum (loss x valid) in doubles, one
     * entry per shard (the other ranks' entries 0 here, so the ranks' sum
     * gives each entry exactly), then added in shard order; a NaN anywhere
     * makes it NaN everywhere, so every rank stops. */
    double *sums = calloc((size_t)shards, sizeof *sums);
    float *weight = malloc((size_t)local * sizeof *weight);
    duo_status st = sums && weight ? DUO_OK
                                   : duo_fail(DUO_ERR_OUT_OF_MEMORY, "%d gradient shards", shards);
    double total_valid = 0.0;
    for (int k = 0; k < shards; k++)
        total_valid += (double)valid[k];
    for (int j = 0; j < local && st == DUO_OK; j++)
        sums[first + j] = valid[first + j] ? (double)loss[j] * (double)valid[first + j] : 0.0;
    if (st == DUO_OK)
        st = duo_comm_sum_doubles(sums, (size_t)shards);
    if (st == DUO_OK) {
        double total = sums[0];
        for (int k = 1; k < shards; k++)
            total += sums[k];
        out->loss = total_valid > 0 ? (float)(total / total_valid) : 0.0f;
        if (!isfinite(out->loss)) {
            if (ranks > 1)
                duo_comm_mark_failed_together();
            st = duo_fail(DUO_ERR_NUMERIC, "the loss is %g at step %ld: training diverged",
                          (double)out->loss, step);
        }
    }
    for (int j = 0; j < local && st == DUO_OK; j++)
        weight[j] = total_valid > 0 ? (float)((double)valid[first + j] / total_valid) : 0.0f;
    if (st == DUO_OK)
        st = sum_gradients(m, o, local, weight);
    free(sums);
    free(weight);
    DUO_TRY(st);
    st = update(m, o, train, step, out);
    if (st == DUO_ERR_NUMERIC && ranks > 1)
        duo_comm_mark_failed_together(); /* the same gradients everywhere */
    return st;
}

duo_status duo_model_params_hash(duo_model *m, uint64_t *out)
{
    float *host = malloc(m->n_params * sizeof *host);
    if (!host)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%zu floats for the parameter checksum",
                        m->n_params);
    duo_status st = duo_model_read_params(m, host);
    if (st == DUO_OK)
        *out = duo_fnv1a(DUO_FNV_OFFSET, host, m->n_params * sizeof *host);
    free(host);
    return st;
}
