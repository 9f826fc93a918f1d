/* Launchers for kernels/residual.cl. */
#include "residual.h"

duo_status duo_residual_add(duo_runtime *rt, cl_mem out, cl_mem a, cl_mem b, size_t n)
{
    int count = (int)n;
    duo_karg args[] = {DUO_ARG(out), DUO_ARG(a), DUO_ARG(b), DUO_ARG(count)};
    return duo_launch(rt, "residual.cl", "residual_add", 1, (size_t[]){n},
                      (size_t[]){rt->work_group_1d}, DUO_NARGS(args), args);
}

duo_status duo_scaled_add(duo_runtime *rt, cl_mem y, cl_mem x, float alpha, size_t n)
{
    int count = (int)n;
    duo_karg args[] = {DUO_ARG(y), DUO_ARG(x), DUO_ARG(alpha), DUO_ARG(count)};
    return duo_launch(rt, "residual.cl", "scaled_add", 1, (size_t[]){n},
                      (size_t[]){rt->work_group_1d}, DUO_NARGS(args), args);
}
