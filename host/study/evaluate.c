/* Validation loss and bits per byte per domain under one routing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/comm.h"
#include "base/error.h"
#include "base/measures.h"
#include "evaluate.h"
#include "signal_router.h"
#include "router.h"

void duo_eval_data_free(duo_eval_data *data)
{
    if (!data)
        return;
    for (int d = 0; d < data->n_domains; d++)
        free(data->domain[d].tokens);
    free(data);
}

static duo_status read_domain(const char *shard_dir, const char *name, uint32_t vocab, int ctx,
                              size_t eval_tokens, const duo_tokenizer *tok, duo_eval_domain *out)
{
    char path[4096];
    DUO_TRY(duo_shard_filename(shard_dir, name, "val", path, sizeof path));
    struct stat info;
    if (stat(path, &info) != 0)
        return duo_fail(DUO_ERR_IO, "validation shard '%s' not found (make the shards of data.shards "
                        "with 'duocl prepare')", path);
    duo_shard *shard;
    DUO_TRY(duo_shard_open(path, vocab, tok ? duo_tokenizer_fingerprint(tok) : 0, &shard));
    size_t T = (size_t)ctx;
    uint64_t available = duo_val_window_count(shard, ctx);
    duo_status st = DUO_OK;
    if (available == 0)
        st = duo_fail(DUO_ERR_FORMAT, "validation shard '%s' has %llu tokens, fewer than one window "
                      "of %d", path, (unsigned long long)duo_shard_get_info(shard)->tokens, ctx + 1);
    size_t wanted = (eval_tokens + T - 1) / T;
    size_t windows = available < wanted ? (size_t)available : wanted;
    snprintf(out->name, sizeof out->name, "%s", name);
    out->windows = windows;
    out->targets = eval_tokens < windows * T ? eval_tokens : windows * T;
    if (st == DUO_OK) {
        out->tokens = malloc(windows * (T + 1) * sizeof *out->tokens);
        if (!out->tokens)
            st = duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory reading '%s'", path);
    }
    for (size_t w = 0; w < windows && st == DUO_OK; w++)
        st = duo_val_window(shard, ctx, w, out->tokens + w * (T + 1));
    if (st == DUO_OK) {
        /* The scored targets are positions 1..T of each window, in order. */
        uint64_t bytes = 0;
        size_t left = out->targets;
        for (size_t w = 0; w < windows && left; w++) {
            size_t n = left < T ? left : T;
            bytes += tok ? duo_tokenizer_text_bytes(tok, out->tokens + w * (T + 1) + 1, n)
                         : (uint64_t)llround((double)n * duo_shard_bytes_per_token(shard));
            left -= n;
        }
        out->bytes = bytes;
        if (bytes == 0)
            st = duo_fail(DUO_ERR_FORMAT, "validation shard '%s': its first %zu targets encode no "
                          "bytes of text", path, out->targets);
    }
    duo_shard_close(shard);
    return st;
}

duo_status duo_eval_data_open(const char *shard_dir, const duo_train_config *train, uint32_t vocab,
                              int ctx, size_t eval_tokens, const duo_tokenizer *tok,
                              duo_eval_data **out)
{
    *out = NULL;
    if (ctx <= 0 || eval_tokens == 0)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "evaluation needs ctx > 0 and eval_tokens > 0 "
                        "(got %d, %zu)", ctx, eval_tokens);
    duo_eval_data *data = calloc(1, sizeof *data);
    if (!data)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for validation data");
    data->ctx = ctx;
    for (int d = 0; d < train->n_domains; d++) {
        data->n_domains = d + 1;
        duo_status st = read_domain(shard_dir, train->domains[d].name, vocab, ctx, eval_tokens, tok,
                                    &data->domain[d]);
        if (st != DUO_OK) {
            duo_eval_data_free(data);
            return st;
        }
    }
    *out = data;
    return DUO_OK;
}

duo_eval_routing duo_eval_routing_uniform(duo_route route)
{
    duo_eval_routing r = {.random = false};
    memset(r.pattern, route, sizeof r.pattern);
    return r;
}

duo_status duo_eval_routing_random(double p_big, double p_small, double p_skip, uint64_t seed,
                                   duo_eval_routing *out)
{
    *out = (duo_eval_routing){.random = true, .seed = seed};
    return duo_route_thresholds_make(p_big, p_small, p_skip, &out->thresholds);
}

/* One batch: rows [first, first + rows) of the domain's windows, padded with
 * masked rows up to B; routes (L, B*T) layer-major. */
static void fill_batch(const duo_eval_domain *dom, int L, size_t B, size_t T, size_t first,
                       const duo_eval_routing *routing, int32_t *tokens, int32_t *targets,
                       uint8_t *routes)
{
    size_t N = B * T;
    for (size_t b = 0; b < B; b++) {
        size_t w = first + b;
        for (size_t t = 0; t < T; t++) {
            size_t i = b * T + t;
            bool scored = w < dom->windows && w * T + t < dom->targets;
            tokens[i] = w < dom->windows ? dom->tokens[w * (T + 1) + t] : 0;
            targets[i] = scored ? dom->tokens[w * (T + 1) + t + 1] : -1;
            for (int l = 0; l < L; l++) {
                uint8_t r = routing->random
                                ? (uint8_t)duo_route_pick(&routing->thresholds, routing->seed, w,
                                                          (uint32_t)l, (uint32_t)t)
                                : routing->pattern[l];
                routes[(size_t)l * N + i] = r;
            }
        }
    }
}

/* Counts the routes of the scored targets (targets >= 0) into r. */
static void count_routes(const uint8_t *routes, const int32_t *targets, int L, size_t N, size_t T,
                         uint64_t *big, uint64_t *skip, duo_eval_result *r)
{
    for (size_t i = 0; i < N; i++) {
        if (targets[i] < 0)
            continue;
        size_t bucket = (i % T) * DUO_EVAL_BUCKETS / T;
        r->targets_per_bucket[bucket]++;
        for (int l = 0; l < L; l++) {
            uint8_t route = routes[(size_t)l * N + i];
            *skip += route == DUO_ROUTE_SKIP;
            if (route == DUO_ROUTE_BIG) {
                (*big)++;
                r->big_per_layer[l]++;
                r->big_per_layer_bucket[l][bucket]++;
            }
        }
    }
}

/* Exact budget: a soft pass gives P_big per layer; each token takes BIG in
 * its exact_budget layers of highest P_big (ties to the earlier layer) and,
 * elsewhere, the more probable of the other modules. */
static duo_status exact_routes(duo_model *m, duo_activations *a, const duo_eval_routing *routing,
                               uint8_t *routes)
{
    duo_router *router = routing->router;
    int L = m->config.n_layers, M = router->M;
    size_t N = duo_activations_tokens(a);
    duo_router_binding soft = duo_router_bind(router, DUO_ROUTER_SOFT, routing->exact_beta);
    DUO_TRY(duo_activations_set_router(m, a, &soft));
    float mean;
    duo_status st = duo_model_forward(m, a, &mean, NULL);
    float *p = st == DUO_OK ? malloc((size_t)L * N * (size_t)M * sizeof *p) : NULL;
    if (st == DUO_OK && !p)
        st = duo_fail(DUO_ERR_OUT_OF_MEMORY, "evaluation: out of memory");
    if (st == DUO_OK)
        st = duo_activations_read_router_probs(m, a, p);
    for (size_t i = 0; i < N && st == DUO_OK; i++) {
        bool chosen[DUO_MAX_LAYERS] = {false};
        for (int k = 0; k < routing->exact_budget && k < L; k++) {
            int best = -1;
            for (int l = 0; l < L; l++)
                if (!chosen[l] && (best < 0 || p[((size_t)l * N + i) * (size_t)M + (size_t)M - 1] >
                                                   p[((size_t)best * N + i) * (size_t)M + (size_t)M - 1]))
                    best = l;
            chosen[best] = true;
        }
        for (int l = 0; l < L; l++) {
            const float *row = p + ((size_t)l * N + i) * (size_t)M;
            uint8_t other = (uint8_t)router->modules[0];
            if (M == 3 && row[1] > row[0])
                other = (uint8_t)router->modules[1];
            routes[(size_t)l * N + i] = chosen[l] ? (uint8_t)DUO_ROUTE_BIG : other;
        }
    }
    free(p);
    duo_status unbind = duo_activations_set_router(m, a, NULL);
    return st != DUO_OK ? st : unbind;
}

/* Routes the batch already set in `a` and runs the forward pass, leaving in
 * `routes` the routes every token took. */
static duo_status routed_forward(duo_model *m, duo_activations *a, const duo_eval_routing *routing,
                                 const int32_t *tokens, const int32_t *targets, uint8_t *routes,
                                 float *losses)
{
    float mean;
    if (routing->signal) {
        DUO_TRY(duo_signal_router_routes(routing->signal, a, tokens, targets, routes));
        DUO_TRY(duo_model_set_batch(m, a, tokens, targets, routes));
        return duo_model_forward(m, a, &mean, losses);
    }
    if (routing->router && routing->exact) {
        DUO_TRY(exact_routes(m, a, routing, routes));
        DUO_TRY(duo_model_set_batch(m, a, tokens, targets, routes));
        return duo_model_forward(m, a, &mean, losses);
    }
    if (routing->router) {
        duo_router_binding hard = duo_router_bind(routing->router, DUO_ROUTER_HARD, 1.0f);
        DUO_TRY(duo_activations_set_router(m, a, &hard));
        duo_status st = duo_model_forward(m, a, &mean, losses);
        if (st == DUO_OK)
            st = duo_activations_read_routes(m, a, routes);
        duo_status unbind = duo_activations_set_router(m, a, NULL);
        return st != DUO_OK ? st : unbind;
    }
    return duo_model_forward(m, a, &mean, losses);
}

/* Buffers of one batch. */
typedef struct batch_buffers {
    int32_t *tokens, *targets;
    uint8_t *routes;
    float *losses;
} batch_buffers;

static duo_status buffers_create(size_t N, int L, batch_buffers *b)
{
    *b = (batch_buffers){malloc(N * sizeof *b->tokens), malloc(N * sizeof *b->targets),
                         malloc((size_t)L * N), malloc(N * sizeof *b->losses)};
    if (!b->tokens || !b->targets || !b->routes || !b->losses)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "evaluation: out of memory");
    return DUO_OK;
}

static void buffers_free(batch_buffers *b)
{
    free(b->tokens);
    free(b->targets);
    free(b->routes);
    free(b->losses);
}

/* Batches `part` of the domain (batch b is windows [b * B, ..)): each scored
 * target's loss into scored[] (window-major, dom->targets entries), its
 * routes counted into r, *big and *skip. */
static duo_status evaluate_batches(duo_model *m, duo_activations *a, const duo_eval_domain *dom,
                                   size_t T, const duo_eval_routing *routing, duo_spread part,
                                   batch_buffers *buf, float *scored, uint64_t *big, uint64_t *skip,
                                   duo_eval_result *r)
{
    size_t N = duo_activations_tokens(a), B = N / T;
    int L = m->config.n_layers;
    for (size_t first = part.first * B; first < (part.first + part.count) * B && first < dom->windows;
         first += B) {
        fill_batch(dom, L, B, T, first, routing, buf->tokens, buf->targets, buf->routes);
        DUO_TRY(duo_model_set_batch(m, a, buf->tokens, buf->targets, buf->routes));
        DUO_TRY(routed_forward(m, a, routing, buf->tokens, buf->targets, buf->routes, buf->losses));
        count_routes(buf->routes, buf->targets, L, N, T, big, skip, r);
        for (size_t i = 0; i < N; i++)
            if (buf->targets[i] >= 0)
                scored[first * T + i] = buf->losses[i];
    }
    return DUO_OK;
}

/* The domain's numbers from every scored loss (summed in token order) and
 * the route counts. */
static duo_status finish_domain(const duo_eval_domain *dom, const float *scored, uint64_t big,
                                uint64_t skip, duo_eval_result *r)
{
    double nats = 0.0;
    for (size_t j = 0; j < dom->targets; j++)
        nats += scored[j];
    if (!isfinite(nats))
        return duo_fail(DUO_ERR_NUMERIC, "validation loss on '%s' is %g", dom->name, nats);
    r->nats = nats;
    r->loss = nats / (double)dom->targets;
    r->bits_per_byte = duo_bits_per_byte(nats, (double)dom->bytes);
    r->budget = (double)big / (double)dom->targets;
    r->skip = (double)skip / (double)dom->targets;
    return DUO_OK;
}

static duo_status check_evaluation(duo_model *m, duo_activations *a, size_t T,
                                   const duo_eval_routing *routing)
{
    size_t N = duo_activations_tokens(a);
    if (N == 0 || N % T != 0)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "evaluation: activations of %zu tokens are not "
                        "whole windows of ctx %zu", N, T);
    if (!routing->random && !routing->router)
        for (int l = 0; l < m->config.n_layers; l++)
            if (routing->pattern[l] >= DUO_ROUTE_COUNT)
                return duo_fail(DUO_ERR_INVALID_ARGUMENT, "evaluation: route %d at layer %d is not "
                                "a module", routing->pattern[l], l);
    return DUO_OK;
}

/* One domain's batches `part`; with spread, gathered and finished on rank 0. */
static duo_status evaluate_domain(duo_model *m, duo_activations *a, const duo_eval_domain *dom,
                                  size_t T, const duo_eval_routing *routing, duo_spread part,
                                  bool spread, batch_buffers *buf, duo_eval_result *r)
{
    int L = m->config.n_layers;
    uint64_t big = 0, skip = 0;
    *r = (duo_eval_result){.targets = dom->targets, .bytes = dom->bytes};
    float *scored = malloc((dom->targets ? dom->targets : 1) * sizeof *scored);
    duo_status st = scored ? evaluate_batches(m, a, dom, T, routing, part, buf, scored, &big, &skip, r)
                           : duo_fail(DUO_ERR_OUT_OF_MEMORY, "evaluation: out of memory");
    if (spread) {
        size_t B = duo_activations_tokens(a) / T;
        size_t t0 = part.first * B * T, t1 = (part.first + part.count) * B * T;
        t1 = t1 < dom->targets ? t1 : dom->targets;
        duo_spread tokens = part.count && t1 > t0 ? (duo_spread){t0, t1 - t0} : (duo_spread){0, 0};
        st = duo_spread_agree(st);
        if (st == DUO_OK)
            st = duo_spread_gather(scored, sizeof *scored, tokens);
        /* Route counts are whole numbers: summed over ranks exactly. */
        enum { MAX_COUNTS = 2 + DUO_MAX_LAYERS * (1 + DUO_EVAL_BUCKETS) + DUO_EVAL_BUCKETS };
        long long c[MAX_COUNTS];
        size_t n = 0;
        c[n++] = (long long)big;
        c[n++] = (long long)skip;
        for (int l = 0; l < L; l++) {
            c[n++] = (long long)r->big_per_layer[l];
            for (int q = 0; q < DUO_EVAL_BUCKETS; q++)
                c[n++] = (long long)r->big_per_layer_bucket[l][q];
        }
        for (int q = 0; q < DUO_EVAL_BUCKETS; q++)
            c[n++] = (long long)r->targets_per_bucket[q];
        if (st == DUO_OK)
            st = duo_comm_sum_longs(c, n);
        n = 0;
        big = (uint64_t)c[n++];
        skip = (uint64_t)c[n++];
        for (int l = 0; l < L; l++) {
            r->big_per_layer[l] = (uint64_t)c[n++];
            for (int q = 0; q < DUO_EVAL_BUCKETS; q++)
                r->big_per_layer_bucket[l][q] = (uint64_t)c[n++];
        }
        for (int q = 0; q < DUO_EVAL_BUCKETS; q++)
            r->targets_per_bucket[q] = (uint64_t)c[n++];
    }
    if (st == DUO_OK && (!spread || duo_spread_root()))
        st = finish_domain(dom, scored, big, skip, r);
    free(scored);
    return st;
}

size_t duo_eval_batches(const duo_eval_domain *dom, size_t batch)
{
    return batch ? (dom->windows + batch - 1) / batch : 0;
}

duo_status duo_evaluate(duo_model *m, duo_activations *a, const duo_eval_data *data,
                        const duo_eval_routing *routing, duo_eval_result *results)
{
    size_t T = (size_t)data->ctx;
    DUO_TRY(check_evaluation(m, a, T, routing));
    size_t N = duo_activations_tokens(a);
    batch_buffers buf;
    duo_status st = buffers_create(N, m->config.n_layers, &buf);
    for (int d = 0; d < data->n_domains && st == DUO_OK; d++) {
        const duo_eval_domain *dom = &data->domain[d];
        st = evaluate_domain(m, a, dom, T, routing, duo_spread_all(duo_eval_batches(dom, N / T)),
                             false, &buf, &results[d]);
    }
    buffers_free(&buf);
    return st;
}

duo_status duo_evaluate_spread(duo_model *m, duo_activations *a, const duo_eval_domain *dom, int ctx,
                               const duo_eval_routing *routing, duo_spread part,
                               duo_eval_result *result)
{
    size_t T = (size_t)ctx;
    duo_status st = check_evaluation(m, a, T, routing);
    batch_buffers buf = {0};
    if (st == DUO_OK)
        st = buffers_create(duo_activations_tokens(a), m->config.n_layers, &buf);
    /* The others wait in evaluate_domain's agreement, its first collective. */
    if (st == DUO_OK)
        st = evaluate_domain(m, a, dom, T, routing, part, true, &buf, result);
    else
        st = duo_spread_agree(st);
    buffers_free(&buf);
    return st;
}
