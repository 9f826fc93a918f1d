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

/* m->grads <- sum over ranks of weight * m->grads, bucket by bucket. Once
 * the backward is done, every bucket's read to the host is enqueued at once
 * (not blocking); then for each bucket in order: wait for its read, scale it,
 * sum it over ranks and enqueue its write back. So the device copies bucket
 * k+1 while bucket k is summed (on a GPU its copy engine runs beside the
 * host). Reads overlapping the backward itself would need the backward to
 * say when a layer's gradients are done: not done. */
static duo_status sum_gradients(duo_model *m, duo_optimizer *o, float weight)
{
    size_t n = m->n_params;
    size_t buckets = (n + DUO_GRAD_BUCKET_FLOATS - 1) / DUO_GRAD_BUCKET_FLOATS;
    if (!o->host_grads) {
        o->host_grads = malloc(n * sizeof(float));
        if (!o->host_grads)
            return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%zu floats for the host copy of the "
                            "gradients", n);
    }
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
                                   o->host_grads + at, &read[b]);
    }
    for (size_t b = 0; b < buckets && st == DUO_OK; b++) {
        size_t at = b * DUO_GRAD_BUCKET_FLOATS;
        size_t len = n - at < DUO_GRAD_BUCKET_FLOATS ? n - at : DUO_GRAD_BUCKET_FLOATS;
        float *h = o->host_grads + at;
        double t0 = duo_now_seconds();
        st = duo_event_wait(m->rt, 1, &read[b]);
        double t1 = duo_now_seconds();
        if (st == DUO_OK && weight != 1.0f)
            for (size_t i = 0; i < len; i++)
                h[i] *= weight;
        if (st == DUO_OK)
            st = duo_comm_sum_floats(h, len);
        double t2 = duo_now_seconds();
        if (st == DUO_OK)
            st = duo_buffer_write_start(m->rt, m->grads, at * sizeof(float), len * sizeof(float),
                                        h);
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

duo_status duo_train_step_ranks(duo_model *m, duo_activations *a, duo_optimizer *o,
                                const duo_train_config *train, long step, uint64_t valid,
                                duo_step_result *out)
{
    if (duo_comm_size() <= 1)
        return duo_train_step(m, a, o, train, step, out);
    float local;
    DUO_TRY(duo_model_forward(m, a, &local, NULL));
    /* The global mean: every rank's loss sum and count, summed in doubles in
     * rank order; a NaN anywhere makes it NaN everywhere, so every rank stops. */
    double totals[2] = {(double)local * (double)valid, (double)valid};
    if (valid == 0)
        totals[0] = 0.0;
    DUO_TRY(duo_comm_sum_doubles(totals, 2));
    out->loss = totals[1] > 0 ? (float)(totals[0] / totals[1]) : 0.0f;
    if (!isfinite(out->loss)) {
        duo_comm_mark_failed_together();
        return duo_fail(DUO_ERR_NUMERIC, "the loss is %g at step %ld: training diverged",
                        (double)out->loss, step);
    }
    DUO_TRY(duo_model_backward(m, a));
    float weight = totals[1] > 0 ? (float)((double)valid / totals[1]) : 0.0f;
    DUO_TRY(sum_gradients(m, o, weight));
    duo_status st = update(m, o, train, step, out);
    if (st == DUO_ERR_NUMERIC)
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
