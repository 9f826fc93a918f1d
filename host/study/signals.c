/* Cheap per-token signals on an all-small pass (see signals.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "ops/loss.h"
#include "run_folder.h"
#include "signals.h"

/* The loader seed of the token-count sample ("freq"). */
#define FREQ_SEED 0x66726571ULL

enum { ENTROPY, MAXPROB, PREV_LOSS, POSITION, TOKEN_FREQ, SCALARS };

struct duo_signals {
    duo_model *m;
    int L, n;
    size_t d, V;
    char name[DUO_SIGNALS_MAX][DUO_SIGNAL_NAME_MAX];
    float *log_count;   /* (V) */
    float *router_w;    /* (L, d, M) or NULL */
    int M;
    size_t N;           /* the size of the buffers below */
    cl_mem targets, losses, entropy, max_prob;
    uint8_t *routes;
    float *x, *loss;    /* (N, d), (N) */
};

void duo_signals_destroy(duo_signals *s)
{
    if (!s)
        return;
    duo_buffer_release(&s->targets);
    duo_buffer_release(&s->losses);
    duo_buffer_release(&s->entropy);
    duo_buffer_release(&s->max_prob);
    free(s->log_count);
    free(s->router_w);
    free(s->routes);
    free(s->x);
    free(s->loss);
    free(s);
}

int duo_signals_count(const duo_signals *s) { return s->n; }

const float *duo_signals_log_counts(const duo_signals *s) { return s->log_count; }

void duo_signals_set_log_counts(duo_signals *s, const float *log_count)
{
    memcpy(s->log_count, log_count, s->V * sizeof *s->log_count);
}

const char *duo_signals_name(const duo_signals *s, int column)
{
    return column >= 0 && column < s->n ? s->name[column] : "";
}

int duo_signals_find(const duo_signals *s, const char *name)
{
    for (int c = 0; c < s->n; c++)
        if (strcmp(s->name[c], name) == 0)
            return c;
    return -1;
}

static duo_status count_tokens(duo_signals *s, const duo_config *config, int windows)
{
    size_t T = (size_t)config->model.ctx;
    int32_t *w = malloc((T + 1) * sizeof *w);
    double *count = calloc(s->V, sizeof *count);
    duo_loader *loader = NULL;
    duo_status st = w && count ? duo_run_open_loader(config, FREQ_SEED, &loader)
                               : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for token counts");
    for (int i = 0; i < windows && st == DUO_OK; i++) {
        st = duo_loader_next(loader, 1, w, NULL);
        for (size_t t = 0; t < T && st == DUO_OK; t++)
            if (w[t] >= 0 && (size_t)w[t] < s->V)
                count[w[t]] += 1;
    }
    for (size_t v = 0; v < s->V && st == DUO_OK; v++)
        s->log_count[v] = (float)log1p(count[v]);
    duo_loader_destroy(loader);
    free(w);
    free(count);
    return st;
}

duo_status duo_signals_create(duo_model *m, const duo_config *config, duo_router *router,
                              int sample_windows, duo_signals **out)
{
    *out = NULL;
    duo_signals *s = calloc(1, sizeof *s);
    if (!s)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for signals");
    s->m = m;
    s->L = m->config.n_layers;
    s->d = (size_t)m->config.d_model;
    s->V = (size_t)m->config.vocab;
    static const char *const scalars[SCALARS] = {"entropy_small", "maxprob_small",
                                                 "prev_loss_small", "position", "token_freq"};
    for (int c = 0; c < SCALARS; c++)
        snprintf(s->name[s->n++], DUO_SIGNAL_NAME_MAX, "%s", scalars[c]);
    for (int l = 0; l < s->L; l++)
        snprintf(s->name[s->n++], DUO_SIGNAL_NAME_MAX, "hidden_norm_l%d", l);
    duo_status st = DUO_OK;
    if (router) {
        for (int l = 0; l < s->L; l++)
            snprintf(s->name[s->n++], DUO_SIGNAL_NAME_MAX, "router_logit_l%d", l);
        s->M = router->M;
        s->router_w = malloc(router->n_params * sizeof *s->router_w);
        st = s->router_w ? duo_buffer_read(m->rt, router->weights, 0,
                                           router->n_params * sizeof *s->router_w, s->router_w)
                         : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for signals");
    }
    s->log_count = malloc(s->V * sizeof *s->log_count);
    if (st == DUO_OK && !s->log_count)
        st = duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for signals");
    if (st == DUO_OK && config)
        st = count_tokens(s, config, sample_windows);
    else if (st == DUO_OK)
        memset(s->log_count, 0, s->V * sizeof *s->log_count);
    if (st != DUO_OK) {
        duo_signals_destroy(s);
        return st;
    }
    *out = s;
    return DUO_OK;
}

static duo_status ensure(duo_signals *s, size_t N)
{
    if (s->N >= N)
        return DUO_OK;
    duo_runtime *rt = s->m->rt;
    cl_mem *bufs[] = {&s->targets, &s->losses, &s->entropy, &s->max_prob};
    for (int i = 0; i < 4; i++) {
        duo_buffer_release(bufs[i]);
        DUO_TRY(duo_buffer_create(rt, N * sizeof(float), bufs[i]));
    }
    free(s->routes);
    free(s->x);
    free(s->loss);
    s->routes = malloc((size_t)s->L * N);
    s->x = malloc(N * s->d * sizeof *s->x);
    s->loss = malloc(N * sizeof *s->loss);
    if (!s->routes || !s->x || !s->loss)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for signals of %zu tokens", N);
    s->N = N;
    return DUO_OK;
}

/* Per layer: the norm of x_l into col_norm, the router's margin into col_router. */
static duo_status layer_signals(duo_signals *s, duo_activations *a, int l, size_t N,
                                float *col_norm, float *col_router)
{
    DUO_TRY(duo_activations_read_layer(s->m, a, l, DUO_LAYER_INPUT, s->x));
    for (size_t i = 0; i < N; i++) {
        double sum = 0;
        for (size_t k = 0; k < s->d; k++)
            sum += (double)s->x[i * s->d + k] * s->x[i * s->d + k];
        col_norm[i] = (float)sqrt(sum);
    }
    if (!col_router)
        return DUO_OK;
    DUO_TRY(duo_activations_read_layer(s->m, a, l, DUO_LAYER_FFN_INPUT, s->x));
    size_t M = (size_t)s->M, big = M - 1, small = M == 3 ? 1 : 0;
    const float *w = s->router_w + (size_t)l * s->d * M;
    for (size_t i = 0; i < N; i++) {
        double margin = 0;
        for (size_t k = 0; k < s->d; k++)
            margin += (double)s->x[i * s->d + k] * ((double)w[k * M + big] - w[k * M + small]);
        col_router[i] = (float)margin;
    }
    return DUO_OK;
}

duo_status duo_signals_batch(duo_signals *s, duo_activations *a, const int32_t *inputs,
                             const int32_t *targets, float *out, float *loss_small)
{
    duo_model *m = s->m;
    size_t N = duo_activations_tokens(a), T = duo_activations_ctx(a);
    DUO_TRY(ensure(s, N));
    memset(s->routes, DUO_ROUTE_SMALL, (size_t)s->L * N);
    DUO_TRY(duo_activations_set_router(m, a, NULL));
    DUO_TRY(duo_model_set_batch(m, a, inputs, targets, s->routes));
    float mean;
    DUO_TRY(duo_model_forward(m, a, &mean, s->loss));
    DUO_TRY(duo_buffer_write(m->rt, s->targets, 0, N * sizeof *targets, targets));
    DUO_TRY(duo_token_stats(m->rt, duo_activations_logits(a), s->targets, s->losses, s->entropy,
                            s->max_prob, N, s->V));
    DUO_TRY(duo_buffer_read(m->rt, s->entropy, 0, N * sizeof(float), out + ENTROPY * N));
    DUO_TRY(duo_buffer_read(m->rt, s->max_prob, 0, N * sizeof(float), out + MAXPROB * N));
    for (size_t i = 0; i < N; i++) {
        size_t t = i % T;
        out[PREV_LOSS * N + i] = t > 0 ? s->loss[i - 1] : 0.0f;
        out[POSITION * N + i] = (float)t;
        int32_t id = inputs[i];
        out[TOKEN_FREQ * N + i] = id >= 0 && (size_t)id < s->V ? s->log_count[id] : 0.0f;
    }
    bool router = s->router_w != NULL;
    for (int l = 0; l < s->L; l++)
        DUO_TRY(layer_signals(s, a, l, N, out + (size_t)(SCALARS + l) * N,
                              router ? out + (size_t)(SCALARS + s->L + l) * N : NULL));
    if (loss_small)
        memcpy(loss_small, s->loss, N * sizeof *loss_small);
    return DUO_OK;
}
