#include <math.h>
#include <stdlib.h>

#include "loss_ref.h"

double ref_cross_entropy_row(const double *x, size_t V, int32_t target)
{
    double max = x[0];
    for (size_t i = 1; i < V; i++)
        max = fmax(max, x[i]);
    double sum = 0;
    for (size_t i = 0; i < V; i++)
        sum += exp(x[i] - max);
    return max + log(sum) - x[target];
}

static void row_to_double(const float *row, double *out, size_t V)
{
    for (size_t i = 0; i < V; i++)
        out[i] = row[i];
}

void ref_cross_entropy_forward(const float *logits, const int32_t *targets, float *losses,
                               size_t N, size_t V)
{
    double *x = malloc(V * sizeof *x);
    for (size_t t = 0; t < N; t++) {
        if (targets[t] < 0) {
            losses[t] = 0;
            continue;
        }
        row_to_double(logits + t * V, x, V);
        losses[t] = (float)ref_cross_entropy_row(x, V, targets[t]);
    }
    free(x);
}

void ref_cross_entropy_backward(const float *logits, const int32_t *targets, float *dlogits,
                                size_t N, size_t V, float scale)
{
    for (size_t t = 0; t < N; t++) {
        const float *x = logits + t * V;
        float *dx = dlogits + t * V;
        if (targets[t] < 0) {
            for (size_t i = 0; i < V; i++)
                dx[i] = 0;
            continue;
        }
        double max = x[0], sum = 0;
        for (size_t i = 1; i < V; i++)
            max = fmax(max, x[i]);
        for (size_t i = 0; i < V; i++)
            sum += exp(x[i] - max);
        for (size_t i = 0; i < V; i++) {
            double p = exp(x[i] - max) / sum;
            dx[i] = (float)((p - (i == (size_t)targets[t] ? 1.0 : 0.0)) * scale);
        }
    }
}

double ref_cross_entropy_mean(const float *losses, const int32_t *targets, size_t N,
                              int32_t *count)
{
    double sum = 0;
    int32_t valid = 0;
    for (size_t t = 0; t < N; t++)
        if (targets[t] >= 0) {
            sum += losses[t];
            valid++;
        }
    *count = valid;
    return valid ? sum / valid : 0.0;
}
