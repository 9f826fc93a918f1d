#include <math.h>

#include "loss_ref.h"
#include "token_stats_ref.h"

void ref_token_stats_row(const float *x, size_t V, double *entropy, double *max_prob)
{
    double max = x[0], sum = 0;
    for (size_t i = 1; i < V; i++)
        max = fmax(max, x[i]);
    for (size_t i = 0; i < V; i++)
        sum += exp((double)x[i] - max);
    double h = 0, best = 0;
    for (size_t i = 0; i < V; i++) {
        double p = exp((double)x[i] - max) / sum;
        if (p > 0)
            h -= p * log(p);
        best = fmax(best, p);
    }
    *entropy = h;
    *max_prob = best;
}

void ref_token_stats(const float *logits, const int32_t *targets, float *losses, float *entropy,
                     float *max_prob, size_t N, size_t V)
{
    ref_cross_entropy_forward(logits, targets, losses, N, V);
    for (size_t t = 0; t < N; t++) {
        double h, p;
        ref_token_stats_row(logits + t * V, V, &h, &p);
        entropy[t] = (float)h;
        max_prob[t] = (float)p;
    }
}
