/* The difficulty analysis's cheap signals (see difficulty_signals.h). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "difficulty.h"
#include "difficulty_signals.h"
#include "model/model_io.h"
#include "run_folder.h"
#include "signals.h"

/* Training windows whose tokens are counted for token_freq. */
enum { FREQ_WINDOWS = 256 };

struct duo_difficulty_signals {
    duo_config config;
    duo_model *model;
    duo_router *router;
    duo_activations *a;
    duo_signals *signals;
    size_t B, T;
};

void duo_difficulty_signals_close(duo_difficulty_signals *s)
{
    if (!s)
        return;
    duo_signals_destroy(s->signals);
    duo_activations_destroy(s->a);
    duo_router_destroy(s->router);
    duo_model_destroy(s->model);
    free(s);
}

duo_status duo_difficulty_signals_open(duo_runtime *rt, const char *run_dir, int budget,
                                       duo_difficulty_signals **out)
{
    *out = NULL;
    duo_difficulty_signals *s = calloc(1, sizeof *s);
    if (!s)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the difficulty signals");
    char path[2048], dir[2048];
    duo_status st = duo_run_find_checkpoint(run_dir, NULL, path, sizeof path);
    if (st == DUO_OK)
        st = duo_model_open(rt, path, &s->config, &s->model);
    if (st == DUO_OK)
        st = duo_run_router_dir(run_dir, budget, "SB", dir, sizeof dir);
    if (st == DUO_OK)
        st = duo_run_path(dir, DUO_ROUTER_MODEL, path, sizeof path);
    if (st == DUO_OK && access(path, R_OK) == 0) {
        int k;
        st = duo_router_load(s->model, path, &s->router, &k, NULL);
    }
    if (st == DUO_OK) {
        s->T = (size_t)s->config.model.ctx;
        s->B = (size_t)s->config.train.batch;
        st = duo_activations_create(s->model, s->B, s->T, false, &s->a);
    }
    if (st == DUO_OK)
        st = duo_signals_create(s->model, &s->config, s->router, FREQ_WINDOWS, &s->signals);
    if (st != DUO_OK) {
        duo_difficulty_signals_close(s);
        return st;
    }
    *out = s;
    return DUO_OK;
}

/* Every column of the domain's tokens into cols (n_columns, tokens). */
static duo_status domain_signals(duo_difficulty_signals *s, const duo_token_domain *d, float *cols)
{
    size_t B = s->B, T = s->T, N = B * T, n = duo_signals_count(s->signals);
    int32_t *windows = malloc(B * (T + 1) * sizeof *windows);
    int32_t *inputs = malloc(N * sizeof *inputs), *targets = malloc(N * sizeof *targets);
    float *out = malloc(n * N * sizeof *out);
    duo_status st = windows && inputs && targets && out
                        ? DUO_OK
                        : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the signals");
    for (size_t first = 0; first < d->n_windows && st == DUO_OK; first += B) {
        size_t have = d->n_windows - first < B ? d->n_windows - first : B;
        for (size_t j = 0; j < B; j++) /* a short last batch repeats its last window */
            memcpy(windows + j * (T + 1), d->windows + (first + (j < have ? j : have - 1)) * (T + 1),
                   (T + 1) * sizeof *windows);
        duo_split_windows(windows, (int)B, (int)T, inputs, targets);
        st = duo_signals_batch(s->signals, s->a, inputs, targets, out, NULL);
        for (size_t c = 0; c < n && st == DUO_OK; c++)
            memcpy(cols + c * d->tokens + first * T, out + c * N, have * T * sizeof *out);
    }
    free(windows);
    free(inputs);
    free(targets);
    free(out);
    return st;
}

duo_status duo_difficulty_signals_domain(duo_difficulty_signals *s, const duo_token_domain *d,
                                         int ctx, int skip_first, const float *benefit,
                                         cJSON *domain_json, duo_difficulty_domain_summary *out)
{
    if ((size_t)ctx != s->T)
        return duo_fail(DUO_ERR_FORMAT, "oracle_tokens.bin has windows of %d tokens, the model %zu",
                        ctx, s->T);
    size_t n = (size_t)duo_signals_count(s->signals), tokens = d->tokens;
    float *cols = malloc(n * (tokens ? tokens : 1) * sizeof *cols);
    float *x = malloc((tokens ? tokens : 1) * sizeof *x), *y = malloc((tokens ? tokens : 1) * sizeof *y);
    duo_status st = cols && x && y ? domain_signals(s, d, cols)
                                   : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the signals");
    size_t kept = 0;
    for (size_t i = 0; i < tokens && st == DUO_OK; i++)
        if ((int)(i % (size_t)ctx) >= skip_first)
            y[kept++] = benefit[i];
    cJSON *json = st == DUO_OK ? cJSON_AddObjectToObject(domain_json, "signals") : NULL;
    out->n_signals = 0;
    for (size_t c = 0; c < n && st == DUO_OK; c++) {
        size_t m = 0;
        for (size_t i = 0; i < tokens; i++)
            if ((int)(i % (size_t)ctx) >= skip_first)
                x[m++] = cols[c * tokens + i];
        double rho = NAN;
        st = duo_spearman(x, y, kept, &rho);
        if (st != DUO_OK)
            break;
        const char *name = duo_signals_name(s->signals, (int)c);
        if (isfinite(rho))
            cJSON_AddNumberToObject(json, name, round(rho * 1e4) / 1e4);
        else
            cJSON_AddNullToObject(json, name); /* a constant signal */
        if (out->n_signals < DUO_DIFFICULTY_MAX_SIGNALS) {
            snprintf(out->signal_name[out->n_signals], sizeof out->signal_name[0], "%s", name);
            out->signal_spearman[out->n_signals++] = rho;
        }
    }
    free(cols);
    free(x);
    free(y);
    return st;
}
