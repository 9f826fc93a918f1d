/* Optimizer step and global gradient norm.
 *
 * Layouts: param, grad, m, v: flat float arrays; the kernels see the n floats
 * starting at `offset` of each (the same offset in all four, so parameters,
 * gradients and moments may each live in one block with the same layout).
 * partials: the caller's scratch, one float per work-group plus one for the total. */

/* AdamW as torch.optim.AdamW (amsgrad off) does it, with the gradient first
 * multiplied by grad_scale (the clip factor):
 *   g = grad * grad_scale
 *   p *= decay                          decay = 1 - lr * weight_decay
 *   m = beta1 m + (1 - beta1) g
 *   v = beta2 v + (1 - beta2) g^2
 *   p -= step_size * m / (sqrt(v) / bias2_sqrt + eps)
 * with step_size = lr / (1 - beta1^t) and bias2_sqrt = sqrt(1 - beta2^t)
 * computed by the host in double. One work-item per element. */
__kernel void adamw_step(__global float *param, __global const float *grad, __global float *m,
                         __global float *v, const int offset, const int n, const float grad_scale,
                         const float decay, const float beta1, const float one_minus_beta1,
                         const float beta2, const float one_minus_beta2, const float step_size,
                         const float bias2_sqrt, const float eps)
{
    const int k = get_global_id(0);
    if (k >= n)
        return;
    const int i = offset + k;
    const float g = grad[i] * grad_scale;
    const float mi = beta1 * m[i] + one_minus_beta1 * g;
    const float vi = beta2 * v[i] + one_minus_beta2 * g * g;
    const float denom = sqrt(vi) / bias2_sqrt + eps;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i] * decay - step_size * mi / denom;
}

/* Pass 1 of the gradient norm, for one tensor: group g sums x^2 over the
 * indices g * DUO_WG_REDUCE + lid + k * groups * DUO_WG_REDUCE (fixed
 * grid-stride order), combines the group's sums with common.cl's tree and
 * writes partials[first + g]. */
__kernel __attribute__((reqd_work_group_size(DUO_WG_REDUCE, 1, 1)))
void grad_norm_partial(__global const float *x, const int offset, const int n,
                       __global float *partials, const int first)
{
    __local float scratch[DUO_WG_REDUCE];
    const int stride = get_num_groups(0) * DUO_WG_REDUCE;
    float s = 0.0f;
    for (int i = get_global_id(0); i < n; i += stride) {
        const float value = x[offset + i];
        s += value * value;
    }
    s = group_sum_float(scratch, s);
    if (get_local_id(0) == 0)
        partials[first + get_group_id(0)] = s;
}

/* Pass 2: one work-group sums partials[0 .. count) (every tensor's, in the
 * order the host laid them out) in a fixed tree into partials[count]. */
__kernel __attribute__((reqd_work_group_size(DUO_WG_REDUCE, 1, 1)))
void grad_norm_final(__global float *partials, const int count)
{
    __local float scratch[DUO_WG_REDUCE];
    float s = 0.0f;
    for (int i = get_local_id(0); i < count; i += DUO_WG_REDUCE)
        s += partials[i];
    s = group_sum_float(scratch, s);
    if (get_local_id(0) == 0)
        partials[count] = s;
}
