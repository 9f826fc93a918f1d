/* Launchers for kernels/optim.cl. */
#include <limits.h>
#include <math.h>

#include "optim.h"

/* Cap on one tensor's first-pass work-groups; past it work-items loop. */
enum { NORM_MAX_GROUPS = 256 };

duo_adamw_scalars duo_adamw_scalars_for(const duo_adamw_hparams *h)
{
    double t = (double)h->step;
    duo_adamw_scalars s = {
        .decay = (float)(1.0 - h->lr * h->weight_decay),
        .beta1 = (float)h->beta1,
        .one_minus_beta1 = (float)(1.0 - h->beta1),
        .beta2 = (float)h->beta2,
        .one_minus_beta2 = (float)(1.0 - h->beta2),
        .step_size = (float)(h->lr / (1.0 - pow(h->beta1, t))),
        .bias2_sqrt = (float)sqrt(1.0 - pow(h->beta2, t)),
        .eps = (float)h->eps,
    };
    return s;
}

duo_status duo_adamw_step(duo_runtime *rt, cl_mem param, cl_mem grad, cl_mem m, cl_mem v,
                          size_t offset, size_t n, const duo_adamw_hparams *h, float grad_scale)
{
    if (offset > INT_MAX || n > (size_t)INT_MAX - offset)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "adamw_step: offset %zu + n %zu is more than %d elements", offset, n, INT_MAX);
    if (h->step < 1)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "adamw_step: step is %ld; the first step is 1",
                        h->step);
    duo_adamw_scalars s = duo_adamw_scalars_for(h);
    int first = (int)offset, count = (int)n;
    duo_karg args[] = {DUO_ARG(param),     DUO_ARG(grad),         DUO_ARG(m),
                       DUO_ARG(v),         DUO_ARG(first),        DUO_ARG(count),
                       DUO_ARG(grad_scale), DUO_ARG(s.decay),     DUO_ARG(s.beta1),
                       DUO_ARG(s.one_minus_beta1), DUO_ARG(s.beta2), DUO_ARG(s.one_minus_beta2),
                       DUO_ARG(s.step_size), DUO_ARG(s.bias2_sqrt), DUO_ARG(s.eps)};
    return duo_launch(rt, "optim.cl", "adamw_step", 1, (size_t[]){n},
                      (size_t[]){rt->work_group_1d}, DUO_NARGS(args), args);
}

static size_t norm_groups(const duo_runtime *rt, size_t n)
{
    size_t groups = (n + rt->work_group_reduce - 1) / rt->work_group_reduce;
    return groups < NORM_MAX_GROUPS ? groups : NORM_MAX_GROUPS;
}

size_t duo_grad_norm_scratch_bytes(const duo_runtime *rt, const duo_grad_span *spans, int count)
{
    size_t partials = 1; /* the total */
    for (int i = 0; i < count; i++)
        partials += norm_groups(rt, spans[i].n);
    return partials * sizeof(float);
}

duo_status duo_grad_norm(duo_runtime *rt, const duo_grad_span *spans, int count, cl_mem scratch,
                         float *norm)
{
    size_t wg = rt->work_group_reduce;
    int first = 0;
    for (int i = 0; i < count; i++) {
        if (spans[i].offset > INT_MAX || spans[i].n > (size_t)INT_MAX - spans[i].offset)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                            "grad_norm: tensor %d: offset %zu + n %zu is more than %d elements", i,
                            spans[i].offset, spans[i].n, INT_MAX);
        size_t groups = norm_groups(rt, spans[i].n);
        if (groups == 0)
            continue;
        int offset = (int)spans[i].offset, n = (int)spans[i].n;
        duo_karg args[] = {DUO_ARG(spans[i].buffer), DUO_ARG(offset), DUO_ARG(n),
                           DUO_ARG(scratch), DUO_ARG(first)};
        DUO_TRY(duo_launch(rt, "optim.cl", "grad_norm_partial", 1, (size_t[]){groups * wg},
                           (size_t[]){wg}, DUO_NARGS(args), args));
        first += (int)groups;
    }
    duo_karg args[] = {DUO_ARG(scratch), DUO_ARG(first)};
    DUO_TRY(duo_launch(rt, "optim.cl", "grad_norm_final", 1, (size_t[]){wg}, (size_t[]){wg},
                       DUO_NARGS(args), args));
    float sum_squares;
    DUO_TRY(duo_buffer_read(rt, scratch, (size_t)first * sizeof(float), sizeof sum_squares,
                            &sum_squares));
    *norm = (float)sqrt((double)sum_squares);
    return DUO_OK;
}

float duo_clip_factor(float norm, float max_norm)
{
    if (max_norm <= 0.0f)
        return 1.0f;
    float factor = max_norm / (norm + 1e-6f);
    return factor < 1.0f ? factor : (isnan(factor) ? factor : 1.0f);
}
