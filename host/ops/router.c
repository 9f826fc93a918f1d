/* Launchers for kernels/router.cl. */
#include "router.h"

static const char *const FILE_NAME = "router.cl";

duo_status duo_router_softmax_forward(duo_runtime *rt, cl_mem P, cl_mem z, float beta, size_t n,
                                      int M)
{
    int rows = (int)n;
    duo_karg args[] = {DUO_ARG(P), DUO_ARG(z), DUO_ARG(beta), DUO_ARG(rows), DUO_ARG(M)};
    return duo_launch(rt, FILE_NAME, "router_softmax_forward", 1, (size_t[]){n},
                      (size_t[]){rt->work_group_1d}, DUO_NARGS(args), args);
}

duo_status duo_router_softmax_backward(duo_runtime *rt, cl_mem dz, cl_mem P, cl_mem dP, float beta,
                                       size_t n, int M)
{
    int rows = (int)n;
    duo_karg args[] = {DUO_ARG(dz), DUO_ARG(P), DUO_ARG(dP), DUO_ARG(beta), DUO_ARG(rows),
                       DUO_ARG(M)};
    return duo_launch(rt, FILE_NAME, "router_softmax_backward", 1, (size_t[]){n},
                      (size_t[]){rt->work_group_1d}, DUO_NARGS(args), args);
}

duo_status duo_router_mixture_forward(duo_runtime *rt, cl_mem out, cl_mem h, cl_mem y_small,
                                      cl_mem y_big, cl_mem P, duo_router_columns cols, size_t n,
                                      size_t d)
{
    int rows = (int)n, width = (int)d;
    int col_small = cols.col[1], col_big = cols.col[2];
    /* A module that is not allowed is never read; pass a valid buffer anyway. */
    cl_mem ys = col_small >= 0 ? y_small : h, yb = col_big >= 0 ? y_big : h;
    duo_karg args[] = {DUO_ARG(out),    DUO_ARG(h),         DUO_ARG(ys),      DUO_ARG(yb),
                       DUO_ARG(P),      DUO_ARG(cols.M),    DUO_ARG(col_small), DUO_ARG(col_big),
                       DUO_ARG(rows),   DUO_ARG(width)};
    size_t wg = rt->work_group_2d;
    return duo_launch(rt, FILE_NAME, "router_mixture_forward", 2, (size_t[]){d, n},
                      (size_t[]){wg, wg}, DUO_NARGS(args), args);
}

duo_status duo_router_mixture_backward_probs(duo_runtime *rt, cl_mem dP, cl_mem dx, cl_mem y_small,
                                             cl_mem y_big, cl_mem aux, duo_router_columns cols,
                                             size_t n, size_t d, size_t T)
{
    int rows = (int)n, width = (int)d, seq = (int)T;
    int col_skip = cols.col[0], col_small = cols.col[1], col_big = cols.col[2];
    cl_mem ys = col_small >= 0 ? y_small : dx, yb = col_big >= 0 ? y_big : dx;
    duo_karg args[] = {DUO_ARG(dP),       DUO_ARG(dx),       DUO_ARG(ys),      DUO_ARG(yb),
                       DUO_ARG(aux),      DUO_ARG(cols.M),   DUO_ARG(col_skip), DUO_ARG(col_small),
                       DUO_ARG(col_big),  DUO_ARG(rows),     DUO_ARG(width),   DUO_ARG(seq)};
    return duo_launch(rt, FILE_NAME, "router_mixture_backward_probs", 1, (size_t[]){n},
                      (size_t[]){rt->work_group_1d}, DUO_NARGS(args), args);
}

duo_status duo_router_scale_rows(duo_runtime *rt, cl_mem out, cl_mem dx, cl_mem P,
                                 duo_router_columns cols, int col, size_t n, size_t d)
{
    int rows = (int)n, width = (int)d;
    duo_karg args[] = {DUO_ARG(out), DUO_ARG(dx),   DUO_ARG(P),     DUO_ARG(cols.M),
                       DUO_ARG(col), DUO_ARG(rows), DUO_ARG(width)};
    size_t wg = rt->work_group_2d;
    return duo_launch(rt, FILE_NAME, "router_scale_rows", 2, (size_t[]){d, n}, (size_t[]){wg, wg},
                      DUO_NARGS(args), args);
}

duo_status duo_router_argmax(duo_runtime *rt, cl_mem routes, size_t route_offset, cl_mem z,
                             cl_mem modules, int M, size_t n)
{
    int rows = (int)n, offset = (int)route_offset;
    duo_karg args[] = {DUO_ARG(routes), DUO_ARG(offset), DUO_ARG(z), DUO_ARG(modules), DUO_ARG(M),
                       DUO_ARG(rows)};
    return duo_launch(rt, FILE_NAME, "router_argmax", 1, (size_t[]){n},
                      (size_t[]){rt->work_group_1d}, DUO_NARGS(args), args);
}
