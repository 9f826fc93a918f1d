#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention_ref.h"

/* p[0..t] = softmax over keys 0..t of the scaled scores of query t, for head
 * h of sequence b. */
static void probabilities(double *p, const double *q, const double *k, size_t b, size_t t,
                          size_t T, size_t H, size_t h, size_t hd)
{
    size_t d = H * hd;
    const double *qt = q + (b * T + t) * d + h * hd;
    double scale = 1.0 / sqrt((double)hd), max = -INFINITY, sum = 0;
    for (size_t j = 0; j <= t; j++) {
        const double *kj = k + (b * T + j) * d + h * hd;
        double dot = 0;
        for (size_t i = 0; i < hd; i++)
            dot += qt[i] * kj[i];
        p[j] = scale * dot;
        if (p[j] > max)
            max = p[j];
    }
    for (size_t j = 0; j <= t; j++) {
        p[j] = exp(p[j] - max);
        sum += p[j];
    }
    for (size_t j = 0; j <= t; j++)
        p[j] /= sum;
}

void ref_attention_forward(double *y, const double *q, const double *k, const double *v, size_t B,
                           size_t T, size_t H, size_t hd)
{
    size_t d = H * hd;
    double *p = malloc((T ? T : 1) * sizeof *p);
    for (size_t b = 0; b < B; b++)
        for (size_t h = 0; h < H; h++)
            for (size_t t = 0; t < T; t++) {
                probabilities(p, q, k, b, t, T, H, h, hd);
                double *yt = y + (b * T + t) * d + h * hd;
                for (size_t i = 0; i < hd; i++) {
                    double sum = 0;
                    for (size_t j = 0; j <= t; j++)
                        sum += p[j] * v[(b * T + j) * d + h * hd + i];
                    yt[i] = sum;
                }
            }
    free(p);
}

void ref_attention_backward(double *dq, double *dk, double *dv, const double *dy, const double *q,
                            const double *k, const double *v, size_t B, size_t T, size_t H,
                            size_t hd)
{
    size_t d = H * hd;
    double scale = 1.0 / sqrt((double)hd);
    double *p = malloc((T ? T : 1) * sizeof *p), *ds = malloc((T ? T : 1) * sizeof *ds);
    memset(dq, 0, B * T * d * sizeof *dq);
    memset(dk, 0, B * T * d * sizeof *dk);
    memset(dv, 0, B * T * d * sizeof *dv);
    for (size_t b = 0; b < B; b++)
        for (size_t h = 0; h < H; h++)
            for (size_t t = 0; t < T; t++) {
                probabilities(p, q, k, b, t, T, H, h, hd);
                size_t row = (b * T + t) * d + h * hd;
                /* dp_j = dy_t . v_j; ds_j = p_j (dp_j - sum_l p_l dp_l). */
                double dot = 0;
                for (size_t j = 0; j <= t; j++) {
                    double dp = 0;
                    for (size_t i = 0; i < hd; i++)
                        dp += dy[row + i] * v[(b * T + j) * d + h * hd + i];
                    ds[j] = dp;
                    dot += p[j] * dp;
                }
                for (size_t j = 0; j <= t; j++) {
                    ds[j] = p[j] * (ds[j] - dot);
                    size_t key = (b * T + j) * d + h * hd;
                    for (size_t i = 0; i < hd; i++) {
                        dq[row + i] += scale * ds[j] * k[key + i];
                        dk[key + i] += scale * ds[j] * q[row + i];
                        dv[key + i] += p[j] * dy[row + i];
                    }
                }
            }
    free(p);
    free(ds);
}
