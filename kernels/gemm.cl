/* The built-in GEMM: C = alpha op(A) op(B) + beta C, row-major, for devices
 * that cannot run CLBlast (no run-time compiler: FPGA boards) and for CPUs,
 * where it is faster. host/device/gemm.c reduces every product to one of
 * two kernels, both with B not transposed:
 *
 *   gemm_nn   C = alpha A B + beta C     A (m, k), row stride lda
 *   gemm_tn   C = alpha A^T B + beta C   A (k, m), row stride lda
 *
 * B (k, n), row stride ldb; C (m, n), row stride ldc. Each matrix starts
 * *_offset floats into its buffer and, for batched products, the p-th one
 * p * *_stride floats further (dimension 2 of the NDRange is p). A B that is
 * used transposed (stored (n, k)) is first copied as (k, n) into a scratch
 * buffer by gemm_transpose.
 *
 * Work: work-item (x, y) holds a tile of DUO_GEMM_ROWS rows by
 * DUO_GEMM_VECTORS vectors of DUO_GEMM_WIDTH columns of C in registers,
 * starting at row y * DUO_GEMM_ROWS and column x * TILE_COLS. For every l of
 * k it loads its vectors of B's row l (contiguous) and one value of A per row
 * and does ROWS x VECTORS vector FMAs. No local memory and no barriers: PoCL
 * runs a work-group as a loop over its work-items and keeps each one's loop
 * over k whole (a kernel with barriers would get the work-item loop inside
 * the k loop, the tile in memory), so on a CPU the tile stays in registers
 * and the vectors are the CPU's (16 floats: AVX-512). The items of a group
 * share rows of A (same y) and panels of B (same x) in cache; the host splits
 * a long k into launches of the profile's k_block so those panels fit. On GPUs,
 * neighbouring items read neighbouring vectors of B. The tile sizes come
 * from the vendor profile (platforms/profile_*.c) as -D constants.
 *
 * Numbers: each element of C is one chain of fma over l = 0 .. k-1 in order,
 * from 0, then alpha * sum + beta * C (C is not read when beta is 0). The
 * tile sizes do not change the bits; a k split into blocks adds each block's
 * chain to C in turn. */

#define TILE_COLS (DUO_GEMM_VECTORS * DUO_GEMM_WIDTH)

#if DUO_GEMM_WIDTH == 1
typedef float floatw;
#define LOADW(p) (*(p))
#define STOREW(v, p) (*(p) = (v))
#else
#define GEMM_CAT2(a, b) a##b
#define GEMM_CAT(a, b) GEMM_CAT2(a, b)
typedef GEMM_CAT(float, DUO_GEMM_WIDTH) floatw;
#define LOADW(p) GEMM_CAT(vload, DUO_GEMM_WIDTH)(0, (p))
#define STOREW(v, p) GEMM_CAT(vstore, DUO_GEMM_WIDTH)((v), 0, (p))
#endif

/* op(A)[r][l]: A (m, k) as it is, or A (k, m) transposed. */
inline float gemm_a(const __global float *a, const int lda, const bool at, const int r, const int l)
{
    return at ? a[(size_t)l * lda + r] : a[(size_t)r * lda + l];
}

/* The tile at (row0, col0): every row and column in range on the fast path,
 * zeros for what lies outside on the other. */
inline void gemm_tile(const int m, const int n, const int k, const float alpha,
                      const __global float *a, const int lda, const bool at,
                      const __global float *b, const int ldb, const float beta,
                      __global float *c, const int ldc, const int row0, const int col0)
{
    floatw acc[DUO_GEMM_ROWS][DUO_GEMM_VECTORS];
#pragma unroll
    for (int i = 0; i < DUO_GEMM_ROWS; i++)
#pragma unroll
        for (int v = 0; v < DUO_GEMM_VECTORS; v++)
            acc[i][v] = (floatw)(0.0f);

    if (row0 + DUO_GEMM_ROWS <= m && col0 + TILE_COLS <= n) {
        for (int l = 0; l < k; l++) {
            floatw bv[DUO_GEMM_VECTORS];
#pragma unroll
            for (int v = 0; v < DUO_GEMM_VECTORS; v++)
                bv[v] = LOADW(b + (size_t)l * ldb + col0 + v * DUO_GEMM_WIDTH);
#pragma unroll
            for (int i = 0; i < DUO_GEMM_ROWS; i++) {
                const float x = gemm_a(a, lda, at, row0 + i, l);
#pragma unroll
                for (int v = 0; v < DUO_GEMM_VECTORS; v++)
                    acc[i][v] = fma((floatw)(x), bv[v], acc[i][v]);
            }
        }
    } else {
        for (int l = 0; l < k; l++) {
            floatw bv[DUO_GEMM_VECTORS];
#pragma unroll
            for (int v = 0; v < DUO_GEMM_VECTORS; v++) {
                float part[DUO_GEMM_WIDTH];
#pragma unroll
                for (int e = 0; e < DUO_GEMM_WIDTH; e++) {
                    /* Clamped, so even a load the compiler hoists above
                     * the choice reads an element of B. */
                    const int j = col0 + v * DUO_GEMM_WIDTH + e;
                    const float y = b[(size_t)l * ldb + min(j, n - 1)];
                    part[e] = j < n ? y : 0.0f;
                }
                bv[v] = LOADW(part);
            }
#pragma unroll
            for (int i = 0; i < DUO_GEMM_ROWS; i++) {
                const float y = gemm_a(a, lda, at, min(row0 + i, m - 1), l);
                const float x = row0 + i < m ? y : 0.0f;
#pragma unroll
                for (int v = 0; v < DUO_GEMM_VECTORS; v++)
                    acc[i][v] = fma((floatw)(x), bv[v], acc[i][v]);
            }
        }
    }

#pragma unroll
    for (int i = 0; i < DUO_GEMM_ROWS; i++) {
        const int r = row0 + i;
#pragma unroll
        for (int v = 0; v < DUO_GEMM_VECTORS; v++) {
            const int j = col0 + v * DUO_GEMM_WIDTH;
            __global float *out = c + (size_t)r * ldc + j;
            if (r < m && j + DUO_GEMM_WIDTH <= n) {
                if (beta == 0.0f)
                    STOREW(alpha * acc[i][v], out);
                else
                    STOREW(fma((floatw)(alpha), acc[i][v], beta * LOADW(out)), out);
            } else if (r < m) {
                float part[DUO_GEMM_WIDTH];
                STOREW(acc[i][v], part);
#pragma unroll
                for (int e = 0; e < DUO_GEMM_WIDTH; e++)
                    if (j + e < n)
                        out[e] = beta == 0.0f ? alpha * part[e] : fma(alpha, part[e], beta * out[e]);
            }
        }
    }
}

__kernel __attribute__((reqd_work_group_size(DUO_GEMM_WG_X, DUO_GEMM_WG_Y, 1)))
void gemm_nn(const int m, const int n, const int k, const float alpha,
             __global const float *a, const ulong a_offset, const int lda, const ulong a_stride,
             __global const float *b, const ulong b_offset, const int ldb, const ulong b_stride,
             const float beta,
             __global float *c, const ulong c_offset, const int ldc, const ulong c_stride)
{
    const int col0 = get_global_id(0) * TILE_COLS, row0 = get_global_id(1) * DUO_GEMM_ROWS;
    const size_t p = get_global_id(2);
    if (row0 >= m || col0 >= n)
        return;
    gemm_tile(m, n, k, alpha, a + a_offset + p * a_stride, lda, false, b + b_offset + p * b_stride,
              ldb, beta, c + c_offset + p * c_stride, ldc, row0, col0);
}

__kernel __attribute__((reqd_work_group_size(DUO_GEMM_WG_X, DUO_GEMM_WG_Y, 1)))
void gemm_tn(const int m, const int n, const int k, const float alpha,
             __global const float *a, const ulong a_offset, const int lda, const ulong a_stride,
             __global const float *b, const ulong b_offset, const int ldb, const ulong b_stride,
             const float beta,
             __global float *c, const ulong c_offset, const int ldc, const ulong c_stride)
{
    const int col0 = get_global_id(0) * TILE_COLS, row0 = get_global_id(1) * DUO_GEMM_ROWS;
    const size_t p = get_global_id(2);
    if (row0 >= m || col0 >= n)
        return;
    gemm_tile(m, n, k, alpha, a + a_offset + p * a_stride, lda, true, b + b_offset + p * b_stride,
              ldb, beta, c + c_offset + p * c_stride, ldc, row0, col0);
}

/* out (cols, rows), row stride ld_out = in (rows, cols)^T, row stride ld_in;
 * the p-th pair in_stride and out_stride floats further. Work-item (x, y)
 * copies the 16 x 16 block at row y * 16, column x * 16 of `in`, writing
 * rows of `out`. */
#define TRANSPOSE_BLOCK 16
__kernel __attribute__((reqd_work_group_size(DUO_GEMM_WG_X, DUO_GEMM_WG_Y, 1)))
void gemm_transpose(const int rows, const int cols,
                    __global const float *in, const ulong in_offset, const int ld_in,
                    const ulong in_stride,
                    __global float *out, const ulong out_offset, const int ld_out,
                    const ulong out_stride)
{
    const int c0 = get_global_id(0) * TRANSPOSE_BLOCK, r0 = get_global_id(1) * TRANSPOSE_BLOCK;
    const size_t p = get_global_id(2);
    if (r0 >= rows || c0 >= cols)
        return;
    in += in_offset + p * in_stride;
    out += out_offset + p * out_stride;
    const int r_end = min(rows, r0 + TRANSPOSE_BLOCK), c_end = min(cols, c0 + TRANSPOSE_BLOCK);
    for (int col = c0; col < c_end; col++)
        for (int r = r0; r < r_end; r++)
            out[(size_t)col * ld_out + r] = in[(size_t)r * ld_in + col];
}
