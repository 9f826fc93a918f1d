/* The signal router: fitting on training windows, its file, routing (see
 * signal_router.h). */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/error.h"
#include "base/fileio.h"
#include "base/json_file.h"
#include "difficulty.h"
#include "duocl/router.h"
#include "model/model_io.h"
#include "router_teacher.h"
#include "run_folder.h"
#include "signal_router.h"
#include "signals.h"

enum { FREQ_WINDOWS = 256, DEFAULT_POOL = 64, MAX_FILE = 1 << 24 };

struct duo_signal_router {
    duo_model *m;
    duo_router *router;  /* router_logit signals only */
    duo_signals *signals;
    int column, L;
    double sign;
    float threshold[DUO_MAX_LAYERS];
    float *values;       /* (columns, N) */
    size_t N;
};

void duo_signal_router_destroy(duo_signal_router *r)
{
    if (!r)
        return;
    duo_signals_destroy(r->signals);
    duo_router_destroy(r->router);
    free(r->values);
    free(r);
}

duo_status duo_signal_router_routes(duo_signal_router *r, duo_activations *a,
                                    const int32_t *inputs, const int32_t *targets,
                                    uint8_t *routes)
{
    size_t N = duo_activations_tokens(a);
    if (r->N < N) {
        free(r->values);
        r->values = malloc((size_t)duo_signals_count(r->signals) * N * sizeof *r->values);
        if (!r->values)
            return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the signal router");
        r->N = N;
    }
    DUO_TRY(duo_signals_batch(r->signals, a, inputs, targets, r->values, NULL));
    const float *v = r->values + (size_t)r->column * N;
    for (int l = 0; l < r->L; l++)
        for (size_t i = 0; i < N; i++)
            routes[(size_t)l * N + i] = (uint8_t)(r->sign * v[i] > r->threshold[l]
                                                      ? DUO_ROUTE_BIG
                                                      : DUO_ROUTE_SMALL);
    return DUO_OK;
}

/* ---- the file ---- */

static duo_status bad(const char *path, const char *field, const char *what)
{
    return duo_fail(DUO_ERR_FORMAT, "signal router '%s': \"%s\" %s", path, field, what);
}

static duo_status read_floats(const char *path, const cJSON *root, const char *field, int n,
                              float *out)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, field);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        return duo_fail(DUO_ERR_FORMAT, "signal router '%s': \"%s\" must be an array of %d "
                        "numbers", path, field, n);
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a) {
        if (!cJSON_IsNumber(x))
            return bad(path, field, "holds something that is not a number");
        out[i++] = (float)x->valuedouble;
    }
    return DUO_OK;
}

static duo_status load_json(duo_signal_router *r, const char *path, const cJSON *root)
{
    duo_model *m = r->m;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "signal");
    const cJSON *sign = cJSON_GetObjectItemCaseSensitive(root, "sign");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    const cJSON *router = cJSON_GetObjectItemCaseSensitive(root, "router");
    if (!cJSON_IsString(name))
        return bad(path, "signal", "must be a signal's name");
    if (!cJSON_IsNumber(sign) || (sign->valuedouble != 1 && sign->valuedouble != -1))
        return bad(path, "sign", "must be 1 or -1");
    if (!cJSON_IsNumber(layers) || layers->valuedouble != m->config.n_layers)
        return duo_fail(DUO_ERR_FORMAT, "signal router '%s': \"layers\" must be the model's %d",
                        path, m->config.n_layers);
    r->L = m->config.n_layers;
    r->sign = sign->valuedouble;
    if (cJSON_IsString(router)) {
        int k;
        DUO_TRY(duo_router_load(m, router->valuestring, &r->router, &k, NULL));
    }
    DUO_TRY(duo_signals_create(m, NULL, r->router, 0, &r->signals));
    r->column = duo_signals_find(r->signals, name->valuestring);
    if (r->column < 0)
        return duo_fail(DUO_ERR_FORMAT, "signal router '%s': \"signal\" '%s' is not a signal%s",
                        path, name->valuestring,
                        strncmp(name->valuestring, "router_logit", 12) == 0
                            ? " without \"router\"" : "");
    DUO_TRY(read_floats(path, root, "thresholds", r->L, r->threshold));
    if (strcmp(name->valuestring, "token_freq") == 0) {
        float *counts = malloc((size_t)m->config.vocab * sizeof *counts);
        duo_status st = counts ? read_floats(path, root, "log_count", (int)m->config.vocab, counts)
                               : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory");
        if (st == DUO_OK)
            duo_signals_set_log_counts(r->signals, counts);
        free(counts);
        DUO_TRY(st);
    }
    return DUO_OK;
}

duo_status duo_signal_router_load(duo_model *m, const char *path, duo_signal_router **out)
{
    *out = NULL;
    uint8_t *text;
    size_t n;
    DUO_TRY(duo_read_file(path, "signal router", MAX_FILE, &text, &n));
    cJSON *root = cJSON_ParseWithLength((const char *)text, n);
    free(text);
    if (!root)
        return duo_fail(DUO_ERR_FORMAT, "signal router '%s' is not JSON", path);
    duo_signal_router *r = calloc(1, sizeof *r);
    duo_status st = r ? DUO_OK : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == DUO_OK) {
        r->m = m;
        st = load_json(r, path, root);
    }
    cJSON_Delete(root);
    if (st != DUO_OK) {
        duo_signal_router_destroy(r);
        return st;
    }
    *out = r;
    return DUO_OK;
}

/* ---- fitting ---- */

typedef struct fit {
    duo_config config;
    duo_model *model;
    duo_router *router;
    duo_activations *a;
    duo_router_teacher *teacher;
    duo_signals *signals;
    char router_path[2048];
    size_t tokens;
    float *cols;     /* (columns, tokens) */
    float *benefit;  /* (tokens) */
} fit;

static void fit_free(fit *f)
{
    duo_signals_destroy(f->signals);
    duo_router_teacher_destroy(f->teacher);
    duo_activations_destroy(f->a);
    duo_router_destroy(f->router);
    duo_model_destroy(f->model);
    free(f->cols);
    free(f->benefit);
}

/* The pool's signals and benefit. */
static duo_status measure(fit *f)
{
    duo_teacher_pool pool;
    duo_router_teacher_pool(f->teacher, &pool);
    size_t T = pool.ctx, B = duo_activations_tokens(f->a) / T, N = B * T;
    size_t n = (size_t)duo_signals_count(f->signals);
    f->tokens = pool.n_windows * T;
    f->cols = malloc(n * f->tokens * sizeof *f->cols);
    f->benefit = malloc(f->tokens * sizeof *f->benefit);
    float *out = malloc(n * N * sizeof *out), *small = malloc(N * sizeof *small);
    int32_t *inputs = malloc(N * sizeof *inputs), *targets = malloc(N * sizeof *targets);
    duo_status st = f->cols && f->benefit && out && small && inputs && targets
                        ? DUO_OK
                        : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the signal router");
    for (size_t first = 0; first < pool.n_windows && st == DUO_OK; first += B) {
        duo_split_windows(pool.windows + first * (T + 1), (int)B, (int)T, inputs, targets);
        st = duo_signals_batch(f->signals, f->a, inputs, targets, out, small);
        for (size_t c = 0; c < n && st == DUO_OK; c++)
            memcpy(f->cols + c * f->tokens + first * T, out + c * N, N * sizeof *out);
        for (size_t i = 0; i < N && st == DUO_OK; i++)
            f->benefit[first * T + i] = small[i] - pool.loss[first * T + i];
    }
    free(out);
    free(small);
    free(inputs);
    free(targets);
    return st;
}

static int ascending(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Thresholds: per layer, the value above which a fraction q_l of the pool's
 * (signed) values lie, halfway between neighbours. */
static duo_status thresholds(const float *v, size_t n, double sign, const double *q, int L,
                             float *out)
{
    float *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the signal router");
    for (size_t i = 0; i < n; i++)
        sorted[i] = (float)(sign * v[i]);
    qsort(sorted, n, sizeof *sorted, ascending);
    for (int l = 0; l < L; l++) {
        size_t above = (size_t)llround(q[l] * (double)n);
        if (above == 0)
            out[l] = FLT_MAX;
        else if (above >= n)
            out[l] = -FLT_MAX;
        else
            out[l] = 0.5f * (sorted[n - above - 1] + sorted[n - above]);
    }
    free(sorted);
    return DUO_OK;
}

static duo_status write_file(fit *f, const duo_signal_router_options *o, int column,
                             double sign, const double *rho, const double *q, const float *th,
                             duo_signal_router_summary *out)
{
    int L = f->config.model.n_layers, n = duo_signals_count(f->signals);
    const char *name = duo_signals_name(f->signals, column);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "signal", name);
    cJSON_AddNumberToObject(root, "sign", sign);
    cJSON_AddNumberToObject(root, "spearman", rho[column]);
    cJSON_AddNumberToObject(root, "budget", o->budget);
    cJSON_AddNumberToObject(root, "layers", L);
    cJSON *ta = cJSON_AddArrayToObject(root, "thresholds");
    cJSON *fa = cJSON_AddArrayToObject(root, "fractions");
    for (int l = 0; l < L; l++) {
        cJSON_AddItemToArray(ta, cJSON_CreateNumber(th[l]));
        cJSON_AddItemToArray(fa, cJSON_CreateNumber(q[l]));
    }
    cJSON_AddNumberToObject(root, "teacher_windows", (double)(f->tokens / (size_t)f->config.model.ctx));
    cJSON_AddNumberToObject(root, "seed", (double)o->seed);
    cJSON *all = cJSON_AddObjectToObject(root, "spearman_all");
    for (int c = 0; c < n; c++)
        if (isfinite(rho[c]))
            cJSON_AddNumberToObject(all, duo_signals_name(f->signals, c), round(rho[c] * 1e4) / 1e4);
    if (strcmp(name, "token_freq") == 0) {
        cJSON *lc = cJSON_AddArrayToObject(root, "log_count");
        const float *counts = duo_signals_log_counts(f->signals);
        for (int v = 0; v < f->config.model.vocab; v++)
            cJSON_AddItemToArray(lc, cJSON_CreateNumber(counts[v]));
    }
    if (strncmp(name, "router_logit", 12) == 0)
        cJSON_AddStringToObject(root, "router", f->router_path);
    duo_status st = duo_make_directories(out->dir);
    if (st == DUO_OK)
        st = duo_write_json_file(out->path, "signal router", root, false);
    cJSON_Delete(root);
    snprintf(out->signal, sizeof out->signal, "%s", name);
    out->sign = (int)sign;
    out->spearman = rho[column];
    out->layers = L;
    for (int l = 0; l < L; l++) {
        out->thresholds[l] = th[l];
        out->fractions[l] = q[l];
    }
    return st;
}

static duo_status choose_and_write(fit *f, const duo_signal_router_options *o,
                                   duo_signal_router_summary *out)
{
    int n = duo_signals_count(f->signals), L = f->config.model.n_layers, column = -1;
    double rho[DUO_SIGNALS_MAX];
    for (int c = 0; c < n; c++) {
        DUO_TRY(duo_spearman(f->cols + (size_t)c * f->tokens, f->benefit, f->tokens, &rho[c]));
        if (o->signal ? strcmp(o->signal, duo_signals_name(f->signals, c)) == 0
                      : isfinite(rho[c]) && (column < 0 || fabs(rho[c]) > fabs(rho[column])))
            column = c;
    }
    if (column < 0 && o->signal)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "--signal '%s': not a signal (entropy_small, "
                        "maxprob_small, prev_loss_small, position, token_freq, hidden_norm_l<l>, "
                        "router_logit_l<l> with RUN/router/k%d-SB)", o->signal, o->budget);
    if (column < 0 || !isfinite(rho[column]))
        return duo_fail(DUO_ERR_NUMERIC, "signal router: no signal varies on the training windows");
    double sign = rho[column] >= 0 ? 1.0 : -1.0, q[DUO_MAX_LAYERS] = {0};
    duo_teacher_pool pool;
    duo_router_teacher_pool(f->teacher, &pool);
    for (size_t i = 0; i < f->tokens; i++)
        for (int l = 0; l < L; l++)
            q[l] += (double)((pool.mask[i] >> l) & 1u);
    for (int l = 0; l < L; l++)
        q[l] /= (double)f->tokens;
    float th[DUO_MAX_LAYERS];
    DUO_TRY(thresholds(f->cols + (size_t)column * f->tokens, f->tokens, sign, q, L, th));
    return write_file(f, o, column, sign, rho, q, th, out);
}

duo_status duo_signal_router_train(duo_runtime *rt, const char *run_dir,
                                   const duo_signal_router_options *o,
                                   duo_signal_router_summary *out)
{
    if (!rt || !run_dir || !o || !out)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_signal_router_train needs a runtime, a run "
                        "folder, options and a summary");
    memset(out, 0, sizeof *out);
    if (o->teacher_windows < 0 || o->teacher_windows > 65536)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "--teacher-windows %d: allowed 1 to 65536",
                        o->teacher_windows);
    fit f = {0};
    char path[2048];
    duo_status st = duo_run_find_checkpoint(run_dir, NULL, path, sizeof path);
    if (st == DUO_OK)
        st = duo_model_open(rt, path, &f.config, &f.model);
    int L = st == DUO_OK ? f.config.model.n_layers : 0;
    if (st == DUO_OK && (o->budget < 0 || o->budget > L))
        st = duo_fail(DUO_ERR_INVALID_ARGUMENT, "--budget %d: allowed 0 to %d (the model's layers)",
                      o->budget, L);
    char dir[2048];
    if (st == DUO_OK)
        st = duo_run_router_dir(run_dir, o->budget, "SB", dir, sizeof dir);
    if (st == DUO_OK)
        st = duo_run_path(dir, DUO_ROUTER_MODEL, f.router_path, sizeof f.router_path);
    if (st == DUO_OK && access(f.router_path, R_OK) == 0) {
        int k;
        st = duo_router_load(f.model, f.router_path, &f.router, &k, NULL);
    }
    if (st == DUO_OK)
        st = duo_run_router_dir(run_dir, o->budget, "SB-signal", out->dir, sizeof out->dir);
    if (st == DUO_OK)
        st = duo_run_path(out->dir, DUO_ROUTER_SIGNAL, out->path, sizeof out->path);
    if (st == DUO_OK)
        st = duo_activations_create(f.model, (size_t)f.config.train.batch,
                                    (size_t)f.config.model.ctx, false, &f.a);
    int windows = o->teacher_windows ? o->teacher_windows : DEFAULT_POOL;
    char cache[2048];
    uint64_t key = 0;
    if (st == DUO_OK)
        st = duo_router_teacher_cache(run_dir, o->budget, windows, cache, sizeof cache);
    if (st == DUO_OK)
        st = duo_router_teacher_model_key(path, &key);
    if (st == DUO_OK)
        st = duo_make_directories(out->dir);
    if (st == DUO_OK)
        st = duo_router_teacher_create(f.model, f.a, &f.config, o->budget, windows,
                                       o->seed ? o->seed : 1, cache, key, &f.teacher);
    if (st == DUO_OK)
        st = duo_signals_create(f.model, &f.config, f.router, FREQ_WINDOWS, &f.signals);
    if (st == DUO_OK)
        st = measure(&f);
    if (st == DUO_OK)
        st = choose_and_write(&f, o, out);
    fit_free(&f);
    return st;
}
