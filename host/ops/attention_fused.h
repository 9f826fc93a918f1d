/* Causal multi-head attention on the device, fused (kernels/attention_fused.cl:
 * the FlashAttention-2 scheme, no (T, T) matrix): the same function, inputs,
 * outputs and calling pattern as the GEMM path of ops/attention.h, so the
 * model can take either.
 *
 * q, k, v, y and their gradients are (B, T, d) row-major with d = H * hd and
 * head h in columns [h*hd, (h+1)*hd); q and k already carry RoPE.
 *
 * Memory (in floats; the caller allocates, the launchers never do):
 *   saved    4 * B*T*H*hd + B*H*T   written by forward, read (not changed) by
 *            backward: copies of q, k, v, the output o, and the log-sum-exp
 *            of every row and head. Linear in T.
 *   scratch  B*H*T                  rowsum(dO * O) during backward.
 * Example: B=16, T=256, H=4, hd=64: saved 4.02 Mi floats (16.1 MiB) against
 * the GEMM path's 7 Mi; scratch 16 Ki floats (64 KiB) against 6 Mi.
 *
 * Head dims up to 128 and tiles that fit the device's local memory (see
 * duo_attention_fused_tile). Results are deterministic: the same inputs give
 * the same bits on the same device. */
#ifndef DUOCL_OPS_ATTENTION_FUSED_H
#define DUOCL_OPS_ATTENTION_FUSED_H

#include <stdbool.h>

#include "attention.h"

enum { DUO_ATTENTION_FUSED_MAX_HEAD_DIM = 128 };

/* The tile (positions per work-group: 16, 32 or 64) the kernels use for head
 * dim hd on this device: the profile's 1-D work-group size, lowered until the
 * backward's four local tiles fit the device's local memory. 0 when the
 * fused kernels cannot run this head dim here; then `why` (may be NULL) says
 * why in a sentence. */
size_t duo_attention_fused_tile(const duo_runtime *rt, size_t hd, char *why, size_t why_size);

/* Floats the forward saves for the backward: 4*B*T*H*hd + B*H*T. */
size_t duo_attention_fused_saved_floats(duo_attention_shape s);

/* Floats of scratch the backward needs: B*H*T (the forward none). */
size_t duo_attention_fused_scratch_floats(duo_attention_shape s);

/* y = attention(q, k, v). saved holds at least the floats above; y must not
 * alias any other argument. scratch is not used (kept for the GEMM path's
 * signature). */
duo_status duo_attention_fused_forward(duo_runtime *rt, duo_attention_shape s, cl_mem y,
                                       cl_mem saved, cl_mem scratch, cl_mem q, cl_mem k,
                                       cl_mem v);

/* dq, dk, dv (overwritten) = gradients of sum(y * dy) with respect to q, k, v,
 * from dy (B, T, d) and the block that forward saved. The outputs must be
 * distinct buffers, none of them dy, saved or scratch. */
duo_status duo_attention_fused_backward(duo_runtime *rt, duo_attention_shape s, cl_mem dq,
                                        cl_mem dk, cl_mem dv, cl_mem scratch, cl_mem dy,
                                        cl_mem saved);

#endif
