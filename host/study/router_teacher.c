/* The oracle as a router's teacher: the pool's search and one imitation step
 * (see router_teacher.h). */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/fileio.h"
#include "base/hash.h"
#include "base/rng.h"
#include "oracle.h"
#include "router_teacher.h"
#include "run_folder.h"

/* Mixed into the seed of the pool's loader and of its order ("teacher"). */
#define TEACHER_SEED_SALT 0x74656163686572ULL

struct duo_router_teacher {
    duo_model *m;
    int budget, L;
    size_t B, T, P, d;
    int32_t *windows;  /* (P, T + 1) */
    uint32_t *mask;    /* (P * T): the oracle's BIG layers of each token */
    float *loss;       /* (P * T): the oracle's loss of each token */
    size_t *order;     /* (P): a seeded permutation of the pool */
    int32_t *inputs, *targets;
    uint8_t *routes;   /* (L, B * T) */
    float *f;          /* (B * T, d): one layer's FFN input */
    float *w, *grad;   /* (L, d, M) */
    float *z, *probs;  /* (L, B * T, M): logits; softmax(beta z) for the penalty */
    float *penalty_grad; /* (B) */
    double *acc;       /* (d, M) */
};

void duo_router_teacher_destroy(duo_router_teacher *t)
{
    if (!t)
        return;
    void *all[] = {t->windows, t->mask, t->loss, t->order, t->inputs, t->targets, t->routes, t->f,
                   t->w, t->grad, t->z, t->probs, t->penalty_grad, t->acc};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    free(t);
}

typedef struct chunk_best {
    float *best;     /* (N) lowest loss so far */
    uint32_t *mask;  /* (N) its BIG mask */
    size_t N;
    int L;
} chunk_best;

static duo_status keep_best(void *context, const uint8_t *pattern, int big, const float *losses)
{
    (void)big;
    chunk_best *c = context;
    uint32_t mask = 0;
    for (int l = 0; l < c->L; l++)
        if (pattern[l] == DUO_ROUTE_BIG)
            mask |= 1u << l;
    for (size_t i = 0; i < c->N; i++)
        if (losses[i] < c->best[i]) { /* ties: the first pattern visited */
            c->best[i] = losses[i];
            c->mask[i] = mask;
        }
    return DUO_OK;
}

static void set_routes(duo_router_teacher *t, const uint32_t *mask)
{
    size_t N = t->B * t->T;
    for (int l = 0; l < t->L; l++)
        for (size_t i = 0; i < N; i++)
            t->routes[(size_t)l * N + i] =
                (uint8_t)((mask[i] >> l) & 1u ? DUO_ROUTE_BIG : DUO_ROUTE_SMALL);
}

static duo_status search_pool(duo_router_teacher *t, duo_activations *a)
{
    size_t N = t->B * t->T;
    bool budgets[DUO_MAX_LAYERS + 1] = {false};
    budgets[t->budget] = true;
    duo_status st = duo_activations_set_router(t->m, a, NULL);
    for (size_t first = 0; first < t->P && st == DUO_OK; first += t->B) {
        for (size_t i = 0; i < N; i++)
            t->loss[first * t->T + i] = INFINITY;
        duo_split_windows(t->windows + first * (t->T + 1), (int)t->B, (int)t->T, t->inputs,
                          t->targets);
        memset(t->routes, DUO_ROUTE_SMALL, (size_t)t->L * N);
        st = duo_model_set_batch(t->m, a, t->inputs, t->targets, t->routes);
        chunk_best c = {t->loss + first * t->T, t->mask + first * t->T, N, t->L};
        duo_search_counts counts = {0};
        if (st == DUO_OK)
            st = duo_search_patterns(t->m, a, DUO_ALPHABET_SB, budgets, true, keep_best, &c,
                                     &counts);
    }
    return st;
}

void duo_router_teacher_pool(const duo_router_teacher *t, duo_teacher_pool *out)
{
    *out = (duo_teacher_pool){.windows = t->windows, .mask = t->mask, .loss = t->loss,
                              .n_windows = t->P, .ctx = t->T};
}

/* The pool file: magic, then u32 version, budget, windows, ctx, layers and
 * u64 model key, then windows, masks, losses (this machine's byte order: a
 * cache, not an exchange format). */
static const char POOL_MAGIC[8] = {'D', 'U', 'O', 'C', 'L', 'T', 'P', 'L'};

typedef struct pool_header {
    char magic[8];
    uint32_t version, budget, windows, ctx, layers, pad;
    uint64_t model_key;
} pool_header;

static pool_header header_of(const duo_router_teacher *t, uint64_t model_key)
{
    pool_header h = {.version = 1, .budget = (uint32_t)t->budget, .windows = (uint32_t)t->P,
                     .ctx = (uint32_t)t->T, .layers = (uint32_t)t->L, .model_key = model_key};
    memcpy(h.magic, POOL_MAGIC, sizeof h.magic);
    return h;
}

/* True when the file holds this pool (same header): then it is read in. */
static bool read_pool(duo_router_teacher *t, const char *path, uint64_t model_key)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    pool_header want = header_of(t, model_key), have;
    bool ok = fread(&have, sizeof have, 1, f) == 1 && memcmp(&have, &want, sizeof have) == 0 &&
              fread(t->windows, sizeof *t->windows, t->P * (t->T + 1), f) == t->P * (t->T + 1) &&
              fread(t->mask, sizeof *t->mask, t->P * t->T, f) == t->P * t->T &&
              fread(t->loss, sizeof *t->loss, t->P * t->T, f) == t->P * t->T &&
              fgetc(f) == EOF;
    fclose(f);
    return ok;
}

static duo_status write_pool(const duo_router_teacher *t, const char *path, uint64_t model_key)
{
    pool_header h = header_of(t, model_key);
    const void *parts[] = {&h, t->windows, t->mask, t->loss};
    size_t sizes[] = {sizeof h, t->P * (t->T + 1) * sizeof *t->windows,
                      t->P * t->T * sizeof *t->mask, t->P * t->T * sizeof *t->loss};
    return duo_write_file_atomic(path, "oracle teacher's pool", parts, sizes, 4);
}

duo_status duo_router_teacher_create(duo_model *m, duo_activations *a, const duo_config *config,
                                     int budget, int pool_windows, uint64_t seed,
                                     const char *cache, uint64_t model_key,
                                     duo_router_teacher **out)
{
    *out = NULL;
    duo_router_teacher *t = calloc(1, sizeof *t);
    if (!t)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the oracle teacher");
    t->m = m;
    t->budget = budget;
    t->L = m->config.n_layers;
    t->T = duo_activations_ctx(a);
    t->B = duo_activations_tokens(a) / t->T;
    t->d = (size_t)m->config.d_model;
    t->P = ((size_t)(pool_windows > 0 ? pool_windows : 1) + t->B - 1) / t->B * t->B;
    size_t N = t->B * t->T, L = (size_t)t->L, M = 2, n_params = L * t->d * M;
    t->windows = malloc(t->P * (t->T + 1) * sizeof *t->windows);
    t->mask = malloc(t->P * t->T * sizeof *t->mask);
    t->loss = malloc(t->P * t->T * sizeof *t->loss);
    t->order = malloc(t->P * sizeof *t->order);
    t->inputs = malloc(N * sizeof *t->inputs);
    t->targets = malloc(N * sizeof *t->targets);
    t->routes = malloc(L * N);
    t->f = malloc(N * t->d * sizeof *t->f);
    t->w = malloc(n_params * sizeof *t->w);
    t->grad = malloc(n_params * sizeof *t->grad);
    t->z = malloc(L * N * M * sizeof *t->z);
    t->probs = malloc(L * N * M * sizeof *t->probs);
    t->penalty_grad = malloc(t->B * sizeof *t->penalty_grad);
    t->acc = malloc(t->d * M * sizeof *t->acc);
    duo_status st = DUO_OK;
    if (!t->windows || !t->mask || !t->loss || !t->order || !t->inputs || !t->targets || !t->routes || !t->f ||
        !t->w || !t->grad || !t->z || !t->probs || !t->penalty_grad || !t->acc)
        st = duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the oracle teacher's pool of %zu "
                      "windows", t->P);
    /* The pool's windows do not depend on the seed (routers of two seeds
     * learn from the same oracle); its order does. */
    bool cached = st == DUO_OK && cache && read_pool(t, cache, model_key);
    duo_loader *loader = NULL;
    if (st == DUO_OK && !cached)
        st = duo_run_open_loader(config, TEACHER_SEED_SALT, &loader);
    for (size_t first = 0; first < t->P && st == DUO_OK && !cached; first += t->B)
        st = duo_loader_next(loader, (int)t->B, t->windows + first * (t->T + 1), NULL);
    duo_loader_destroy(loader);
    if (st == DUO_OK && !cached)
        st = search_pool(t, a);
    if (st == DUO_OK && !cached && cache)
        st = write_pool(t, cache, model_key);
    if (st == DUO_OK) {
        duo_rng rng = duo_rng_seeded(seed ^ TEACHER_SEED_SALT);
        for (size_t i = 0; i < t->P; i++)
            t->order[i] = i;
        for (size_t i = t->P - 1; i > 0; i--) {
            size_t j = (size_t)duo_rng_below(&rng, i + 1), tmp = t->order[i];
            t->order[i] = t->order[j];
            t->order[j] = tmp;
        }
    }
    if (st != DUO_OK) {
        duo_router_teacher_destroy(t);
        return st;
    }
    *out = t;
    return DUO_OK;
}

/* Logits of layer l for the batch's FFN inputs (t->f), and the imitation
 * gradient on them into gz (N, 2); returns the summed CE. */
static double layer_logits(duo_router_teacher *t, int l, const uint32_t *mask, double *agree)
{
    size_t N = t->B * t->T, d = t->d;
    const float *w = t->w + (size_t)l * d * 2;
    float *z = t->z + (size_t)l * N * 2;
    double ce = 0;
    for (size_t i = 0; i < N; i++) {
        const float *f = t->f + i * d;
        double z0 = 0, z1 = 0;
        for (size_t k = 0; k < d; k++) {
            z0 += (double)f[k] * w[k * 2];
            z1 += (double)f[k] * w[k * 2 + 1];
        }
        z[i * 2] = (float)z0;
        z[i * 2 + 1] = (float)z1;
        int target = (int)((mask[i] >> l) & 1u); /* column 1: BIG */
        double hi = z0 > z1 ? z0 : z1;
        double lse = hi + log(exp(z0 - hi) + exp(z1 - hi));
        ce += lse - (target ? z1 : z0);
        *agree += (z1 > z0) == (target == 1);
    }
    return ce;
}

duo_status duo_router_teacher_step(duo_router_teacher *t, duo_router *r, duo_activations *a,
                                   const duo_router_hparams *h, duo_router_step *out,
                                   double *agreement)
{
    duo_model *m = t->m;
    size_t N = t->B * t->T, d = t->d, L = (size_t)t->L, n_params = L * d * 2;
    /* The step's windows and their oracle masks, in the pool's order. */
    uint32_t *mask = malloc(N * sizeof *mask);
    int32_t *windows = malloc(t->B * (t->T + 1) * sizeof *windows);
    if (!mask || !windows) {
        free(mask);
        free(windows);
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory in an oracle-taught router step");
    }
    for (size_t j = 0; j < t->B; j++) {
        size_t w = t->order[((size_t)h->step * t->B + j) % t->P];
        memcpy(windows + j * (t->T + 1), t->windows + w * (t->T + 1),
               (t->T + 1) * sizeof *windows);
        memcpy(mask + j * t->T, t->mask + w * t->T, t->T * sizeof *mask);
    }
    duo_split_windows(windows, (int)t->B, (int)t->T, t->inputs, t->targets);
    free(windows);
    set_routes(t, mask);
    duo_status st = duo_activations_set_router(m, a, NULL);
    if (st == DUO_OK)
        st = duo_model_set_batch(m, a, t->inputs, t->targets, t->routes);
    float mean;
    if (st == DUO_OK)
        st = duo_model_forward(m, a, &mean, NULL);
    if (st == DUO_OK)
        st = duo_buffer_read(m->rt, r->weights, 0, n_params * sizeof *t->w, t->w);
    /* Forward of the router on every layer's FFN input; probabilities at beta. */
    double ce = 0, agree = 0, big = 0;
    for (int l = 0; l < t->L && st == DUO_OK; l++) {
        st = duo_activations_read_layer(m, a, l, DUO_LAYER_FFN_INPUT, t->f);
        if (st != DUO_OK)
            break;
        ce += layer_logits(t, l, mask, &agree);
        const float *z = t->z + (size_t)l * N * 2;
        float *p = t->probs + (size_t)l * N * 2;
        for (size_t i = 0; i < N; i++) {
            double pb = 1.0 / (1.0 + exp(-h->beta * ((double)z[i * 2 + 1] - z[i * 2])));
            p[i * 2] = (float)(1.0 - pb);
            p[i * 2 + 1] = (float)pb;
            big += pb;
        }
    }
    if (st == DUO_OK) {
        out->ce = (float)(ce / ((double)N * (double)L));
        out->big_fraction = (float)(big / ((double)N * (double)L));
        out->penalty = (float)duo_router_penalty(r, t->probs, t->B, t->T, t->budget, h->alpha,
                                                 t->penalty_grad);
        *agreement = agree / ((double)N * (double)L);
        if (!isfinite(out->ce))
            st = duo_fail(DUO_ERR_NUMERIC, "oracle-taught router: the loss is %g at step %ld",
                          (double)out->ce, h->step);
    }
    /* Gradient: per layer, dW_l = f_l^T gz with gz = (softmax(z) - onehot) / (N L)
     * + penalty's dP_big * beta P_big (onehot_big - P). The FFN inputs are read
     * again layer by layer (one layer's fits in t->f). */
    for (int l = 0; l < t->L && st == DUO_OK; l++) {
        st = duo_activations_read_layer(m, a, l, DUO_LAYER_FFN_INPUT, t->f);
        if (st != DUO_OK)
            break;
        const float *z = t->z + (size_t)l * N * 2, *p = t->probs + (size_t)l * N * 2;
        memset(t->acc, 0, d * 2 * sizeof *t->acc);
        for (size_t i = 0; i < N; i++) {
            double z0 = z[i * 2], z1 = z[i * 2 + 1];
            double s1 = 1.0 / (1.0 + exp(z0 - z1));
            double y1 = (double)((mask[i] >> l) & 1u);
            double g1 = (s1 - y1) / ((double)N * (double)L);
            double pb = p[i * 2 + 1];
            g1 += (double)t->penalty_grad[i / t->T] * h->beta * pb * (1.0 - pb);
            /* Two columns: the gradient on z0 is -g1. */
            const float *f = t->f + i * d;
            for (size_t k = 0; k < d; k++) {
                t->acc[k * 2] -= (double)f[k] * g1;
                t->acc[k * 2 + 1] += (double)f[k] * g1;
            }
        }
        for (size_t k = 0; k < d * 2; k++)
            t->grad[(size_t)l * d * 2 + k] = (float)t->acc[k];
    }
    free(mask);
    if (st == DUO_OK)
        st = duo_buffer_write(m->rt, r->grads, 0, n_params * sizeof *t->grad, t->grad);
    if (st == DUO_OK)
        st = duo_router_apply_gradient(r, h, &out->grad_norm);
    return st;
}

duo_status duo_router_teacher_cache(const char *run_dir, int budget, int pool_windows, char *out,
                                    size_t cap)
{
    char name[96];
    snprintf(name, sizeof name, "%s/" DUO_ROUTER_TEACHER_POOL, DUO_RUN_ROUTERS, budget,
             pool_windows);
    return duo_run_path(run_dir, name, out, cap);
}

duo_status duo_router_teacher_model_key(const char *model_path, uint64_t *key)
{
    uint8_t *data;
    size_t n;
    DUO_TRY(duo_read_whole_file(model_path, "model checkpoint", &data, &n));
    *key = duo_fnv1a(DUO_FNV_OFFSET, data, n);
    free(data);
    return DUO_OK;
}
