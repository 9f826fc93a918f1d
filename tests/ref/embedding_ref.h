/* Plain-C reference of kernels/embedding.cl. table (V, C), tokens (N),
 * out and dout (N, C), row-major. Tokens must be in [0, V). */
#ifndef DUOCL_TESTS_EMBEDDING_REF_H
#define DUOCL_TESTS_EMBEDDING_REF_H

#include <stddef.h>

/* out[n] = table[tokens[n]] (a copy: exact). */
void ref_embedding_forward(float *out, const float *table, const int *tokens, size_t n, size_t c);

/* dtable[v] += sum over n with tokens[n] == v of dout[n]; each sum is taken in
 * double and added to dtable once (rounded to float once). */
void ref_embedding_backward(float *dtable, const float *dout, const int *tokens, size_t n,
                            size_t c, int vocab);

#endif
