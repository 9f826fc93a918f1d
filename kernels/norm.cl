/* RMSNorm: y = x * rstd * w with rstd = 1 / sqrt(mean(x^2) + eps) per row.
 *
 * Row sums use one work-group of DUO_WG_REDUCE work-items per row: work-item
 * l sums columns l, l + WG, ... in order, then common.cl's fixed tree in
 * local memory combines the WG partial sums. The weight gradient is summed
 * over rows in a fixed order too (per block of rows, then over blocks), never
 * with atomics, so every result has the same bits on every run. (The dw sums
 * do not depend on the work-group size either; the row sums do, through the
 * tree.) */

#define WG DUO_WG_REDUCE

/* y: (N, C) row-major, must not alias x; rstd: (N), saved for backward;
 * x: (N, C) row-major; w: (C). One work-group per row. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void rmsnorm_forward(__global float *y, __global float *rstd, __global const float *x,
                     __global const float *w, const int c, const float eps)
{
    __local float partial[WG];
    const int row = get_group_id(0), lid = get_local_id(0);
    /* Exactly N groups are launched, so no bounds check: a return before a
     * barrier, even one the whole group takes, crashed PoCL 3.1. */
    __global const float *xr = x + (size_t)row * c;
    __global float *yr = y + (size_t)row * c;

    float sum = 0.0f;
    for (int j = lid; j < c; j += WG)
        sum += xr[j] * xr[j];
    sum = group_sum_float(partial, sum);
    const float r = rsqrt(sum / (float)c + eps);
    if (lid == 0)
        rstd[row] = r;
    for (int j = lid; j < c; j += WG)
        yr[j] = xr[j] * r * w[j];
}

/* With r = rstd[n] and dot = sum_c dy[n,c] w[c] x[n,c]:
 *   dx[n,c] = r * (w[c] dy[n,c] - x[n,c] * r^2 * dot / C)
 * dx: (N, C), overwritten; dy, x: (N, C); w: (C); rstd: (N) from
 * rmsnorm_forward. One work-group per row, like the forward. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void rmsnorm_backward(__global float *dx, __global const float *dy, __global const float *x,
                      __global const float *w, __global const float *rstd, const int c)
{
    __local float partial[WG];
    const int row = get_group_id(0), lid = get_local_id(0);
    /* Exactly N groups are launched (no return before a barrier). */
    __global const float *dyr = dy + (size_t)row * c, *xr = x + (size_t)row * c;
    __global float *dxr = dx + (size_t)row * c;

    float sum = 0.0f;
    for (int j = lid; j < c; j += WG)
        sum += dyr[j] * w[j] * xr[j];
    sum = group_sum_float(partial, sum);
    const float r = rstd[row];
    const float k = sum * r * r / (float)c;
    for (int j = lid; j < c; j += WG)
        dxr[j] = r * (w[j] * dyr[j] - xr[j] * k);
}

/* The weight gradient dw[c] = sum_n dy[n,c] x[n,c] r[n], first per block of
 * rows_per_block rows (in row order), then over blocks (in block order).
 * dw_partial: (ceil(N / rows_per_block), C), overwritten; dy, x: (N, C);
 * rstd: (N). One work-item per (block, column); consecutive work-items read
 * consecutive columns. */
__kernel void rmsnorm_backward_dw_partial(__global float *dw_partial, __global const float *dy,
                                          __global const float *x, __global const float *rstd,
                                          const int n, const int c, const int rows_per_block)
{
    const int i = get_global_id(0);
    const int blocks = (n + rows_per_block - 1) / rows_per_block;
    if (i >= blocks * c)
        return;
    const int block = i / c, col = i - block * c;
    const int first = block * rows_per_block, last = min(first + rows_per_block, n);
    float sum = 0.0f;
    for (int row = first; row < last; row++)
        sum += dy[(size_t)row * c + col] * x[(size_t)row * c + col] * rstd[row];
    dw_partial[i] = sum;
}

/* dw: (C), overwritten with the sum over blocks, in block order, of
 * dw_partial (blocks, C). One work-item per column. */
__kernel void rmsnorm_backward_dw(__global float *dw, __global const float *dw_partial,
                                  const int blocks, const int c)
{
    const int j = get_global_id(0);
    if (j >= c)
        return;
    float sum = 0.0f;
    for (int b = 0; b < blocks; b++)
        sum += dw_partial[(size_t)b * c + j];
    dw[j] = sum;
}
