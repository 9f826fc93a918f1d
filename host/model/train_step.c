/* One stage-1 training step on the device. */
#include <math.h>

#include "duocl/schedule.h"
#include "ops/optim.h"
#include "train_step.h"

static duo_grad_span whole_buffer(const duo_model *m)
{
    /* The alignment gaps between tensors are zero and add nothing. */
    return (duo_grad_span){m->grads, 0, m->n_params};
}

duo_status duo_optimizer_create(duo_model *m, duo_optimizer *out)
{
    duo_grad_span span = whole_buffer(m);
    return duo_buffer_create(m->rt, duo_grad_norm_scratch_bytes(m->rt, &span, 1),
                             &out->norm_scratch);
}

void duo_optimizer_destroy(duo_optimizer *o) { duo_buffer_release(&o->norm_scratch); }

duo_status duo_train_step(duo_model *m, duo_activations *a, duo_optimizer *o,
                          const duo_train_config *train, long step, duo_step_result *out)
{
    DUO_TRY(duo_model_forward(m, a, &out->loss, NULL));
    if (!isfinite(out->loss))
        return duo_fail(DUO_ERR_NUMERIC, "the loss is %g at step %ld: training diverged",
                        (double)out->loss, step);
    DUO_TRY(duo_model_backward(m, a));
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
