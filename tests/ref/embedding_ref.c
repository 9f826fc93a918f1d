#include <stdlib.h>
#include <string.h>

#include "embedding_ref.h"

void ref_embedding_forward(float *out, const float *table, const int *tokens, size_t n, size_t c)
{
    for (size_t i = 0; i < n; i++)
        memcpy(out + i * c, table + (size_t)tokens[i] * c, c * sizeof *out);
}

void ref_embedding_backward(float *dtable, const float *dout, const int *tokens, size_t n,
                            size_t c, int vocab)
{
    size_t count = (size_t)vocab * c;
    double *sum = calloc(count ? count : 1, sizeof *sum);
    char *seen = calloc((size_t)vocab + 1, 1);
    if (!sum || !seen)
        abort();
    for (size_t i = 0; i < n; i++) {
        seen[tokens[i]] = 1;
        for (size_t j = 0; j < c; j++)
            sum[(size_t)tokens[i] * c + j] += dout[i * c + j];
    }
    /* Rows of tokens that never occur are left untouched, as on the device. */
    for (int v = 0; v < vocab; v++)
        if (seen[v])
            for (size_t j = 0; j < c; j++)
                dtable[(size_t)v * c + j] = (float)(dtable[(size_t)v * c + j] + sum[(size_t)v * c + j]);
    free(sum);
    free(seen);
}
