/* Token embedding: forward gathers rows of the table, backward sums the
 * gradient rows of every position that holds the same token.
 *
 * The backward never uses float atomics: the host groups positions by token
 * (a CSR built by duo_embedding_csr_build, positions in increasing order) and
 * one work-item per (v, c) sums its token's segment in that order, so the
 * result has the same bits on every run. */

/* out: (N, C) row-major; table: (V, C) row-major; tokens: (N) int.
 * One work-item per output element. A token outside [0, V) cannot be read
 * safely: its row is written as NaN so the loss shows it. (The host validates
 * tokens when it builds the backward CSR, which names the position.) */
__kernel void embedding_forward(__global float *out, __global const float *table,
                                __global const int *tokens, const int n, const int c,
                                const int vocab)
{
    const int i = get_global_id(0);
    if (i >= n * c)
        return;
    const int row = i / c, col = i - row * c;
    const int token = tokens[row];
    out[i] = (token >= 0 && token < vocab) ? table[token * c + col] : NAN;
}

/* dtable: (V, C) row-major, accumulated into (+=), because the embedding is
 * tied with the output head whose gradient lands in the same buffer;
 * dout: (N, C) row-major; offsets: (V + 1), positions: (N): the positions
 * holding token v are positions[offsets[v] .. offsets[v + 1]), increasing.
 * One work-item per (v, c); consecutive work-items read consecutive columns. */
__kernel void embedding_backward(__global float *dtable, __global const float *dout,
                                 __global const int *offsets, __global const int *positions,
                                 const int vocab, const int c)
{
    const int i = get_global_id(0);
    if (i >= vocab * c)
        return;
    const int v = i / c, col = i - v * c;
    const int begin = offsets[v], end = offsets[v + 1];
    if (begin == end)
        return; /* leave dtable untouched (not even -0 + 0) */
    float sum = 0.0f;
    for (int j = begin; j < end; j++)
        sum += dout[(size_t)positions[j] * c + col]; /* N is not known here: no int overflow */
    dtable[i] += sum;
}
