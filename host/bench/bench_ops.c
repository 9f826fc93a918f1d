/* The per-op benchmark: every op family of the Duo layer at the bench shapes
 * (N = B*T rows of width d, FFN width F, vocabulary V), forward and
 * backward, and the routed FFN block at 50% routing timed whole, as its
 * GEMMs alone, as everything but its GEMMs (compaction and SwiGLU gate) and
 * as its compaction alone, so the share of the block that is not GEMM
 * (issue 3's question) comes out of one interleaved run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_internal.h"
#include "device/gemm.h"
#include "model/model.h"
#include "ops/attention.h"
#include "ops/compact.h"
#include "ops/embedding.h"
#include "ops/ffn.h"
#include "ops/loss.h"
#include "ops/norm.h"
#include "ops/optim.h"
#include "ops/residual.h"
#include "ops/rope.h"
#include "ops/routes.h"

typedef struct ops {
    duo_runtime *rt;
    duo_model *m;          /* parameters for AdamW / grad norm and layer 0's FFN weights */
    size_t B, T, N, d, H, hd, F, V;
    int L;
    float eps;
    duo_route_thresholds half;
    cl_mem x, y, dy, dx, w, dw, rstd, norm_scratch;
    cl_mem tokens, csr_offsets, csr_positions, dtable;
    int *host_tokens, *host_offsets, *host_positions;
    cl_mem q, k, v, att_saved, att_scratch, dq, dk, dv;
    cl_mem fa, fb, fh, fda, fdb;             /* (N, F) */
    cl_mem logits, dlogits, targets, losses, mean_scratch, mean_result;
    cl_mem grad_scratch;
    cl_mem routes, meta, index, slot, block, block_out;
    cl_mem u1[DUO_ROUTE_COUNT], u3[DUO_ROUTE_COUNT], gate[DUO_ROUTE_COUNT];
    cl_mem dgate, du1, du3, dblock, df;
    duo_compact_counts counts;
} ops;

enum {
    OP_EMBED_F, OP_EMBED_B, OP_EMBED_CSR, OP_NORM_F, OP_NORM_B, OP_ROPE_F, OP_ROPE_B, OP_ATT_F,
    OP_ATT_B, OP_SWIGLU_F, OP_SWIGLU_B, OP_RESIDUAL, OP_SCALED_ADD, OP_CE_F, OP_CE_MEAN, OP_CE_B,
    OP_ADAMW, OP_GRAD_NORM, OP_ROUTES, OP_COMPACT_INDEX, OP_GATHER, OP_SCATTER_ADD, OP_SCATTER,
    OP_COUNT
};

/* Which parts of the routed FFN block a run includes: the GEMMs, the
 * compaction (index build, gathers, scatters) and the SwiGLU gate. */
enum { PART_GEMMS = 1, PART_COMPACTION = 2, PART_GATE = 4, PART_ALL = 7 };
enum { FFN_FORWARD_BLOCK, FFN_FORWARD_GEMMS, FFN_FORWARD_OUTSIDE, FFN_FORWARD_COMPACTION,
       FFN_BACKWARD_BLOCK, FFN_BACKWARD_GEMMS, FFN_BACKWARD_OUTSIDE, FFN_BACKWARD_COMPACTION,
       FFN_COUNT };

static duo_matrix plain(cl_mem b, size_t ld) { return (duo_matrix){b, 0, ld, false}; }
static duo_matrix trans(cl_mem b, size_t ld) { return (duo_matrix){b, 0, ld, true}; }

static duo_status op_run(void *context, int op)
{
    ops *o = context;
    duo_runtime *rt = o->rt;
    size_t N = o->N, d = o->d, half = (size_t)o->counts.count[DUO_ROUTE_BIG];
    duo_attention_shape att = {o->B, o->T, o->H, o->hd};
    duo_grad_span span = {o->m->grads, 0, o->m->n_params};
    duo_adamw_hparams h = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8,
                           .weight_decay = 0.1, .step = 1};
    float norm;
    duo_compact_counts counts;
    int off = o->counts.offset[DUO_ROUTE_BIG];
    switch (op) {
    case OP_EMBED_F:
        return duo_embedding_forward(rt, o->x, o->m->embed->param, o->tokens, N, d, (int)o->V);
    case OP_EMBED_B:
        return duo_embedding_backward(rt, o->dtable, o->dy, o->csr_offsets, o->csr_positions,
                                      (int)o->V, d);
    case OP_EMBED_CSR:
        return duo_embedding_csr_build(o->host_tokens, N, (int)o->V, o->host_offsets,
                                       o->host_positions);
    case OP_NORM_F: return duo_rmsnorm_forward(rt, o->y, o->rstd, o->x, o->w, N, d, o->eps);
    case OP_NORM_B:
        return duo_rmsnorm_backward(rt, o->dx, o->dw, o->dy, o->x, o->w, o->rstd, o->norm_scratch,
                                    N, d);
    case OP_ROPE_F: return duo_rope_forward(rt, o->y, o->q, &o->m->rope, o->B, o->T, o->H);
    case OP_ROPE_B: return duo_rope_backward(rt, o->dx, o->dy, &o->m->rope, o->B, o->T, o->H);
    case OP_ATT_F:
        return duo_attention_forward(rt, att, o->y, o->att_saved, o->att_scratch, o->q, o->k, o->v);
    case OP_ATT_B:
        return duo_attention_backward(rt, att, o->dq, o->dk, o->dv, o->att_scratch, o->dy,
                                      o->att_saved);
    case OP_SWIGLU_F: return duo_swiglu_forward(rt, o->fh, o->fa, o->fb, N, o->F);
    case OP_SWIGLU_B: return duo_swiglu_backward(rt, o->fda, o->fdb, o->fh, o->fa, o->fb, N, o->F);
    case OP_RESIDUAL: return duo_residual_add(rt, o->y, o->x, o->dy, N * d);
    case OP_SCALED_ADD: return duo_scaled_add(rt, o->y, o->x, 0.5f, N * d);
    case OP_CE_F: return duo_cross_entropy_forward(rt, o->logits, o->targets, o->losses, N, o->V);
    case OP_CE_MEAN:
        return duo_cross_entropy_mean(rt, o->losses, o->targets, N, o->mean_scratch,
                                      o->mean_result, NULL);
    case OP_CE_B:
        return duo_cross_entropy_backward(rt, o->logits, o->targets, o->dlogits, N, o->V,
                                          1.0f / (float)N);
    case OP_ADAMW:
        return duo_adamw_step(rt, o->m->params, o->m->grads, o->m->adam_m, o->m->adam_v, 0,
                              o->m->n_params, &h, 1.0f);
    case OP_GRAD_NORM: return duo_grad_norm(rt, &span, 1, o->grad_scratch, &norm);
    case OP_ROUTES: return duo_route_generate(rt, o->routes, &o->half, 1, 0, 0, o->L, N);
    case OP_COMPACT_INDEX:
        return duo_compact_index(rt, o->routes, 0, N, o->meta, o->index, o->slot, &counts);
    case OP_GATHER: return duo_compact_gather(rt, o->block, o->x, o->index, off, (int)half, d);
    case OP_SCATTER_ADD:
        return duo_compact_scatter_add(rt, o->y, o->x, o->block, o->index, off, (int)half, d);
    case OP_SCATTER: return duo_compact_scatter(rt, o->dx, o->block, o->index, off, (int)half, d);
    }
    return duo_fail(DUO_ERR_INVALID_ARGUMENT, "no op %d", op);
}

/* x' = h + FFN_r(f) per route, as ffn_block_forward in model_pass.c: f = x,
 * h = dy (any (N, d) data), out y. */
static duo_status ffn_forward(ops *o, int parts)
{
    duo_runtime *rt = o->rt;
    size_t d = o->d;
    const duo_layer_weights *w = &o->m->layer[0];
    const duo_compact_counts *c = &o->counts;
    /* As in a training step, the host knows the counts (found once at set-up):
     * the index is built on the device and nothing is read back. */
    if (parts & PART_COMPACTION)
        DUO_TRY(duo_compact_index(rt, o->routes, 0, o->N, o->meta, o->index, o->slot, NULL));
    for (int r = DUO_ROUTE_SMALL; r <= DUO_ROUTE_BIG; r++) {
        size_t n = (size_t)c->count[r], F = w->ffn[r].width;
        if (n == 0)
            continue;
        if (parts & PART_COMPACTION)
            DUO_TRY(duo_compact_gather(rt, o->block, o->x, o->index, c->offset[r], (int)n, d));
        if (parts & PART_GEMMS) {
            DUO_TRY(duo_gemm(rt, n, F, d, 1.0f, plain(o->block, d), plain(w->ffn[r].w1->param, F),
                             0.0f, plain(o->u1[r], F)));
            DUO_TRY(duo_gemm(rt, n, F, d, 1.0f, plain(o->block, d), plain(w->ffn[r].w3->param, F),
                             0.0f, plain(o->u3[r], F)));
        }
        if (parts & PART_GATE)
            DUO_TRY(duo_swiglu_forward(rt, o->gate[r], o->u1[r], o->u3[r], n, F));
        if (parts & PART_GEMMS)
            DUO_TRY(duo_gemm(rt, n, d, F, 1.0f, plain(o->gate[r], F), plain(w->ffn[r].w2->param, d),
                             0.0f, plain(o->block_out, d)));
        if (parts & PART_COMPACTION)
            DUO_TRY(duo_compact_scatter_add(rt, o->y, o->dy, o->block_out, o->index, c->offset[r],
                                            (int)n, d));
    }
    return DUO_OK;
}

/* As ffn_block_backward in model_pass.c: dx (here dy) -> df, with layer 0's
 * weights' gradients written. */
static duo_status ffn_backward(ops *o, int parts)
{
    duo_runtime *rt = o->rt;
    size_t d = o->d;
    const duo_layer_weights *w = &o->m->layer[0];
    const duo_compact_counts *c = &o->counts;
    if (parts & PART_COMPACTION)
        DUO_TRY(duo_buffer_fill_zero(rt, o->df, o->N * d * sizeof(float)));
    for (int r = DUO_ROUTE_SMALL; r <= DUO_ROUTE_BIG; r++) {
        const duo_ffn_weights *ffn = &w->ffn[r];
        size_t n = (size_t)c->count[r], F = ffn->width;
        int off = c->offset[r];
        if (parts & PART_COMPACTION)
            DUO_TRY(duo_compact_gather(rt, o->dblock, o->dy, o->index, off, (int)n, d));
        if (parts & PART_GEMMS) {
            DUO_TRY(duo_gemm(rt, F, d, n, 1.0f, trans(o->gate[r], F), plain(o->dblock, d), 0.0f,
                             plain(ffn->w2->grad, d)));
            DUO_TRY(duo_gemm(rt, n, F, d, 1.0f, plain(o->dblock, d), trans(ffn->w2->param, d), 0.0f,
                             plain(o->dgate, F)));
        }
        if (parts & PART_GATE)
            DUO_TRY(duo_swiglu_backward(rt, o->du1, o->du3, o->dgate, o->u1[r], o->u3[r], n, F));
        if (parts & PART_COMPACTION)
            DUO_TRY(duo_compact_gather(rt, o->block, o->x, o->index, off, (int)n, d));
        if (parts & PART_GEMMS) {
            DUO_TRY(duo_gemm(rt, d, F, n, 1.0f, trans(o->block, d), plain(o->du1, F), 0.0f,
                             plain(ffn->w1->grad, F)));
            DUO_TRY(duo_gemm(rt, d, F, n, 1.0f, trans(o->block, d), plain(o->du3, F), 0.0f,
                             plain(ffn->w3->grad, F)));
            DUO_TRY(duo_gemm(rt, n, d, F, 1.0f, plain(o->du1, F), trans(ffn->w1->param, F), 0.0f,
                             plain(o->dblock, d)));
            DUO_TRY(duo_gemm(rt, n, d, F, 1.0f, plain(o->du3, F), trans(ffn->w3->param, F), 1.0f,
                             plain(o->dblock, d)));
        }
        if (parts & PART_COMPACTION)
            DUO_TRY(duo_compact_scatter(rt, o->df, o->dblock, o->index, off, (int)n, d));
    }
    return DUO_OK;
}

static duo_status ffn_run(void *context, int which)
{
    ops *o = context;
    static const int parts[FFN_COUNT] = {
        PART_ALL, PART_GEMMS, PART_COMPACTION | PART_GATE, PART_COMPACTION,
        PART_ALL, PART_GEMMS, PART_COMPACTION | PART_GATE, PART_COMPACTION};
    return which < FFN_BACKWARD_BLOCK ? ffn_forward(o, parts[which]) : ffn_backward(o, parts[which]);
}

static duo_status ops_allocate(ops *o, uint64_t seed)
{
    duo_runtime *rt = o->rt;
    size_t N = o->N, d = o->d, F = o->F, V = o->V;
    struct { cl_mem *mem; size_t floats; float scale; } bufs[] = {
        {&o->x, N * d, 1}, {&o->y, N * d, 1}, {&o->dy, N * d, 1}, {&o->dx, N * d, 1},
        {&o->w, d, 1}, {&o->dw, d, 1}, {&o->rstd, N, 1},
        {&o->norm_scratch, duo_rmsnorm_backward_scratch_floats(N, d), 0},
        {&o->dtable, V * d, 0}, {&o->q, N * d, 1}, {&o->k, N * d, 1}, {&o->v, N * d, 1},
        {&o->att_saved, duo_attention_saved_floats((duo_attention_shape){o->B, o->T, o->H, o->hd}), 0},
        {&o->att_scratch, duo_attention_scratch_floats((duo_attention_shape){o->B, o->T, o->H, o->hd}), 0},
        {&o->dq, N * d, 0}, {&o->dk, N * d, 0}, {&o->dv, N * d, 0},
        {&o->fa, N * F, 2}, {&o->fb, N * F, 2}, {&o->fh, N * F, 1}, {&o->fda, N * F, 0},
        {&o->fdb, N * F, 0}, {&o->logits, N * V, 4}, {&o->dlogits, N * V, 0}, {&o->losses, N, 0},
        {&o->block, N * d, 1}, {&o->block_out, N * d, 0}, {&o->dgate, N * F, 0},
        {&o->du1, N * F, 0}, {&o->du3, N * F, 0}, {&o->dblock, N * d, 0}, {&o->df, N * d, 0},
    };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        DUO_TRY(duo_bench_random_buffer(rt, bufs[i].floats, bufs[i].scale, seed + 100 + i,
                                        bufs[i].mem));
    for (int r = DUO_ROUTE_SMALL; r <= DUO_ROUTE_BIG; r++) {
        size_t Fr = o->m->layer[0].ffn[r].width;
        DUO_TRY(duo_bench_random_buffer(rt, N * Fr, 1, seed + 200 + (uint64_t)r, &o->u1[r]));
        DUO_TRY(duo_bench_random_buffer(rt, N * Fr, 1, seed + 210 + (uint64_t)r, &o->u3[r]));
        DUO_TRY(duo_bench_random_buffer(rt, N * Fr, 1, seed + 220 + (uint64_t)r, &o->gate[r]));
    }
    /* Tokens, targets and the embedding's grouping of positions by token. */
    o->host_tokens = malloc(N * sizeof(int));
    o->host_offsets = malloc((V + 1) * sizeof(int));
    o->host_positions = malloc(N * sizeof(int));
    int32_t *targets = malloc(N * sizeof(int32_t));
    duo_status st = o->host_tokens && o->host_offsets && o->host_positions && targets
                        ? DUO_OK : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for tokens");
    if (st == DUO_OK) {
        duo_bench_random_tokens(o->host_tokens, N, (int)V, seed + 300);
        duo_bench_random_tokens(targets, N, (int)V, seed + 301);
        st = duo_embedding_csr_build(o->host_tokens, N, (int)V, o->host_offsets, o->host_positions);
    }
    cl_mem *ints[] = {&o->tokens, &o->targets, &o->csr_positions, &o->csr_offsets, &o->index, &o->slot};
    const void *src[] = {o->host_tokens, targets, o->host_positions, o->host_offsets, NULL, NULL};
    for (int i = 0; i < 6 && st == DUO_OK; i++) {
        size_t n = i == 3 ? V + 1 : N;
        st = duo_buffer_create(rt, n * sizeof(int), ints[i]);
        if (st == DUO_OK && src[i])
            st = duo_buffer_write(rt, *ints[i], 0, n * sizeof(int), src[i]);
    }
    free(targets);
    DUO_TRY(st);
    DUO_TRY(duo_buffer_create(rt, duo_cross_entropy_mean_scratch_bytes(rt, N), &o->mean_scratch));
    DUO_TRY(duo_buffer_create(rt, sizeof(duo_cross_entropy_mean_result), &o->mean_result));
    duo_grad_span span = {o->m->grads, 0, o->m->n_params};
    DUO_TRY(duo_buffer_create(rt, duo_grad_norm_scratch_bytes(rt, &span, 1), &o->grad_scratch));
    DUO_TRY(duo_bench_random_fill(rt, o->m->grads, o->m->n_params, 1e-3f, seed + 400));
    DUO_TRY(duo_buffer_create(rt, (size_t)o->L * N, &o->routes));
    DUO_TRY(duo_buffer_create(rt, duo_compact_meta_ints(rt, N) * sizeof(int), &o->meta));
    /* 50% routing: the FFN block's counts come from layer 0's routes. */
    DUO_TRY(duo_route_generate(rt, o->routes, &o->half, 1, 0, 0, o->L, N));
    return duo_compact_index(rt, o->routes, 0, N, o->meta, o->index, o->slot, &o->counts);
}

static void ops_release(ops *o)
{
    cl_mem *all[] = {&o->x, &o->y, &o->dy, &o->dx, &o->w, &o->dw, &o->rstd, &o->norm_scratch,
                     &o->tokens, &o->csr_offsets, &o->csr_positions, &o->dtable, &o->q, &o->k,
                     &o->v, &o->att_saved, &o->att_scratch, &o->dq, &o->dk, &o->dv, &o->fa,
                     &o->fb, &o->fh, &o->fda, &o->fdb, &o->logits, &o->dlogits, &o->targets,
                     &o->losses, &o->mean_scratch, &o->mean_result, &o->grad_scratch, &o->routes,
                     &o->meta, &o->index, &o->slot, &o->block, &o->block_out, &o->dgate, &o->du1,
                     &o->du3, &o->dblock, &o->df};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        duo_buffer_release(all[i]);
    for (int r = 0; r < DUO_ROUTE_COUNT; r++) {
        duo_buffer_release(&o->u1[r]);
        duo_buffer_release(&o->u3[r]);
        duo_buffer_release(&o->gate[r]);
    }
    free(o->host_tokens);
    free(o->host_offsets);
    free(o->host_positions);
    duo_model_destroy(o->m);
}

static void describe_ops(ops *o, duo_bench_case *cases)
{
    size_t N = o->N, d = o->d, F = o->F, V = o->V;
    size_t half = (size_t)o->counts.count[DUO_ROUTE_BIG];
    static const char *const names[OP_COUNT] = {
        "embedding_forward", "embedding_backward", "embedding_csr_build (host)",
        "rmsnorm_forward", "rmsnorm_backward", "rope_forward", "rope_backward",
        "attention_forward", "attention_backward", "swiglu_forward", "swiglu_backward",
        "residual_add", "scaled_add", "cross_entropy_forward", "cross_entropy_mean",
        "cross_entropy_backward", "adamw_step", "grad_norm", "route_generate", "compact_index",
        "compact_gather", "compact_scatter_add", "compact_scatter"};
    for (int i = 0; i < OP_COUNT; i++) {
        duo_bench_case_set(&cases[i], "op", names[i], 0, "", op_run, o, i);
        char *s = cases[i].shape;
        size_t cap = sizeof cases[i].shape;
        switch (i) {
        case OP_EMBED_F: case OP_EMBED_B: snprintf(s, cap, "N=%zu d=%zu V=%zu", N, d, V); break;
        case OP_EMBED_CSR: snprintf(s, cap, "N=%zu V=%zu", N, V); break;
        case OP_ATT_F: case OP_ATT_B:
            snprintf(s, cap, "B=%zu T=%zu H=%zu hd=%zu", o->B, o->T, o->H, o->hd); break;
        case OP_SWIGLU_F: case OP_SWIGLU_B: snprintf(s, cap, "N=%zu F=%zu", N, F); break;
        case OP_RESIDUAL: case OP_SCALED_ADD: snprintf(s, cap, "%zu floats", N * d); break;
        case OP_CE_F: case OP_CE_B: snprintf(s, cap, "N=%zu V=%zu", N, V); break;
        case OP_CE_MEAN: snprintf(s, cap, "N=%zu", N); break;
        case OP_ADAMW: case OP_GRAD_NORM:
            snprintf(s, cap, "%zu parameters", o->m->n_params); break;
        case OP_ROUTES: snprintf(s, cap, "L=%d N=%zu", o->L, N); break;
        case OP_COMPACT_INDEX: snprintf(s, cap, "N=%zu, counts read back", N); break;
        case OP_GATHER: case OP_SCATTER_ADD: case OP_SCATTER:
            snprintf(s, cap, "%zu of %zu rows, d=%zu (50%%)", half, N, d); break;
        default: snprintf(s, cap, "N=%zu d=%zu", N, d); break;
        }
    }
}

duo_status duo_bench_op_suite(duo_runtime *rt, const duo_bench_suite_options *so,
                              duo_bench_report *r)
{
    const duo_config *cfg = so->config;
    ops o;
    memset(&o, 0, sizeof o);
    o.rt = rt;
    o.B = (size_t)cfg->train.batch;
    o.T = (size_t)cfg->model.ctx;
    o.N = o.B * o.T;
    o.d = (size_t)cfg->model.d_model;
    o.H = (size_t)cfg->model.n_heads;
    o.hd = o.d / o.H;
    o.F = (size_t)cfg->model.ffn_big;
    o.V = (size_t)cfg->model.vocab;
    o.L = cfg->model.n_layers;
    o.eps = (float)cfg->model.norm_eps;
    duo_status st = duo_route_thresholds_make(0.5, 0.5, 0.0, &o.half);
    if (st == DUO_OK)
        st = duo_model_create(rt, &cfg->model, &o.m);
    if (st == DUO_OK)
        st = duo_model_init(o.m, so->seed);
    if (st == DUO_OK)
        st = ops_allocate(&o, so->seed);
    duo_bench_case cases[OP_COUNT + FFN_COUNT];
    if (st == DUO_OK) {
        describe_ops(&o, cases);
        static const char *const ffn_names[FFN_COUNT] = {
            "forward block", "forward GEMMs only", "forward outside GEMMs",
            "forward compaction only", "backward block", "backward GEMMs only",
            "backward outside GEMMs", "backward compaction only"};
        for (int i = 0; i < FFN_COUNT; i++) {
            duo_bench_case *c = &cases[OP_COUNT + i];
            duo_bench_case_set(c, "ffn", ffn_names[i], 0, "", ffn_run, &o, i);
            snprintf(c->shape, sizeof c->shape, "N=%zu d=%zu F=%zu/%zu, %d big %d small",
                     o.N, o.d, o.F, o.m->layer[0].ffn[DUO_ROUTE_SMALL].width,
                     o.counts.count[DUO_ROUTE_BIG], o.counts.count[DUO_ROUTE_SMALL]);
        }
        st = duo_bench_run_and_add(rt, cases, OP_COUNT + FFN_COUNT, &so->run, r);
    }
    if (st == DUO_OK) {
        const duo_bench_case *f = &cases[OP_COUNT];
        /* The non-GEMM work timed on its own: the difference of two large,
         * noisy medians (block - GEMMs) cannot resolve a share of 1%. */
        r->ffn_forward_outside_gemm = f[FFN_FORWARD_OUTSIDE].seconds.median /
                                      f[FFN_FORWARD_BLOCK].seconds.median;
        r->ffn_backward_outside_gemm = f[FFN_BACKWARD_OUTSIDE].seconds.median /
                                       f[FFN_BACKWARD_BLOCK].seconds.median;
        r->ffn_forward_compaction = f[FFN_FORWARD_COMPACTION].seconds.median /
                                    f[FFN_FORWARD_BLOCK].seconds.median;
        r->ffn_backward_compaction = f[FFN_BACKWARD_COMPACTION].seconds.median /
                                     f[FFN_BACKWARD_BLOCK].seconds.median;
    }
    ops_release(&o);
    return st;
}
