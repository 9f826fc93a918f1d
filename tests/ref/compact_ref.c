#include "compact_ref.h"

void ref_compact_index(const uint8_t *routes, size_t n, int counts[3], int offsets[3], int *index,
                       int *slot)
{
    for (int r = 0; r < 3; r++)
        counts[r] = 0;
    for (size_t t = 0; t < n; t++)
        if (routes[t] < 3)
            counts[routes[t]]++;
    offsets[0] = 0;
    offsets[1] = counts[0];
    offsets[2] = counts[0] + counts[1];
    int next[3] = {offsets[0], offsets[1], offsets[2]};
    for (size_t t = 0; t < n; t++) {
        if (routes[t] >= 3) {
            slot[t] = -1;
            continue;
        }
        int s = next[routes[t]]++;
        index[s] = (int)t;
        slot[t] = s;
    }
}

void ref_compact_gather(float *block, const float *x, const int *index, int offset, int count,
                        size_t C)
{
    for (int j = 0; j < count; j++)
        for (size_t c = 0; c < C; c++)
            block[(size_t)j * C + c] = x[(size_t)index[offset + j] * C + c];
}

void ref_compact_scatter_add(float *out, const float *h, const float *block, const int *index,
                             int offset, int count, size_t C)
{
    for (int j = 0; j < count; j++) {
        size_t t = (size_t)index[offset + j];
        for (size_t c = 0; c < C; c++)
            out[t * C + c] = h[t * C + c] + block[(size_t)j * C + c];
    }
}

void ref_compact_copy_rows(float *out, const float *h, const int *index, int offset, int count,
                           size_t C)
{
    for (int j = 0; j < count; j++) {
        size_t t = (size_t)index[offset + j];
        for (size_t c = 0; c < C; c++)
            out[t * C + c] = h[t * C + c];
    }
}

void ref_compact_scatter(float *dx, const float *dblock, const int *index, int offset, int count,
                         size_t C)
{
    for (int j = 0; j < count; j++) {
        size_t t = (size_t)index[offset + j];
        for (size_t c = 0; c < C; c++)
            dx[t * C + c] = dblock[(size_t)j * C + c];
    }
}
