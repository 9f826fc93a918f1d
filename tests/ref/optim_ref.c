#include <math.h>

#include "optim_ref.h"

void ref_adamw_step(float *p, const float *grad, float *m, float *v, size_t n,
                    const duo_adamw_hparams *h, float grad_scale)
{
    const double t = (double)h->step;
    const float decay = (float)(1.0 - h->lr * h->weight_decay);
    const float b1 = (float)h->beta1, b2 = (float)h->beta2;
    const float c1 = (float)(1.0 - h->beta1), c2 = (float)(1.0 - h->beta2);
    const float step_size = (float)(h->lr / (1.0 - pow(h->beta1, t)));
    const float bias2_sqrt = (float)sqrt(1.0 - pow(h->beta2, t));
    const float eps = (float)h->eps;
    for (size_t i = 0; i < n; i++) {
        float g = grad[i] * grad_scale;            /* clip_grad_norm_: grad.mul_(coef) */
        p[i] = p[i] * decay;                       /* param.mul_(1 - lr * wd) */
        m[i] = m[i] * b1 + c1 * g;                 /* exp_avg.mul_(b1).add_(g, alpha=1-b1) */
        v[i] = v[i] * b2 + c2 * g * g;             /* exp_avg_sq.mul_(b2).addcmul_(g, g, 1-b2) */
        float denom = sqrtf(v[i]) / bias2_sqrt + eps;
        p[i] = p[i] - step_size * m[i] / denom;    /* param.addcdiv_(m, denom, -step_size) */
    }
}

void ref_adamw_step_double(double *p, const double *grad, double *m, double *v, size_t n,
                           const duo_adamw_hparams *h, double grad_scale)
{
    const double t = (double)h->step;
    for (size_t i = 0; i < n; i++) {
        double g = grad[i] * grad_scale;
        p[i] -= h->lr * h->weight_decay * p[i];
        m[i] = h->beta1 * m[i] + (1 - h->beta1) * g;
        v[i] = h->beta2 * v[i] + (1 - h->beta2) * g * g;
        double m_hat = m[i] / (1 - pow(h->beta1, t)), v_hat = v[i] / (1 - pow(h->beta2, t));
        p[i] -= h->lr * m_hat / (sqrt(v_hat) + h->eps);
    }
}

double ref_grad_norm(const float *const *tensors, const size_t *sizes, int count)
{
    double sum = 0;
    for (int k = 0; k < count; k++)
        for (size_t i = 0; i < sizes[k]; i++)
            sum += (double)tensors[k][i] * tensors[k][i];
    return sqrt(sum);
}
