/* Plain-C reference of kernels/optim.cl. */
#ifndef DUOCL_TESTS_OPTIM_REF_H
#define DUOCL_TESTS_OPTIM_REF_H

#include <stddef.h>

#include "ops/optim.h"

/* One AdamW step on n floats in float arithmetic, operation for operation as
 * torch.optim.AdamW's single-tensor path (scalars from double, rounded once). */
void ref_adamw_step(float *p, const float *grad, float *m, float *v, size_t n,
                    const duo_adamw_hparams *h, float grad_scale);

/* The same step written as the textbook formula, entirely in double:
 * p -= lr wd p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps). */
void ref_adamw_step_double(double *p, const double *grad, double *m, double *v, size_t n,
                           const duo_adamw_hparams *h, double grad_scale);

/* sqrt of the sum of squares of every element of every tensor, in double. */
double ref_grad_norm(const float *const *tensors, const size_t *sizes, int count);

#endif
