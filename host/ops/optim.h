/* Optimizer on the device (kernels/optim.cl): the AdamW step and the global
 * gradient norm used for clipping. The caller owns every buffer. */
#ifndef DUOCL_OPS_OPTIM_H
#define DUOCL_OPS_OPTIM_H

#include "device/runtime_internal.h"

/* One AdamW step's settings, as torch.optim.AdamW takes them. */
typedef struct duo_adamw_hparams {
    double lr;           /* this step's learning rate (after warm-up / decay) */
    double beta1, beta2; /* e.g. 0.9, 0.95 */
    double eps;          /* e.g. 1e-8 */
    double weight_decay; /* decoupled (AdamW); 0 for norm gains */
    long step;           /* 1 on the first step: bias corrections use beta^step */
} duo_adamw_hparams;

/* The floats the kernel receives, derived on the host in double then rounded
 * once, as PyTorch does with its Python-float scalars. */
typedef struct duo_adamw_scalars {
    float decay;      /* 1 - lr * weight_decay */
    float beta1, one_minus_beta1, beta2, one_minus_beta2;
    float step_size;  /* lr / (1 - beta1^step) */
    float bias2_sqrt; /* sqrt(1 - beta2^step) */
    float eps;
} duo_adamw_scalars;

duo_adamw_scalars duo_adamw_scalars_for(const duo_adamw_hparams *h);

/* One AdamW step over elements [offset, offset + n) of param, grad, m and v
 * (flat float buffers, the same offset in each; m and v start at zero). The
 * gradient is multiplied by grad_scale first (1, or the clip factor):
 *   g = grad * grad_scale; p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 * grad is only read. offset + n must be at most INT_MAX. */
duo_status duo_adamw_step(duo_runtime *rt, cl_mem param, cl_mem grad, cl_mem m, cl_mem v,
                          size_t offset, size_t n, const duo_adamw_hparams *h, float grad_scale);

/* n floats of `buffer` starting at `offset` (in floats): one gradient tensor. */
typedef struct duo_grad_span {
    cl_mem buffer;
    size_t offset, n;
} duo_grad_span;

/* Bytes of scratch duo_grad_norm needs for these tensors. */
size_t duo_grad_norm_scratch_bytes(const duo_runtime *rt, const duo_grad_span *spans, int count);

/* The L2 norm of all the tensors together, as if concatenated: per-work-group
 * sums of squares into scratch, then one fixed-order tree over all of them
 * (tensors in the order given), so the same gradients give the same bits.
 * Blocks until *norm is on the host (clipping and logging need it there).
 * scratch: at least duo_grad_norm_scratch_bytes(rt, spans, count) bytes. */
duo_status duo_grad_norm(duo_runtime *rt, const duo_grad_span *spans, int count, cl_mem scratch,
                         float *norm);

/* Gradient clipping factor as torch.nn.utils.clip_grad_norm_ computes it, in
 * float: min(1, max_norm / (norm + 1e-6)); 1 when max_norm <= 0 (no clipping).
 * A NaN norm gives NaN and an infinite one gives 0: check isfinite(norm) first. */
float duo_clip_factor(float norm, float max_norm);

#endif
