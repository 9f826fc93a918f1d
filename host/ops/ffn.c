/* Launchers for kernels/ffn.cl. */
#include <limits.h>

#include "ffn.h"

static duo_status count(const char *op, size_t m, size_t f, int *n)
{
    if (f && m > INT_MAX / f)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "%s: M %zu x F %zu is 2^31 elements or more",
                        op, m, f);
    *n = (int)(m * f);
    return DUO_OK;
}

duo_status duo_swiglu_forward(duo_runtime *rt, cl_mem h, cl_mem a, cl_mem b, size_t m, size_t f)
{
    int n;
    DUO_TRY(count("swiglu_forward", m, f, &n));
    duo_karg args[] = {DUO_ARG(h), DUO_ARG(a), DUO_ARG(b), DUO_ARG(n)};
    return duo_launch(rt, "ffn.cl", "swiglu_forward", 1, (size_t[]){(size_t)n},
                      (size_t[]){rt->work_group_1d}, DUO_NARGS(args), args);
}

duo_status duo_swiglu_backward(duo_runtime *rt, cl_mem da, cl_mem db, cl_mem dh, cl_mem a,
                               cl_mem b, size_t m, size_t f)
{
    int n;
    DUO_TRY(count("swiglu_backward", m, f, &n));
    duo_karg args[] = {DUO_ARG(da), DUO_ARG(db), DUO_ARG(dh), DUO_ARG(a), DUO_ARG(b), DUO_ARG(n)};
    return duo_launch(rt, "ffn.cl", "swiglu_backward", 1, (size_t[]){(size_t)n},
                      (size_t[]){rt->work_group_1d}, DUO_NARGS(args), args);
}
