/* Launchers for kernels/embedding.cl and the host-side CSR of positions. */
#include <limits.h>
#include <string.h>

#include "embedding.h"

duo_status duo_embedding_forward(duo_runtime *rt, cl_mem out, cl_mem table, cl_mem tokens,
                                 size_t n, size_t c, int vocab)
{
    if (vocab <= 0 || c == 0 || n > INT_MAX / c || (size_t)vocab > INT_MAX / c)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "embedding_forward: N %zu, C %zu, V %d (need V > 0, C > 0, N*C and V*C "
                        "below 2^31)", n, c, vocab);
    int count = (int)n, width = (int)c;
    duo_karg args[] = {DUO_ARG(out), DUO_ARG(table), DUO_ARG(tokens), DUO_ARG(count),
                       DUO_ARG(width), DUO_ARG(vocab)};
    return duo_launch(rt, "embedding.cl", "embedding_forward", 1, (size_t[]){n * c},
                      (size_t[]){rt->work_group_1d}, DUO_NARGS(args), args);
}

duo_status duo_embedding_csr_build(const int *tokens, size_t n, int vocab, int *offsets,
                                   int *positions)
{
    if (vocab <= 0 || n > INT_MAX)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "embedding CSR: vocabulary %d and %zu positions (need vocabulary > 0 and "
                        "fewer than 2^31 positions)", vocab, n);
    /* A counting sort: count each token, prefix-sum the counts into segment
     * starts, then place positions in increasing order (stable). */
    memset(offsets, 0, ((size_t)vocab + 1) * sizeof *offsets);
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= vocab)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                            "token %d at position %zu is outside the vocabulary [0, %d)",
                            tokens[i], i, vocab);
        offsets[tokens[i] + 1]++;
    }
    for (int v = 0; v < vocab; v++)
        offsets[v + 1] += offsets[v];
    /* offsets[v] doubles as the next free slot of token v while placing;
     * afterwards it has moved to the segment's end, i.e. offsets[v + 1]'s
     * old value, so shifting right by one restores the starts. */
    for (size_t i = 0; i < n; i++)
        positions[offsets[tokens[i]]++] = (int)i;
    for (int v = vocab; v > 0; v--)
        offsets[v] = offsets[v - 1];
    offsets[0] = 0;
    return DUO_OK;
}

duo_status duo_embedding_backward(duo_runtime *rt, cl_mem dtable, cl_mem dout, cl_mem offsets,
                                  cl_mem positions, int vocab, size_t c)
{
    if (vocab <= 0 || c == 0 || (size_t)vocab > INT_MAX / c)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "embedding_backward: V %d, C %zu (need V > 0, C > 0, V*C below 2^31)",
                        vocab, c);
    int width = (int)c;
    duo_karg args[] = {DUO_ARG(dtable), DUO_ARG(dout), DUO_ARG(offsets), DUO_ARG(positions),
                       DUO_ARG(vocab), DUO_ARG(width)};
    return duo_launch(rt, "embedding.cl", "embedding_backward", 1, (size_t[]){(size_t)vocab * c},
                      (size_t[]){rt->work_group_1d}, DUO_NARGS(args), args);
}
