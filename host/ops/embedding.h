/* Token embedding on the device (kernels/embedding.cl). Shapes: table (V, C),
 * tokens (N) int32, out and dout (N, C), all row-major float unless said.
 * The caller owns every buffer; launchers allocate nothing. */
#ifndef DUOCL_OPS_EMBEDDING_H
#define DUOCL_OPS_EMBEDDING_H

#include "device/runtime_internal.h"

/* out (N, C) = table[tokens[n]]. A token outside [0, V) yields a NaN row
 * (the device cannot report it; duo_embedding_csr_build names it). */
duo_status duo_embedding_forward(duo_runtime *rt, cl_mem out, cl_mem table, cl_mem tokens,
                                 size_t n, size_t c, int vocab);

/* Groups the positions 0..n-1 by token, on the host: the positions holding
 * token v are positions[offsets[v] .. offsets[v + 1]), in increasing order.
 * offsets has vocab + 1 entries, positions n. Fails with
 * DUO_ERR_INVALID_ARGUMENT, naming the position and value, if a token is
 * outside [0, vocab). */
duo_status duo_embedding_csr_build(const int *tokens, size_t n, int vocab, int *offsets,
                                   int *positions);

/* dtable (V, C) += sum over positions n holding token v of dout[n], summed in
 * increasing n (deterministic, no atomics). offsets (V + 1) and positions (N)
 * are device copies of duo_embedding_csr_build's output. Accumulates because
 * the embedding is tied with the output head. */
duo_status duo_embedding_backward(duo_runtime *rt, cl_mem dtable, cl_mem dout, cl_mem offsets,
                                  cl_mem positions, int vocab, size_t c);

#endif
