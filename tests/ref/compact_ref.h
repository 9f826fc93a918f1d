/* Plain-C reference of kernels/compact.cl (layouts described there). */
#ifndef DUOCL_TESTS_COMPACT_REF_H
#define DUOCL_TESTS_COMPACT_REF_H

#include <stddef.h>
#include <stdint.h>

/* From n route ids (0, 1, 2): counts[r], offsets[r] (routes in id order), the
 * stable index list (n ints) and each token's slot (n ints). Ids above 2 get
 * slot -1 and no index entry. */
void ref_compact_index(const uint8_t *routes, size_t n, int counts[3], int offsets[3], int *index,
                       int *slot);

/* block[j] = x[index[offset + j]], rows of C floats. */
void ref_compact_gather(float *block, const float *x, const int *index, int offset, int count,
                        size_t C);

/* out[t] = h[t] + block[j], t = index[offset + j]. */
void ref_compact_scatter_add(float *out, const float *h, const float *block, const int *index,
                             int offset, int count, size_t C);

/* out[t] = h[t], t = index[offset + j]. */
void ref_compact_copy_rows(float *out, const float *h, const int *index, int offset, int count,
                           size_t C);

/* dx[t] = dblock[j], t = index[offset + j]. */
void ref_compact_scatter(float *dx, const float *dblock, const int *index, int offset, int count,
                         size_t C);

#endif
