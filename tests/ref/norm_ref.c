#include <math.h>

#include "norm_ref.h"

void ref_rmsnorm_forward(double *y, double *rstd, const double *x, const double *w, size_t n,
                         size_t c, double eps)
{
    for (size_t i = 0; i < n; i++) {
        const double *xr = x + i * c;
        double squares = 0;
        for (size_t j = 0; j < c; j++)
            squares += xr[j] * xr[j];
        rstd[i] = 1.0 / sqrt(squares / (double)c + eps);
        for (size_t j = 0; j < c; j++)
            y[i * c + j] = xr[j] * rstd[i] * w[j];
    }
}

/* y_j = x_j r w_j with r = (mean(x^2) + eps)^(-1/2), and dr/dx_j = -r^3 x_j / C,
 * so dx_j = r w_j dy_j - x_j r^3 / C * sum_k dy_k w_k x_k. */
void ref_rmsnorm_backward(double *dx, double *dw, const double *dy, const double *x,
                          const double *w, const double *rstd, size_t n, size_t c)
{
    for (size_t j = 0; j < c; j++)
        dw[j] = 0;
    for (size_t i = 0; i < n; i++) {
        const double *xr = x + i * c, *dyr = dy + i * c, r = rstd[i];
        double dot = 0;
        for (size_t j = 0; j < c; j++)
            dot += dyr[j] * w[j] * xr[j];
        for (size_t j = 0; j < c; j++) {
            dx[i * c + j] = r * w[j] * dyr[j] - xr[j] * r * r * r * dot / (double)c;
            dw[j] += dyr[j] * xr[j] * r;
        }
    }
}
