/* Launcher for kernels/routes.cl. */
#include <limits.h>

#include "routes.h"

duo_status duo_route_generate(duo_runtime *rt, cl_mem routes,
                              const duo_route_thresholds *thresholds, uint64_t seed,
                              uint64_t step, int first_layer, int layers, size_t n)
{
    if (first_layer < 0 || layers < 0 || n > INT_MAX ||
        thresholds->big_end > thresholds->small_end ||
        thresholds->small_end > (1u << DUO_ROUTE_HASH_BITS))
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "route_generate: bad arguments (first_layer %d, layers %d, n %zu, "
                        "thresholds %u/%u); make thresholds with duo_route_thresholds_make",
                        first_layer, layers, n, thresholds->big_end, thresholds->small_end);
    cl_ulong seed_arg = seed, step_arg = step;
    cl_uint first = (cl_uint)first_layer, big_end = thresholds->big_end,
            small_end = thresholds->small_end;
    int count = (int)n;
    duo_karg args[] = {DUO_ARG(routes), DUO_ARG(seed_arg), DUO_ARG(step_arg), DUO_ARG(first),
                       DUO_ARG(layers), DUO_ARG(count), DUO_ARG(big_end), DUO_ARG(small_end)};
    return duo_launch(rt, "routes.cl", "route_generate", 2, (size_t[]){n, (size_t)layers},
                      (size_t[]){rt->work_group_1d, 1}, DUO_NARGS(args), args);
}
