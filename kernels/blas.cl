/* Small BLAS-like helpers around CLBlast's GEMM. */

/* c (rows x cols, row stride ldc, starting at c_offset) *= beta.
 * Used for a GEMM whose k is 0, which CLBlast rejects: C = beta * C. */
__kernel void matrix_scale(__global float *c, const int c_offset, const int ldc,
                           const int rows, const int cols, const float beta)
{
    const int col = get_global_id(0);
    const int row = get_global_id(1);
    if (row >= rows || col >= cols)
        return;
    __global float *x = c + c_offset + (size_t)row * ldc + col;
    *x = beta == 0.0f ? 0.0f : beta * *x;
}
