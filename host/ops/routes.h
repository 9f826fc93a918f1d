/* Device route generation (kernels/routes.cl). */
#ifndef DUOCL_OPS_ROUTES_H
#define DUOCL_OPS_ROUTES_H

#include "duocl/routes.h"
#include "device/runtime_internal.h"

/* Fills routes, a caller-owned buffer of layers * n uint8, laid out (layers, n):
 * routes[l * n + t] = duo_route_pick(thresholds, seed, step, first_layer + l, t).
 * One call usually covers all L layers of a training step (first_layer 0). */
duo_status duo_route_generate(duo_runtime *rt, cl_mem routes,
                              const duo_route_thresholds *thresholds, uint64_t seed,
                              uint64_t step, int first_layer, int layers, size_t n);

#endif
