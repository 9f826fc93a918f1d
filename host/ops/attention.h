/* Causal multi-head attention on the device, forward and backward
 * (kernels/attention.cl plus CLBlast batched GEMMs). ops/attention_fused.h
 * computes the same without the (T, T) matrix; model.attention chooses.
 *
 * q, k, v, y and their gradients are (B, T, d) row-major with d = H * hd and
 * head h in columns [h*hd, (h+1)*hd); q and k already carry RoPE. y is the
 * attention output before the output projection:
 *   y[b, t, head h] = sum over s <= t of softmax_s(q_t . k_s / sqrt(hd)) v_s.
 *
 * Memory (all counts in floats; the caller allocates, the launchers never do):
 *   saved    3 * B*T*H*hd + B*H*T*T   written by forward, read (not changed) by
 *            backward: the per-head copies of q, k, v (B, H, T, hd) and the
 *            softmax probabilities P (B, H, T, T). Backward needs nothing else
 *            from forward: the caller may drop q, k, v after forward. One saved
 *            block per layer when training; a forward-only pass may reuse one.
 *   scratch  2 * B*T*H*hd + B*H*T*T   contents undefined between calls; one
 *            block can serve every layer and both directions.
 * Example: B=16, T=256, H=4, hd=64: saved 7 Mi floats (28 MiB), scratch
 * 6 Mi floats (24 MiB).
 *
 * The product GEMMs go through CLBlast's strided-batched GEMM, which on large
 * shapes may create its own temporary buffers (its API takes no temp buffer
 * for batched calls). Every index fits in int: the launchers reject shapes
 * with more than INT_MAX elements in any buffer. Results are deterministic:
 * the same inputs give the same bits on the same device. */
#ifndef DUOCL_OPS_ATTENTION_H
#define DUOCL_OPS_ATTENTION_H

#include "device/runtime_internal.h"

typedef struct duo_attention_shape {
    size_t B;  /* sequences */
    size_t T;  /* positions per sequence */
    size_t H;  /* heads */
    size_t hd; /* head dimension; d = H * hd */
} duo_attention_shape;

/* Floats the forward saves for the backward: 3*B*T*H*hd + B*H*T*T. */
size_t duo_attention_saved_floats(duo_attention_shape s);

/* Floats of scratch either direction needs: 2*B*T*H*hd + B*H*T*T. */
size_t duo_attention_scratch_floats(duo_attention_shape s);

/* y = attention(q, k, v). saved and scratch hold at least the floats above;
 * y must not alias any other argument. */
duo_status duo_attention_forward(duo_runtime *rt, duo_attention_shape s, cl_mem y, cl_mem saved,
                                 cl_mem scratch, cl_mem q, cl_mem k, cl_mem v);

/* dq, dk, dv (overwritten) = gradients of sum(y * dy) with respect to q, k, v,
 * from dy (B, T, d) and the block that forward saved. The outputs must be
 * distinct buffers, none of them dy, saved or scratch. */
duo_status duo_attention_backward(duo_runtime *rt, duo_attention_shape s, cl_mem dq, cl_mem dk,
                                  cl_mem dv, cl_mem scratch, cl_mem dy, cl_mem saved);

#endif
