/* Label-free selectors and the selection-only control (oracle_select.h). */
#include <math.h>
#include <stdlib.h>

#include "oracle_select.h"
#include "base/rng.h"
#include "ops/loss.h"

int32_t duo_select_pseudo_label(const float *logits, size_t V, double temperature, uint64_t seed,
                                uint64_t index)
{
    duo_rng rng = duo_rng_seeded(seed ^ duo_mix64(index + 1));
    double u = (double)(duo_rng_next(&rng) >> 11) * (1.0 / 9007199254740992.0);
    double max = logits[0], sum = 0;
    for (size_t i = 1; i < V; i++)
        max = fmax(max, logits[i]);
    for (size_t i = 0; i < V; i++)
        sum += exp(((double)logits[i] - max) / temperature);
    double target = u * sum, run = 0;
    for (size_t i = 0; i < V; i++) {
        run += exp(((double)logits[i] - max) / temperature);
        if (target < run)
            return (int32_t)i;
    }
    return (int32_t)(V - 1); /* u * sum rounded up to the total */
}

/* Mean loss of softmax(logits / T) over the fitting tokens. */
static double scaled_nll(const float *logits, const int32_t *targets, size_t N, size_t V,
                         size_t stride, double temperature)
{
    double sum = 0;
    size_t n = 0;
    for (size_t i = 0; i < N; i += stride) {
        if (targets[i] < 0)
            continue;
        const float *x = logits + i * V;
        double max = x[0], s = 0;
        for (size_t v = 1; v < V; v++)
            max = fmax(max, x[v]);
        for (size_t v = 0; v < V; v++)
            s += exp(((double)x[v] - max) / temperature);
        sum += log(s) - ((double)x[targets[i]] - max) / temperature;
        n++;
    }
    return n ? sum / (double)n : 0;
}

double duo_select_temperature(const float *logits, const int32_t *targets, size_t N, size_t V)
{
    size_t stride = N > DUO_SELECT_FIT_TOKENS ? (N + DUO_SELECT_FIT_TOKENS - 1) / DUO_SELECT_FIT_TOKENS : 1;
    /* Golden-section search on log T in [log 1/4, log 4]. */
    const double phi = 0.6180339887498949;
    double a = log(0.25), b = log(4.0);
    double c = b - phi * (b - a), d = a + phi * (b - a);
    double fc = scaled_nll(logits, targets, N, V, stride, exp(c));
    double fd = scaled_nll(logits, targets, N, V, stride, exp(d));
    for (int it = 0; it < DUO_SELECT_FIT_STEPS; it++) {
        if (fc <= fd) {
            b = d;
            d = c;
            fd = fc;
            c = b - phi * (b - a);
            fc = scaled_nll(logits, targets, N, V, stride, exp(c));
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + phi * (b - a);
            fd = scaled_nll(logits, targets, N, V, stride, exp(d));
        }
    }
    return exp((a + b) / 2);
}

duo_status duo_select_budget_alloc(duo_select_budget *b, size_t tokens)
{
    float **arrays[] = {&b->best_entropy, &b->loss_min_entropy, &b->best_max_prob,
                        &b->loss_max_prob, &b->pseudo_min};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        *arrays[i] = malloc((tokens ? tokens : 1) * sizeof(float));
        if (!*arrays[i])
            return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the label-free selectors");
    }
    for (size_t t = 0; t < tokens; t++) {
        b->best_entropy[t] = INFINITY;
        b->best_max_prob[t] = -1.0f;
        b->pseudo_min[t] = INFINITY;
        b->loss_min_entropy[t] = b->loss_max_prob[t] = NAN;
    }
    return DUO_OK;
}

void duo_select_budget_free(duo_select_budget *b)
{
    free(b->best_entropy);
    free(b->loss_min_entropy);
    free(b->best_max_prob);
    free(b->loss_max_prob);
    free(b->pseudo_min);
    *b = (duo_select_budget){0};
}

double duo_select_visit(duo_select_budget *b, size_t base, size_t n, const float *losses,
                        const float *entropy, const float *max_prob, const float *pseudo_losses)
{
    double pseudo_sum = 0;
    for (size_t i = 0; i < n; i++) {
        size_t t = base + i;
        /* Strictly better: ties keep the earlier pattern, as the oracle's choice. */
        if (entropy[i] < b->best_entropy[t]) {
            b->best_entropy[t] = entropy[i];
            b->loss_min_entropy[t] = losses[i];
        }
        if (max_prob[i] > b->best_max_prob[t]) {
            b->best_max_prob[t] = max_prob[i];
            b->loss_max_prob[t] = losses[i];
        }
        if (pseudo_losses[i] < b->pseudo_min[t])
            b->pseudo_min[t] = pseudo_losses[i];
        pseudo_sum += pseudo_losses[i];
    }
    return pseudo_sum;
}

void duo_select_means(const duo_select_budget *b, size_t tokens, double *min_entropy,
                      double *max_prob, double *pseudo_oracle)
{
    double h = 0, p = 0, q = 0;
    for (size_t t = 0; t < tokens; t++) {
        h += b->loss_min_entropy[t];
        p += b->loss_max_prob[t];
        q += b->pseudo_min[t];
    }
    double n = tokens ? (double)tokens : 1;
    *min_entropy = h / n;
    *max_prob = p / n;
    *pseudo_oracle = q / n;
}

/* ---- device side ---- */

duo_status duo_select_device_create(duo_model *m, duo_activations *a, duo_select_device *d)
{
    *d = (duo_select_device){.N = duo_activations_tokens(a)};
    size_t N = d->N, V = (size_t)m->config.vocab;
    d->pseudo = malloc(N * sizeof *d->pseudo);
    d->logits = malloc(N * V * sizeof *d->logits);
    d->h_entropy = malloc(N * sizeof(float));
    d->h_max_prob = malloc(N * sizeof(float));
    d->h_pseudo_losses = malloc(N * sizeof(float));
    if (!d->pseudo || !d->logits || !d->h_entropy || !d->h_max_prob || !d->h_pseudo_losses)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the label-free selectors");
    DUO_TRY(duo_buffer_create(m->rt, N * sizeof(int32_t), &d->pseudo_targets));
    DUO_TRY(duo_buffer_create(m->rt, N * sizeof(float), &d->pseudo_losses));
    DUO_TRY(duo_buffer_create(m->rt, N * sizeof(float), &d->entropy));
    return duo_buffer_create(m->rt, N * sizeof(float), &d->max_prob);
}

void duo_select_device_destroy(duo_select_device *d)
{
    duo_buffer_release(&d->pseudo_targets);
    duo_buffer_release(&d->pseudo_losses);
    duo_buffer_release(&d->entropy);
    duo_buffer_release(&d->max_prob);
    free(d->pseudo);
    free(d->logits);
    free(d->h_entropy);
    free(d->h_max_prob);
    free(d->h_pseudo_losses);
    *d = (duo_select_device){0};
}

duo_status duo_select_set_pseudo(duo_model *m, duo_activations *a, duo_select_device *d,
                                 const int32_t *targets, uint64_t base, uint64_t seed)
{
    size_t N = d->N, V = (size_t)m->config.vocab;
    DUO_TRY(duo_buffer_read(m->rt, duo_activations_logits(a), 0, N * V * sizeof(float), d->logits));
    d->temperature = duo_select_temperature(d->logits, targets, N, V);
    for (size_t i = 0; i < N; i++)
        d->pseudo[i] = targets[i] < 0 ? -1
                                       : duo_select_pseudo_label(d->logits + i * V, V, d->temperature,
                                                                 seed, base + i);
    return duo_buffer_write(m->rt, d->pseudo_targets, 0, N * sizeof(int32_t), d->pseudo);
}

duo_status duo_select_read_stats(duo_model *m, duo_activations *a, duo_select_device *d)
{
    size_t N = d->N, V = (size_t)m->config.vocab;
    DUO_TRY(duo_token_stats(m->rt, duo_activations_logits(a), d->pseudo_targets, d->pseudo_losses,
                            d->entropy, d->max_prob, N, V));
    DUO_TRY(duo_buffer_read(m->rt, d->pseudo_losses, 0, N * sizeof(float), d->h_pseudo_losses));
    DUO_TRY(duo_buffer_read(m->rt, d->entropy, 0, N * sizeof(float), d->h_entropy));
    return duo_buffer_read(m->rt, d->max_prob, 0, N * sizeof(float), d->h_max_prob);
}
