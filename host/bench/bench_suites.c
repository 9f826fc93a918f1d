/* Benchmark suites on the whole model: GEMM shapes, training steps, routed
 * evaluation and the oracle search. The per-op suite is in bench_ops.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_internal.h"
#include "device/gemm.h"
#include "study/oracle.h"
#include "ops/optim.h"
#include "base/rng.h"
#include "model/train_step.h"

/* ---- helpers shared with bench_ops.c ---- */

duo_status duo_bench_random_fill(duo_runtime *rt, cl_mem buffer, size_t floats, float scale,
                                 uint64_t seed)
{
    if (floats == 0)
        return DUO_OK;
    float *host = malloc(floats * sizeof *host);
    if (!host)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for %zu benchmark floats", floats);
    duo_rng rng = duo_rng_seeded(seed);
    for (size_t i = 0; i < floats; i++)
        host[i] = scale * duo_rng_range(&rng, -1.0f, 1.0f);
    duo_status st = duo_buffer_write(rt, buffer, 0, floats * sizeof(float), host);
    free(host);
    return st;
}

duo_status duo_bench_random_buffer(duo_runtime *rt, size_t floats, float scale, uint64_t seed,
                                   cl_mem *out)
{
    DUO_TRY(duo_buffer_create(rt, floats * sizeof(float), out));
    return duo_bench_random_fill(rt, *out, floats, scale, seed);
}

void duo_bench_random_tokens(int32_t *tokens, size_t n, int vocab, uint64_t seed)
{
    duo_rng rng = duo_rng_seeded(seed);
    for (size_t i = 0; i < n; i++)
        tokens[i] = (int32_t)duo_rng_below(&rng, (uint64_t)vocab);
}

void duo_bench_case_set(duo_bench_case *c, const char *section, const char *name, double work,
                        const char *unit, duo_bench_fn run, void *context, int arg)
{
    memset(c, 0, sizeof *c);
    snprintf(c->section, sizeof c->section, "%s", section);
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->unit, sizeof c->unit, "%s", unit);
    c->work = work;
    c->run = run;
    c->context = context;
    c->arg = arg;
    c->device_median = NAN;
    c->cores = NAN;
    c->blocking = NAN;
}

duo_status duo_bench_run_and_add(duo_runtime *rt, duo_bench_case *cases, int count,
                                 const duo_bench_run_options *run, duo_bench_report *r)
{
    DUO_TRY(duo_bench_run(rt, cases, count, run));
    for (int i = 0; i < count; i++)
        DUO_TRY(duo_bench_report_add(r, &cases[i]));
    return DUO_OK;
}

/* ---- FLOPs ---- */

double duo_bench_forward_flops(const duo_model_config *c, const char *pattern, bool ffn_only)
{
    double d = c->d_model, T = c->ctx, V = c->vocab;
    double flops = 0;
    for (int l = 0; l < c->n_layers; l++) {
        char r = pattern[l];
        double F = r == 'B' ? c->ffn_big : r == 'S' ? c->ffn_small : 0;
        flops += 3 * 2 * d * F;
        if (!ffn_only)
            flops += 4 * 2 * d * d + 2 * 2 * d * (T + 1) / 2; /* projections; causal QK^T and PV */
    }
    if (!ffn_only)
        flops += 2 * d * V;
    return flops;
}

/* ---- GEMM shapes ---- */

typedef struct gemm_spec {
    const char *name;
    size_t m, n, k, batch;
    bool ta, tb;
} gemm_spec;

typedef struct gemm_context {
    duo_runtime *rt;
    cl_mem a, b, c;
    const gemm_spec *specs;
    int gemms;                 /* 2: every shape on CLBlast, then on the built-in GEMM; 1: one */
    duo_gemm_kind kinds[2];
} gemm_context;

/* Case i: shape i / gemms on GEMM kinds[i % gemms]. */
static duo_status gemm_run(void *context, int i)
{
    gemm_context *g = context;
    const gemm_spec *s = &g->specs[i / g->gemms];
    /* Row-major operands stored as used: op(A) is m x k, so A is k x m when transposed. */
    duo_matrix a = {g->a, 0, s->ta ? s->m : s->k, s->ta};
    duo_matrix b = {g->b, 0, s->tb ? s->k : s->n, s->tb};
    duo_matrix c = {g->c, 0, s->n, false};
    duo_gemm_kind own;
    DUO_TRY(duo_gemm_use(g->rt, g->kinds[i % g->gemms], &own));
    duo_status st =
        s->batch == 1
            ? duo_gemm(g->rt, s->m, s->n, s->k, 1.0f, a, b, 0.0f, c)
            : duo_gemm_strided_batched(g->rt, s->m, s->n, s->k, 1.0f, a, s->m * s->k, b,
                                       s->k * s->n, 0.0f, c, s->m * s->n, s->batch);
    duo_gemm_use(g->rt, own, NULL);
    return st;
}

duo_status duo_bench_gemm_suite(duo_runtime *rt, const duo_bench_suite_options *o,
                                duo_bench_report *r)
{
    const duo_model_config *mc = &o->config->model;
    size_t N = (size_t)o->config->train.batch * (size_t)mc->ctx, d = (size_t)mc->d_model;
    size_t half = (N + 1) / 2, V = (size_t)mc->vocab, T = (size_t)mc->ctx;
    size_t Fb = (size_t)mc->ffn_big, Fs = (size_t)mc->ffn_small;
    size_t heads = (size_t)o->config->train.batch * (size_t)mc->n_heads;
    size_t hd = d / (size_t)mc->n_heads, blk = T < 64 ? T : 64;
    /* x W, dout W^T and x^T dout of each linear layer; FFN rows are the
     * tokens one route gets at 50% routing. Attention: the last (widest)
     * 64-query block of its block-causal products, per (sequence, head). */
    const gemm_spec specs[] = {
        {"qkvo.forward", N, d, d, 1, false, false},
        {"qkvo.backward_input", N, d, d, 1, false, true},
        {"qkvo.backward_weight", d, d, N, 1, true, false},
        {"ffn_big.w1w3.forward", half, Fb, d, 1, false, false},
        {"ffn_big.w2.forward", half, d, Fb, 1, false, false},
        {"ffn_big.w1w3.backward_input", half, d, Fb, 1, false, true},
        {"ffn_big.w2.backward_input", half, Fb, d, 1, false, true},
        {"ffn_big.w1w3.backward_weight", d, Fb, half, 1, true, false},
        {"ffn_big.w2.backward_weight", Fb, d, half, 1, true, false},
        {"ffn_small.w1w3.forward", half, Fs, d, 1, false, false},
        {"ffn_small.w2.forward", half, d, Fs, 1, false, false},
        {"ffn_small.w1w3.backward_input", half, d, Fs, 1, false, true},
        {"ffn_small.w2.backward_input", half, Fs, d, 1, false, true},
        {"ffn_small.w1w3.backward_weight", d, Fs, half, 1, true, false},
        {"ffn_small.w2.backward_weight", Fs, d, half, 1, true, false},
        {"head.forward", N, V, d, 1, false, true},
        {"head.backward_input", N, d, V, 1, false, false},
        {"head.backward_weight", V, d, N, 1, true, false},
        {"attention.scores", blk, T, hd, heads, false, true},
        {"attention.values", blk, hd, T, heads, false, false},
        {"attention.backward_keys", blk, hd, T, heads, true, false},
    };
    enum { COUNT = sizeof specs / sizeof specs[0] };
    size_t max_a = 0, max_b = 0, max_c = 0;
    for (int i = 0; i < COUNT; i++) {
        const gemm_spec *s = &specs[i];
        size_t a = s->m * s->k * s->batch, b = s->k * s->n * s->batch, c = s->m * s->n * s->batch;
        max_a = a > max_a ? a : max_a;
        max_b = b > max_b ? b : max_b;
        max_c = c > max_c ? c : max_c;
    }
    /* CLBlast's cases keep their section and names; after each, the built-in
     * GEMM's on the same shape (section gemm_builtin, "<name> builtin"), run
     * in turn with it. Only the built-in ones where compiling at run time is
     * forbidden. */
    gemm_context g = {.rt = rt, .specs = specs, .gemms = 2,
                      .kinds = {DUO_GEMM_CLBLAST, DUO_GEMM_BUILTIN}};
    if (duo_runtime_no_compile_reason(rt)) {
        g.gemms = 1;
        g.kinds[0] = DUO_GEMM_BUILTIN;
    }
    duo_bench_case cases[2 * COUNT];
    duo_status st = duo_bench_random_buffer(rt, max_a, 1.0f, o->seed + 1, &g.a);
    if (st == DUO_OK)
        st = duo_bench_random_buffer(rt, max_b, 1.0f, o->seed + 2, &g.b);
    if (st == DUO_OK)
        st = duo_bench_random_buffer(rt, max_c, 1.0f, o->seed + 3, &g.c);
    for (int i = 0; i < COUNT * g.gemms && st == DUO_OK; i++) {
        const gemm_spec *s = &specs[i / g.gemms];
        bool builtin = g.kinds[i % g.gemms] == DUO_GEMM_BUILTIN;
        char name[64];
        snprintf(name, sizeof name, "%s%s", s->name, builtin ? " builtin" : "");
        duo_bench_case_set(&cases[i], builtin ? "gemm_builtin" : "gemm", name,
                           2.0 * (double)s->m * (double)s->n *
                           (double)s->k * (double)s->batch, "GFLOP/s", gemm_run, &g, i);
        snprintf(cases[i].shape, sizeof cases[i].shape, "m=%zu n=%zu k=%zu %c%c%s", s->m, s->n,
                 s->k, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->batch > 1 ? " batched" : "");
        if (s->batch > 1) {
            size_t len = strlen(cases[i].shape);
            snprintf(cases[i].shape + len, sizeof cases[i].shape - len, " x%zu", s->batch);
        }
    }
    if (st == DUO_OK)
        st = duo_bench_run_and_add(rt, cases, COUNT * g.gemms, &o->run, r);
    duo_buffer_release(&g.a);
    duo_buffer_release(&g.b);
    duo_buffer_release(&g.c);
    return st;
}

/* ---- model-level suites ---- */


duo_status duo_bench_model_open(duo_runtime *rt, const duo_bench_suite_options *o,
                               const duo_model_config *model, size_t batch, bool training,
                               duo_bench_model *mc)
{
    memset(mc, 0, sizeof *mc);
    mc->rt = rt;
    mc->seed = o->seed;
    mc->train = o->config->train;
    mc->trace = o->run.trace;
    size_t T = (size_t)o->config->model.ctx, N = batch * T;
    DUO_TRY(duo_route_thresholds_make(0.5, 0.5, 0.0, &mc->half));
    DUO_TRY(duo_model_create(rt, model, &mc->m));
    DUO_TRY(duo_model_init(mc->m, o->seed));
    DUO_TRY(duo_activations_create(mc->m, batch, T, training, &mc->a));
    if (training) {
        DUO_TRY(duo_optimizer_create(mc->m, &mc->opt));
        mc->has_opt = true;
    }
    mc->tokens = malloc(N * sizeof(int32_t));
    mc->targets = malloc(N * sizeof(int32_t));
    if (!mc->tokens || !mc->targets)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for benchmark tokens");
    duo_bench_random_tokens(mc->tokens, N, o->config->model.vocab, o->seed + 11);
    duo_bench_random_tokens(mc->targets, N, o->config->model.vocab, o->seed + 12);
    return DUO_OK;
}

void duo_bench_model_close(duo_bench_model *mc)
{
    if (mc->has_opt)
        duo_optimizer_destroy(&mc->opt);
    duo_activations_destroy(mc->a);
    duo_model_destroy(mc->m);
    free(mc->tokens);
    free(mc->targets);
    memset(mc, 0, sizeof *mc);
}

/* Uploads the tokens with every route SMALL (eval and oracle set their own routes). */
static duo_status set_batch_small(duo_bench_model *mc, size_t N)
{
    size_t n = (size_t)mc->m->config.n_layers * N;
    uint8_t *routes = malloc(n);
    if (!routes)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for routes");
    memset(routes, DUO_ROUTE_SMALL, n);
    duo_status st = duo_model_set_batch(mc->m, mc->a, mc->tokens, mc->targets, routes);
    free(routes);
    return st;
}

duo_status duo_bench_train_run(void *context, int arg)
{
    (void)arg;
    duo_bench_model *mc = context;
    DUO_TRY(duo_model_set_batch_random_routes(mc->m, mc->a, mc->tokens, mc->targets, &mc->half,
                                              mc->seed, (uint64_t)mc->step));
    duo_step_result result;
    DUO_TRY(duo_train_step(mc->m, mc->a, &mc->opt, &mc->train, mc->step, &result));
    mc->step++;
    return DUO_OK;
}

/* Runs one piece of a pass: bracketed in the trace when there is one, its
 * blocking calls added to *count (counted before the trace's own wait). */
#define PIECE(mc, name, count, expr)                                         \
    do {                                                                     \
        if ((mc)->trace)                                                     \
            DUO_TRY(duo_trace_begin((mc)->trace, (name), "breakdown"));      \
        unsigned long before_ = duo_blocking_total((mc)->rt);                \
        DUO_TRY(expr);                                                       \
        *(count) += duo_blocking_total((mc)->rt) - before_;                  \
        if ((mc)->trace)                                                     \
            DUO_TRY(duo_trace_end((mc)->trace));                             \
    } while (0)

/* Blocking calls of one step, by where they happen. */
typedef struct step_blocking {
    unsigned long batch, forward, head, after;
} step_blocking;

/* One training step in the pieces of duo_train_step, each in the trace when
 * there is one, counting the blocking calls of each part. */
static duo_status train_breakdown(duo_bench_model *mc, step_blocking *b)
{
    duo_model *m = mc->m;
    char name[64];
    float loss;
    memset(b, 0, sizeof *b);
    PIECE(mc, "train.routes+batch", &b->batch,
          duo_model_set_batch_random_routes(m, mc->a, mc->tokens, mc->targets, &mc->half,
                                            mc->seed, (uint64_t)mc->step));
    PIECE(mc, "train.forward.embed", &b->forward, duo_model_forward_embed(m, mc->a));
    for (int l = 0; l < m->config.n_layers; l++) {
        snprintf(name, sizeof name, "train.forward.layer%d", l);
        PIECE(mc, name, &b->forward, duo_model_forward_layer(m, mc->a, l));
    }
    PIECE(mc, "train.forward.head", &b->head, duo_model_forward_head(m, mc->a, &loss, NULL));
    PIECE(mc, "train.backward", &b->after, duo_model_backward(m, mc->a));
    duo_grad_span span = {m->grads, 0, m->n_params};
    float norm;
    PIECE(mc, "train.grad_norm", &b->after,
          duo_grad_norm(mc->rt, &span, 1, mc->opt.norm_scratch, &norm));
    duo_adamw_hparams h = {.lr = mc->train.lr, .beta1 = mc->train.beta1, .beta2 = mc->train.beta2,
                           .eps = mc->train.eps, .weight_decay = mc->train.weight_decay,
                           .step = mc->step + 1};
    float clip = duo_clip_factor(norm, (float)mc->train.grad_clip);
    PIECE(mc, "train.adamw", &b->after, duo_adamw_step(mc->rt, m->params, m->grads, m->adam_m,
                                                       m->adam_v, 0, m->n_params, &h, clip));
    mc->step++;
    return DUO_OK;
}

duo_status duo_bench_train_suite(duo_runtime *rt, const duo_bench_suite_options *o,
                                 duo_bench_report *r)
{
    size_t B = (size_t)o->config->train.batch, T = (size_t)o->config->model.ctx;
    duo_bench_model mc;
    duo_status st = duo_bench_model_open(rt, o, &o->config->model, B, true, &mc);
    duo_bench_case c;
    duo_bench_case_set(&c, "train", "step p_big=0.5", (double)(B * T), "tokens/s", duo_bench_train_run, &mc, 0);
    snprintf(c.shape, sizeof c.shape, "B=%zu T=%zu, forward+backward+norm+AdamW", B, T);
    if (st == DUO_OK)
        st = duo_bench_run_and_add(rt, &c, 1, &o->run, r);
    int pieces = o->run.trace ? o->run.repeat : 1;
    step_blocking b;
    for (int i = 0; i < pieces && st == DUO_OK; i++)
        st = train_breakdown(&mc, &b);
    if (st == DUO_OK) {
        /* The head ends with the loss read-back; anything else it waited
         * for came before it. */
        unsigned long loss = b.head > 0 ? 1 : 0;
        r->step_blocking_batch = (double)b.batch;
        r->step_blocking_before_loss = (double)(b.forward + b.head - loss);
        r->step_blocking_loss = (double)loss;
        r->step_blocking_after_loss = (double)b.after;
    }
    duo_bench_model_close(&mc);
    return st;
}

static duo_status eval_run(void *context, int which)
{
    duo_bench_model *mc = context;
    const char *pattern = mc->patterns[which];
    for (int l = 0; l < mc->m->config.n_layers; l++)
        DUO_TRY(duo_model_set_layer_route(mc->m, mc->a, l,
                                          pattern[l] == 'B' ? DUO_ROUTE_BIG : DUO_ROUTE_SMALL));
    float loss;
    return duo_model_forward(mc->m, mc->a, &loss, NULL);
}

static duo_status eval_breakdown(duo_bench_model *mc, int which)
{
    duo_model *m = mc->m;
    char name[64];
    float loss;
    const char *pattern = mc->patterns[which];
    for (int l = 0; l < m->config.n_layers; l++)
        DUO_TRY(duo_model_set_layer_route(m, mc->a, l,
                                          pattern[l] == 'B' ? DUO_ROUTE_BIG : DUO_ROUTE_SMALL));
    unsigned long blocking = 0; /* in the trace's events */
    snprintf(name, sizeof name, "eval.%s.embed", pattern);
    PIECE(mc, name, &blocking, duo_model_forward_embed(m, mc->a));
    for (int l = 0; l < m->config.n_layers; l++) {
        snprintf(name, sizeof name, "eval.%s.layer%d", pattern, l);
        PIECE(mc, name, &blocking, duo_model_forward_layer(m, mc->a, l));
    }
    snprintf(name, sizeof name, "eval.%s.head", pattern);
    PIECE(mc, name, &blocking, duo_model_forward_head(m, mc->a, &loss, NULL));
    return DUO_OK;
}

duo_status duo_bench_eval_suite(duo_runtime *rt, const duo_bench_suite_options *o,
                                duo_bench_report *r)
{
    size_t B = (size_t)o->config->train.batch, T = (size_t)o->config->model.ctx;
    int L = o->config->model.n_layers;
    static char small[DUO_MAX_LAYERS + 1], half[DUO_MAX_LAYERS + 1], big[DUO_MAX_LAYERS + 1];
    /* The half pattern alternates, so its L/2 big layers are spread over depth. */
    for (int l = 0; l < L; l++) {
        small[l] = 'S';
        big[l] = 'B';
        half[l] = (l % 2 == 0 && l / 2 < L / 2) ? 'B' : 'S';
    }
    small[L] = half[L] = big[L] = '\0';
    duo_bench_model mc;
    duo_status st = duo_bench_model_open(rt, o, &o->config->model, B, false, &mc);
    mc.patterns[0] = small;
    mc.patterns[1] = half;
    mc.patterns[2] = big;
    static const char *const names[] = {"all-small", "half-big", "all-big"};
    duo_bench_case cases[3];
    if (st == DUO_OK)
        st = set_batch_small(&mc, B * T);
    for (int i = 0; i < 3; i++) {
        duo_bench_case_set(&cases[i], "eval", names[i], (double)(B * T), "tokens/s", eval_run, &mc, i);
        snprintf(cases[i].shape, sizeof cases[i].shape, "pattern %s, B=%zu T=%zu, forward",
                 mc.patterns[i], B, T);
    }
    if (st == DUO_OK)
        st = duo_bench_run_and_add(rt, cases, 3, &o->run, r);
    for (int k = 0; k < o->run.repeat && o->run.trace; k++)
        for (int i = 0; i < 3 && st == DUO_OK; i++)
            st = eval_breakdown(&mc, i);
    duo_bench_model_close(&mc);
    return st;
}

static duo_status ignore_pattern(void *context, const uint8_t *pattern, int big, const float *losses)
{
    (void)context;
    (void)pattern;
    (void)big;
    (void)losses;
    return DUO_OK;
}

static duo_status oracle_run(void *context, int arg)
{
    (void)arg;
    duo_bench_model *mc = context;
    return duo_search_patterns(mc->m, mc->a, DUO_ALPHABET_SB, NULL, true, ignore_pattern, NULL,
                               &mc->counts);
}

duo_status duo_bench_oracle_suite(duo_runtime *rt, const duo_bench_suite_options *o,
                                  duo_bench_report *r)
{
    size_t B = o->oracle_batch ? o->oracle_batch : 4, T = (size_t)o->config->model.ctx;
    int L = o->config->model.n_layers;
    uint64_t patterns = 0;
    for (int k = 0; k <= L; k++)
        patterns += duo_pattern_count(DUO_ALPHABET_SB, L, k);
    duo_bench_model mc;
    duo_status st = duo_bench_model_open(rt, o, &o->config->model, B, false, &mc);
    duo_bench_case c;
    duo_bench_case_set(&c, "oracle", "search SB", (double)patterns, "patterns/s", oracle_run, &mc, 0);
    snprintf(c.shape, sizeof c.shape, "%llu patterns, prefix sharing, B=%zu T=%zu",
             (unsigned long long)patterns, B, T);
    if (st == DUO_OK)
        st = set_batch_small(&mc, B * T);
    if (st == DUO_OK)
        st = duo_bench_run_and_add(rt, &c, 1, &o->run, r);
    duo_bench_model_close(&mc);
    return st;
}
