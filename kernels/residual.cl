/* Residual connections: out = a + b, and y += alpha * x.
 * Every buffer is a flat float array of n elements; one work-item per element.
 * The backward of a residual add is the identity on both inputs, so gradient
 * accumulation uses scaled_add with alpha = 1. */

__kernel void residual_add(__global float *out, __global const float *a,
                           __global const float *b, const int n)
{
    const int i = get_global_id(0);
    if (i < n)
        out[i] = a[i] + b[i];
}

__kernel void scaled_add(__global float *y, __global const float *x, const float alpha,
                         const int n)
{
    const int i = get_global_id(0);
    if (i < n)
        y[i] = y[i] + alpha * x[i];
}
