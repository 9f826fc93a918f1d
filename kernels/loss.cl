/* Softmax cross-entropy over the vocabulary, fused: per-token losses, their
 * mean over valid tokens, and the gradient with respect to the logits.
 *
 * Layouts (N tokens, V vocabulary entries):
 *   logits, dlogits: (N, V) row-major
 *   targets:         (N) int32; a negative target masks the token (loss 0,
 *                    gradient 0, not counted in the mean); a target >= V is a
 *                    caller bug and gives a NaN loss and NaN gradient row, so it
 *                    shows up in the loss instead of being silently ignored
 *   losses:          (N) per-token losses in nats
 *
 * Each row is handled by one work-group of DUO_WG_REDUCE work-items that
 * stride over V, so any V works, and a row's reductions are common.cl's
 * fixed tree in local memory: the same inputs give the same bits. */

/* One partial result of the mean: a sum of losses and a count of valid tokens. */
typedef struct ce_partial {
    float sum;
    int count;
} ce_partial;

/* The mean's result, as the host reads it: two 32-bit words. */
typedef struct ce_mean {
    float mean;
    int count;
} ce_mean;

/* The row's maximum and sum of exp(x - max): log-sum-exp = max + log(sum),
 * with sum >= 1 (the maximum contributes exp(0)), so no overflow and no log(0). */
void loss_row_stats(__global const float *x, const int V, __local float *scratch,
                    float *row_max, float *row_sum)
{
    const int lid = get_local_id(0);
    float m = -INFINITY;
    for (int i = lid; i < V; i += DUO_WG_REDUCE)
        m = fmax(m, x[i]);
    m = group_max_float(scratch, m);
    float s = 0.0f;
    for (int i = lid; i < V; i += DUO_WG_REDUCE)
        s += exp(x[i] - m);
    *row_max = m;
    *row_sum = group_sum_float(scratch, s);
}

/* losses[row] = logsumexp(logits[row, :]) - logits[row, target].
 * Global size exactly N * DUO_WG_REDUCE, local DUO_WG_REDUCE: group `row` does
 * row `row`, so every group has a row and no bounds check is needed. Masked rows
 * still compute their statistics and only the store differs: with an early
 * `if (targets[row] < 0) return;` ahead of the barriers (legal OpenCL: the same
 * for the whole group) PoCL 3.1's kernel never finished, even when no row was
 * masked; a return on get_group_id alone did not hang. */
__kernel __attribute__((reqd_work_group_size(DUO_WG_REDUCE, 1, 1)))
void cross_entropy_forward(__global const float *logits, __global const int *targets,
                           __global float *losses, const int V)
{
    __local float scratch[DUO_WG_REDUCE];
    const int row = get_group_id(0);
    const int target = targets[row];
    __global const float *x = logits + (size_t)row * (size_t)V;
    float m, s;
    loss_row_stats(x, V, scratch, &m, &s);
    if (get_local_id(0) == 0)
        losses[row] = target < 0 ? 0.0f : target < V ? (m - x[target]) + log(s) : NAN;
}

/* Per-token statistics of the predictive distribution p = softmax(logits[row, :]):
 *   losses[row]   exactly cross_entropy_forward's value (the same arithmetic, so
 *                 the same bits; 0 for a masked row, NaN for a target >= V)
 *   entropy[row]  -sum_i p_i log p_i = log(s) - sum_i e_i (x_i - m) / s, with
 *                 e_i = exp(x_i - m), s = sum_i e_i, m = max_i x_i (stable: every
 *                 term is finite, x_i - m <= 0); nats, in [0, log V]
 *   max_prob[row] max_i p_i = 1 / s (the maximum's e is exp(0) = 1)
 * Entropy and max_prob need no label: they are written for masked rows too.
 * Same launch shape as cross_entropy_forward. */
__kernel __attribute__((reqd_work_group_size(DUO_WG_REDUCE, 1, 1)))
void token_stats(__global const float *logits, __global const int *targets,
                 __global float *losses, __global float *entropy, __global float *max_prob,
                 const int V)
{
    __local float scratch[DUO_WG_REDUCE];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    const int target = targets[row];
    __global const float *x = logits + (size_t)row * (size_t)V;
    float m, s;
    loss_row_stats(x, V, scratch, &m, &s);
    float w = 0.0f;
    for (int i = lid; i < V; i += DUO_WG_REDUCE) {
        const float d = x[i] - m;
        w += exp(d) * d;
    }
    w = group_sum_float(scratch, w);
    if (lid == 0) {
        losses[row] = target < 0 ? 0.0f : target < V ? (m - x[target]) + log(s) : NAN;
        entropy[row] = log(s) - w / s;
        max_prob[row] = 1.0f / s;
    }
}

/* dlogits[row, i] = (softmax(logits[row, :])_i - (i == target)) * scale;
 * masked rows get 0. dlogits may be the same buffer as logits: each element is
 * read for the row's statistics before the barrier that ends them, and after
 * it only by the work-item that then overwrites it. Same launch shape as forward. */
__kernel __attribute__((reqd_work_group_size(DUO_WG_REDUCE, 1, 1)))
void cross_entropy_backward(__global const float *logits, __global const int *targets,
                            __global float *dlogits, const int V, const float scale)
{
    __local float scratch[DUO_WG_REDUCE];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    const int target = targets[row];
    __global const float *x = logits + (size_t)row * (size_t)V;
    __global float *dx = dlogits + (size_t)row * (size_t)V;
    float m, s;
    loss_row_stats(x, V, scratch, &m, &s);
    const float inv_sum = target < V ? 1.0f / s : NAN;
    for (int i = lid; i < V; i += DUO_WG_REDUCE) {
        const float p = exp(x[i] - m) * inv_sum;
        dx[i] = target < 0 ? 0.0f : (i == target ? p - 1.0f : p) * scale;
    }
}

/* Pass 1 of the mean: group g sums losses and counts valid targets over the
 * indices g * DUO_WG_REDUCE + lid + k * groups * DUO_WG_REDUCE (a fixed
 * grid-stride pattern), then writes partials[g]. Global size
 * groups * DUO_WG_REDUCE; partials: (groups) ce_partial. */
__kernel __attribute__((reqd_work_group_size(DUO_WG_REDUCE, 1, 1)))
void cross_entropy_mean_partial(__global const float *losses, __global const int *targets,
                                __global ce_partial *partials, const int N)
{
    __local float sums[DUO_WG_REDUCE];
    __local int counts[DUO_WG_REDUCE];
    const int stride = get_num_groups(0) * DUO_WG_REDUCE;
    float s = 0.0f;
    int c = 0;
    for (int i = get_global_id(0); i < N; i += stride)
        if (targets[i] >= 0) {
            s += losses[i];
            c++;
        }
    s = group_sum_float(sums, s);
    c = group_sum_int(counts, c);
    if (get_local_id(0) == 0) {
        partials[get_group_id(0)].sum = s;
        partials[get_group_id(0)].count = c;
    }
}

/* Pass 2: one work-group reduces the `groups` partials in a fixed tree and
 * writes result[0] = {mean over valid tokens (0 when none), valid count}. */
__kernel __attribute__((reqd_work_group_size(DUO_WG_REDUCE, 1, 1)))
void cross_entropy_mean_final(__global const ce_partial *partials, const int groups,
                              __global ce_mean *result)
{
    __local float sums[DUO_WG_REDUCE];
    __local int counts[DUO_WG_REDUCE];
    float s = 0.0f;
    int c = 0;
    for (int g = get_local_id(0); g < groups; g += DUO_WG_REDUCE) {
        s += partials[g].sum;
        c += partials[g].count;
    }
    s = group_sum_float(sums, s);
    c = group_sum_int(counts, c);
    if (get_local_id(0) == 0) {
        result[0].mean = c > 0 ? s / (float)c : 0.0f;
        result[0].count = c;
    }
}
