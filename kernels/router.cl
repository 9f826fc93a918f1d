/* Learned routers: a linear layer per Duo layer reads the FFN input f and
 * gives logits z over the allowed modules; during router training the layer
 * output is the soft mixture h + sum_m P_m FFN_m(f) with P = softmax(beta z).
 *
 * Layouts (N tokens, M allowed modules, M <= 3, d channels):
 *   z, P, dP, dz: (N, M) row-major; column c is module modules[c], a duo_route
 *                 id (0 skip, 1 small, 2 big) given by the host as col_skip,
 *                 col_small, col_big (-1 when the module is not allowed)
 *   h, dx, out:   (N, d) row-major
 *   y_small, y_big: (N, d) the FFN outputs of every token (soft mixture only)
 *   routes:       (N) uint8 route ids (hard routing)
 *   aux:          (B) per-sequence gradient of the budget penalty on P_big;
 *                 token i belongs to sequence i / T
 * One work-item per token row (M is tiny), or per element for (N, d) kernels. */

#define MAX_MODULES 3

/* P = softmax(beta * z) per row. */
__kernel void router_softmax_forward(__global float *P, __global const float *z, const float beta,
                                     const int n, const int M)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    float v[MAX_MODULES], top = -INFINITY, sum = 0.0f;
    for (int c = 0; c < M; c++) {
        v[c] = beta * z[i * M + c];
        top = fmax(top, v[c]);
    }
    for (int c = 0; c < M; c++) {
        v[c] = exp(v[c] - top);
        sum += v[c];
    }
    for (int c = 0; c < M; c++)
        P[i * M + c] = v[c] / sum;
}

/* dz = beta * P * (dP - sum_c P_c dP_c) per row: the softmax's backward. */
__kernel void router_softmax_backward(__global float *dz, __global const float *P,
                                      __global const float *dP, const float beta, const int n,
                                      const int M)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    float dot = 0.0f;
    for (int c = 0; c < M; c++)
        dot += P[i * M + c] * dP[i * M + c];
    for (int c = 0; c < M; c++)
        dz[i * M + c] = beta * P[i * M + c] * (dP[i * M + c] - dot);
}

/* out = h + P_small * y_small + P_big * y_big (a skip column adds nothing).
 * One work-item per element; out may be h. */
__kernel void router_mixture_forward(__global float *out, __global const float *h,
                                     __global const float *y_small, __global const float *y_big,
                                     __global const float *P, const int M, const int col_small,
                                     const int col_big, const int n, const int d)
{
    const int j = get_global_id(0), i = get_global_id(1);
    if (i >= n || j >= d)
        return;
    const size_t at = (size_t)i * d + j;
    float value = h[at];
    if (col_small >= 0)
        value += P[i * M + col_small] * y_small[at];
    if (col_big >= 0)
        value += P[i * M + col_big] * y_big[at];
    out[at] = value;
}

/* dP[i, c] = <dx_i, y_c,i> for the FFN modules, 0 for skip, plus the budget
 * penalty's gradient on the big column. One work-item per row. */
__kernel void router_mixture_backward_probs(__global float *dP, __global const float *dx,
                                            __global const float *y_small,
                                            __global const float *y_big,
                                            __global const float *aux, const int M,
                                            const int col_skip, const int col_small,
                                            const int col_big, const int n, const int d,
                                            const int T)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    __global const float *g = dx + (size_t)i * d;
    if (col_small >= 0) {
        __global const float *y = y_small + (size_t)i * d;
        float dot = 0.0f;
        for (int j = 0; j < d; j++)
            dot += g[j] * y[j];
        dP[i * M + col_small] = dot;
    }
    if (col_big >= 0) {
        __global const float *y = y_big + (size_t)i * d;
        float dot = 0.0f;
        for (int j = 0; j < d; j++)
            dot += g[j] * y[j];
        dP[i * M + col_big] = dot + aux[i / T];
    }
    if (col_skip >= 0)
        dP[i * M + col_skip] = 0.0f;
}

/* out = P[:, col] * dx row-wise: the gradient reaching module col's output. */
__kernel void router_scale_rows(__global float *out, __global const float *dx,
                                __global const float *P, const int M, const int col, const int n,
                                const int d)
{
    const int j = get_global_id(0), i = get_global_id(1);
    if (i >= n || j >= d)
        return;
    const size_t at = (size_t)i * d + j;
    out[at] = P[i * M + col] * dx[at];
}

/* routes[route_offset + i] = the module of the largest logit (ties: the cheaper module,
 * which comes first in column order skip < small < big). */
__kernel void router_argmax(__global uchar *routes, const int route_offset,
                            __global const float *z, __global const int *modules, const int M,
                            const int n)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    int best = 0;
    for (int c = 1; c < M; c++)
        if (z[i * M + c] > z[i * M + best])
            best = c;
    routes[route_offset + i] = (uchar)modules[best];
}
