/* Launchers for kernels/loss.cl. Every kernel runs one work-group of
 * work_group_reduce items per row (or per chunk, for the mean); the row
 * kernels rely on a global size of exactly N work-groups. */
#include <limits.h>

#include "loss.h"

/* Cap on the first pass of the mean: beyond it work-items loop, and the second
 * pass (one work-group) stays short. */
enum { CE_MEAN_MAX_GROUPS = 256 };

/* Must match ce_partial in kernels/loss.cl. */
typedef struct ce_partial {
    float sum;
    int32_t count;
} ce_partial;

static size_t mean_groups(const duo_runtime *rt, size_t N)
{
    size_t groups = (N + rt->work_group_reduce - 1) / rt->work_group_reduce;
    if (groups < 1)
        groups = 1; /* N = 0 still writes a zero result */
    return groups < CE_MEAN_MAX_GROUPS ? groups : CE_MEAN_MAX_GROUPS;
}

static duo_status check_shape(const char *op, size_t N, size_t V)
{
    if (N > INT_MAX || V > INT_MAX)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "%s: N = %zu, V = %zu; each must be at most %d",
                        op, N, V, INT_MAX);
    if (N > 0 && V == 0)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "%s: V = 0 with N = %zu tokens", op, N);
    return DUO_OK;
}

duo_status duo_cross_entropy_forward(duo_runtime *rt, cl_mem logits, cl_mem targets, cl_mem losses,
                                     size_t N, size_t V)
{
    DUO_TRY(check_shape("cross_entropy_forward", N, V));
    int v = (int)V;
    size_t wg = rt->work_group_reduce;
    duo_karg args[] = {DUO_ARG(logits), DUO_ARG(targets), DUO_ARG(losses), DUO_ARG(v)};
    return duo_launch(rt, "loss.cl", "cross_entropy_forward", 1, (size_t[]){N * wg},
                      (size_t[]){wg}, DUO_NARGS(args), args);
}

duo_status duo_cross_entropy_backward(duo_runtime *rt, cl_mem logits, cl_mem targets,
                                      cl_mem dlogits, size_t N, size_t V, float scale)
{
    DUO_TRY(check_shape("cross_entropy_backward", N, V));
    int v = (int)V;
    size_t wg = rt->work_group_reduce;
    duo_karg args[] = {DUO_ARG(logits), DUO_ARG(targets), DUO_ARG(dlogits), DUO_ARG(v),
                       DUO_ARG(scale)};
    return duo_launch(rt, "loss.cl", "cross_entropy_backward", 1, (size_t[]){N * wg},
                      (size_t[]){wg}, DUO_NARGS(args), args);
}

duo_status duo_token_stats(duo_runtime *rt, cl_mem logits, cl_mem targets, cl_mem losses,
                           cl_mem entropy, cl_mem max_prob, size_t N, size_t V)
{
    DUO_TRY(check_shape("token_stats", N, V));
    if (N == 0)
        return DUO_OK;
    int v = (int)V;
    size_t wg = rt->work_group_reduce;
    duo_karg args[] = {DUO_ARG(logits), DUO_ARG(targets), DUO_ARG(losses), DUO_ARG(entropy),
                       DUO_ARG(max_prob), DUO_ARG(v)};
    return duo_launch(rt, "loss.cl", "token_stats", 1, (size_t[]){N * wg}, (size_t[]){wg},
                      DUO_NARGS(args), args);
}

size_t duo_cross_entropy_mean_scratch_bytes(const duo_runtime *rt, size_t N)
{
    return mean_groups(rt, N) * sizeof(ce_partial);
}

duo_status duo_cross_entropy_mean(duo_runtime *rt, cl_mem losses, cl_mem targets, size_t N,
                                  cl_mem scratch, cl_mem result,
                                  duo_cross_entropy_mean_result *host)
{
    DUO_TRY(check_shape("cross_entropy_mean", N, 1));
    int n = (int)N, groups = (int)mean_groups(rt, N);
    size_t wg = rt->work_group_reduce;
    duo_karg partial_args[] = {DUO_ARG(losses), DUO_ARG(targets), DUO_ARG(scratch), DUO_ARG(n)};
    DUO_TRY(duo_launch(rt, "loss.cl", "cross_entropy_mean_partial", 1,
                       (size_t[]){(size_t)groups * wg}, (size_t[]){wg}, DUO_NARGS(partial_args),
                       partial_args));
    duo_karg final_args[] = {DUO_ARG(scratch), DUO_ARG(groups), DUO_ARG(result)};
    DUO_TRY(duo_launch(rt, "loss.cl", "cross_entropy_mean_final", 1, (size_t[]){wg},
                       (size_t[]){wg}, DUO_NARGS(final_args), final_args));
    if (host)
        DUO_TRY(duo_buffer_read(rt, result, 0, sizeof *host, host));
    return DUO_OK;
}
