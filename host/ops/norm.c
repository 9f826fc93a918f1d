/* Launchers for kernels/norm.cl. */
#include <limits.h>

#include "norm.h"

static duo_status check_shape(const char *op, size_t n, size_t c)
{
    if (c == 0 || n > INT_MAX / c)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "%s: N %zu, C %zu (need C > 0 and N*C below 2^31)", op, n, c);
    return DUO_OK;
}

duo_status duo_rmsnorm_forward(duo_runtime *rt, cl_mem y, cl_mem rstd, cl_mem x, cl_mem w,
                               size_t n, size_t c, float eps)
{
    DUO_TRY(check_shape("rmsnorm_forward", n, c));
    int width = (int)c;
    duo_karg args[] = {DUO_ARG(y), DUO_ARG(rstd), DUO_ARG(x), DUO_ARG(w), DUO_ARG(width),
                       DUO_ARG(eps)};
    size_t wg = rt->work_group_reduce;
    return duo_launch(rt, "norm.cl", "rmsnorm_forward", 1, (size_t[]){n * wg}, (size_t[]){wg},
                      DUO_NARGS(args), args);
}

static size_t row_blocks(size_t n)
{
    return (n + DUO_RMSNORM_ROWS_PER_BLOCK - 1) / DUO_RMSNORM_ROWS_PER_BLOCK;
}

size_t duo_rmsnorm_backward_scratch_floats(size_t n, size_t c) { return row_blocks(n) * c; }

duo_status duo_rmsnorm_backward(duo_runtime *rt, cl_mem dx, cl_mem dw, cl_mem dy, cl_mem x,
                                cl_mem w, cl_mem rstd, cl_mem scratch, size_t n, size_t c)
{
    DUO_TRY(check_shape("rmsnorm_backward", n, c));
    int rows = (int)n, width = (int)c, per_block = DUO_RMSNORM_ROWS_PER_BLOCK;
    int blocks = (int)row_blocks(n);
    size_t wg = rt->work_group_reduce;
    duo_karg dx_args[] = {DUO_ARG(dx), DUO_ARG(dy), DUO_ARG(x), DUO_ARG(w), DUO_ARG(rstd),
                          DUO_ARG(width)};
    DUO_TRY(duo_launch(rt, "norm.cl", "rmsnorm_backward", 1, (size_t[]){n * wg}, (size_t[]){wg},
                       DUO_NARGS(dx_args), dx_args));
    duo_karg partial_args[] = {DUO_ARG(scratch), DUO_ARG(dy), DUO_ARG(x), DUO_ARG(rstd),
                               DUO_ARG(rows), DUO_ARG(width), DUO_ARG(per_block)};
    DUO_TRY(duo_launch(rt, "norm.cl", "rmsnorm_backward_dw_partial", 1,
                       (size_t[]){(size_t)blocks * c}, (size_t[]){rt->work_group_1d},
                       DUO_NARGS(partial_args), partial_args));
    /* With N = 0 this still runs and writes dw = 0. */
    duo_karg dw_args[] = {DUO_ARG(dw), DUO_ARG(scratch), DUO_ARG(blocks), DUO_ARG(width)};
    return duo_launch(rt, "norm.cl", "rmsnorm_backward_dw", 1, (size_t[]){c},
                      (size_t[]){rt->work_group_1d}, DUO_NARGS(dw_args), dw_args);
}
