/* The SwiGLU gate of the FFN on the device (kernels/ffn.cl):
 * h = silu(a) * b elementwise, a, b, h (M, F) contiguous row-major. The GEMMs
 * around it are duo_gemm calls. The caller owns every buffer. */
#ifndef DUOCL_OPS_FFN_H
#define DUOCL_OPS_FFN_H

#include "device/runtime_internal.h"

/* h = silu(a) * b, silu(x) = x / (1 + exp(-x)). h may alias a or b. */
duo_status duo_swiglu_forward(duo_runtime *rt, cl_mem h, cl_mem a, cl_mem b, size_t m, size_t f);

/* da = dh * b * silu'(a), db = dh * silu(a), both overwritten (accumulate
 * elsewhere if needed); each may alias dh, a or b. */
duo_status duo_swiglu_backward(duo_runtime *rt, cl_mem da, cl_mem db, cl_mem dh, cl_mem a,
                               cl_mem b, size_t m, size_t f);

#endif
