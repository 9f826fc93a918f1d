/* Router kernels (kernels/router.cl): softmax over a token's allowed modules,
 * the soft mixture of module outputs and its backward, and hard argmax
 * routing. Layouts are described in router.cl; the caller owns every buffer. */
#ifndef DUOCL_OPS_ROUTER_H
#define DUOCL_OPS_ROUTER_H

#include "device/runtime_internal.h"

/* Column of each route id in the (N, M) router tensors, -1 if not allowed. */
typedef struct duo_router_columns {
    int M;
    int col[3]; /* indexed by duo_route */
} duo_router_columns;

/* P = softmax(beta * z), z and P (n, M). */
duo_status duo_router_softmax_forward(duo_runtime *rt, cl_mem P, cl_mem z, float beta, size_t n,
                                      int M);

/* dz = beta * P * (dP - <P, dP>), row-wise. */
duo_status duo_router_softmax_backward(duo_runtime *rt, cl_mem dz, cl_mem P, cl_mem dP, float beta,
                                       size_t n, int M);

/* out = h + P_small y_small + P_big y_big; y of a module not allowed is not read. */
duo_status duo_router_mixture_forward(duo_runtime *rt, cl_mem out, cl_mem h, cl_mem y_small,
                                      cl_mem y_big, cl_mem P, duo_router_columns cols, size_t n,
                                      size_t d);

/* dP (n, M): <dx, y_m> per row for the FFN modules, 0 for skip, plus aux[i / T]
 * on the big column (aux: (n / T) floats, the budget penalty's gradient). */
duo_status duo_router_mixture_backward_probs(duo_runtime *rt, cl_mem dP, cl_mem dx, cl_mem y_small,
                                             cl_mem y_big, cl_mem aux, duo_router_columns cols,
                                             size_t n, size_t d, size_t T);

/* out = P[:, col] * dx, row-wise. */
duo_status duo_router_scale_rows(duo_runtime *rt, cl_mem out, cl_mem dx, cl_mem P,
                                 duo_router_columns cols, int col, size_t n, size_t d);

/* routes[route_offset + i] = module of the largest z[i, :]; modules: (M) int
 * route ids in column order. */
duo_status duo_router_argmax(duo_runtime *rt, cl_mem routes, size_t route_offset, cl_mem z,
                             cl_mem modules, int M, size_t n);

#endif
