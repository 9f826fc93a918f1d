/* Rotary position embedding (RoPE) on q or k laid out (B, T, H, hd) row-major,
 * i.e. (B*T, d) rows with d = H*hd. Within each head, the pair
 * (x[2i], x[2i+1]) is rotated by the angle t * theta^(-2i/hd), t being the
 * row's position in its sequence (row mod T).
 *
 * The cos and sin of every angle come from a table the host computes in
 * double and rounds to float once (duo_rope_table_fill): angles reach
 * t ~ 1000 rad, where a float angle alone would already be off by 3e-5 rad
 * and a device pow/cos may add several ulp more. With the table the only
 * error is the float rounding of the table entries and of the rotation.
 *
 * table: (T_max, hd/2, 2) floats, entry (t, i) = {cos, sin} of t theta^(-2i/hd).
 * One work-item per pair; out may alias in (each pair is read before it is
 * written, by the same work-item). */

/* Both directions: pair p of `in` (B*T, d) rotated by its angle (inverse = 0)
 * or by the negative angle (inverse = 1) into the same pair of `out` (B*T, d).
 * Each direction keeps its own two lines of arithmetic rather than the
 * forward's with -sin: the compiler may fuse a product and an addition into one
 * fma, which product it fuses depends on how the expression is written, and
 * these are the expressions whose bits the runs were recorded with. */
static void rope_rotate(__global float *out, __global const float *in,
                        __global const float *table, const int rows, const int t_len,
                        const int heads, const int head_dim, const int inverse)
{
    const int p = get_global_id(0);
    const int half_dim = head_dim / 2, pairs_per_row = heads * half_dim;
    if (p >= rows * pairs_per_row)
        return;
    const int row = p / pairs_per_row;
    const int i = (p - row * pairs_per_row) % half_dim;
    const int t = row % t_len;
    const float c = table[2 * (t * half_dim + i)], s = table[2 * (t * half_dim + i) + 1];
    const float x0 = in[2 * p], x1 = in[2 * p + 1];
    if (!inverse) {
        out[2 * p] = x0 * c - x1 * s;
        out[2 * p + 1] = x0 * s + x1 * c;
    } else {
        out[2 * p] = x0 * c + x1 * s;
        out[2 * p + 1] = x1 * c - x0 * s;
    }
}

/* out = R(angle) in. out, in: (B*T, d). */
__kernel void rope_forward(__global float *out, __global const float *in,
                           __global const float *table, const int rows, const int t_len,
                           const int heads, const int head_dim)
{
    rope_rotate(out, in, table, rows, t_len, heads, head_dim, 0);
}

/* The transpose of a rotation is the rotation by the negative angle:
 * dx = R(-angle) dy. dx: (B*T, d), may alias dy; dy: (B*T, d). */
__kernel void rope_backward(__global float *dx, __global const float *dy,
                            __global const float *table, const int rows, const int t_len,
                            const int heads, const int head_dim)
{
    rope_rotate(dx, dy, table, rows, t_len, heads, head_dim, 1);
}
