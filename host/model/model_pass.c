/* Forward and backward passes of the Duo model over one batch. Each block
 * (attention, FFN, head) has its forward and backward side by side; shapes
 * are in model.h. Routed FFNs run on compacted blocks of exactly their
 * tokens: a token routed SMALL never touches the big weights. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "device/gemm.h"
#include "model.h"
#include "ops/embedding.h"
#include "ops/ffn.h"
#include "ops/norm.h"
#include "ops/residual.h"
#include "ops/router.h"
#include "ops/routes.h"

struct duo_activations {
    size_t B, T, N;
    bool training;
    duo_attention_shape att;
    cl_mem tokens, targets, routes;      /* (N) int, (N) int, (L, N) uint8 */
    cl_mem x[DUO_MAX_LAYERS + 1];        /* residual stream entering layer l, (N, d) */
    cl_mem a[DUO_MAX_LAYERS];            /* attention-norm output, (N, d) */
    cl_mem rstd_att[DUO_MAX_LAYERS];     /* (N) */
    cl_mem y[DUO_MAX_LAYERS];            /* attention output before Wo, (N, d) */
    cl_mem h[DUO_MAX_LAYERS];            /* x + attention, (N, d) */
    cl_mem f[DUO_MAX_LAYERS];            /* FFN-norm output, (N, d) */
    cl_mem rstd_ffn[DUO_MAX_LAYERS];     /* (N) */
    cl_mem att_saved[DUO_MAX_LAYERS];    /* what attention backward needs (one when not training) */
    cl_mem att_scratch;
    cl_mem q, k, v;                      /* (N, d) */
    cl_mem meta[DUO_MAX_LAYERS], index[DUO_MAX_LAYERS], slot[DUO_MAX_LAYERS];
    /* The counts of layer l's routes, known on the host when counts_known[l]
     * (routes set from the host or drawn by the counter generator, which the
     * host recomputes): then the forward sizes the GEMMs without reading the
     * device's counts back. A HARD router's routes are read back. */
    duo_compact_counts counts[DUO_MAX_LAYERS];
    bool counts_known[DUO_MAX_LAYERS];
    /* Per route r and layer: the FFN's gate inputs and product, (count_r, F_r)
     * in an (N, F_r) buffer; one per route when not training. */
    cl_mem u1[DUO_ROUTE_COUNT][DUO_MAX_LAYERS], u3[DUO_ROUTE_COUNT][DUO_MAX_LAYERS];
    cl_mem gate[DUO_ROUTE_COUNT][DUO_MAX_LAYERS];
    cl_mem block, block_out;             /* gathered rows, (N, d) */
    cl_mem xo, rstd_out;                 /* final norm output (N, d), (N) */
    cl_mem logits;                       /* (N, V); dlogits in place after backward */
    cl_mem losses;                       /* (N) nats */
    cl_mem mean_scratch, mean_result;
    int valid_tokens;                    /* unmasked targets of the last forward */
    /* Backward only. */
    cl_mem dx, dh, df, dtmp, dq, dk, dv, dy, dblock; /* (N, d) */
    cl_mem dgate, du1, du3;              /* (N, F_big) */
    cl_mem norm_scratch;
    cl_mem csr_offsets, csr_positions;   /* tokens grouped by id, for the embedding */
    int *host_csr_offsets, *host_csr_positions;
    /* Router (duo_activations_set_router). */
    duo_router_binding router;
    duo_router_columns router_cols;
    bool frozen;                         /* backbone weights get no gradient */
    cl_mem router_z[DUO_MAX_LAYERS];     /* (N, M) logits */
    cl_mem router_p;                     /* (L, N, M) probabilities, SOFT */
    cl_mem y_mix[DUO_ROUTE_COUNT][DUO_MAX_LAYERS]; /* (N, d) module outputs, SOFT */
    cl_mem router_dp, router_dz;         /* (N, M) */
};

static duo_matrix plain(cl_mem buffer, size_t ld) { return (duo_matrix){buffer, 0, ld, false}; }
static duo_matrix transposed(cl_mem buffer, size_t ld) { return (duo_matrix){buffer, 0, ld, true}; }

/* out (n, o) = x (n, i) W (i, o). */
static duo_status linear_forward(duo_runtime *rt, cl_mem out, cl_mem x, cl_mem w, size_t n,
                                 size_t i, size_t o)
{
    return duo_gemm(rt, n, o, i, 1.0f, plain(x, i), plain(w, o), 0.0f, plain(out, o));
}

/* dx (n, i) = dout (n, o) W^T + beta dx. */
static duo_status linear_backward_input(duo_runtime *rt, cl_mem dx, cl_mem dout, cl_mem w,
                                        size_t n, size_t i, size_t o, float beta)
{
    return duo_gemm(rt, n, i, o, 1.0f, plain(dout, o), transposed(w, o), beta, plain(dx, i));
}

/* dW (i, o) = x^T dout, overwritten (zero when n is 0). */
static duo_status linear_backward_weight(duo_runtime *rt, cl_mem dw, cl_mem x, cl_mem dout,
                                         size_t n, size_t i, size_t o)
{
    return duo_gemm(rt, i, o, n, 1.0f, transposed(x, i), plain(dout, o), 0.0f, plain(dw, o));
}

/* ---- allocation ---- */

static duo_status alloc_floats(duo_runtime *rt, size_t floats, cl_mem *out)
{
    return duo_buffer_create(rt, floats * sizeof(float), out);
}

static duo_status allocate(duo_model *m, duo_activations *a)
{
    duo_runtime *rt = m->rt;
    const duo_model_config *c = &m->config;
    size_t N = a->N, d = (size_t)c->d_model, L = (size_t)c->n_layers, V = (size_t)c->vocab;
    size_t ffn_layers = a->training ? L : 1;
    DUO_TRY(duo_buffer_create(rt, N * sizeof(int32_t), &a->tokens));
    DUO_TRY(duo_buffer_create(rt, N * sizeof(int32_t), &a->targets));
    DUO_TRY(duo_buffer_create(rt, L * N, &a->routes));
    for (size_t l = 0; l <= L; l++)
        DUO_TRY(alloc_floats(rt, N * d, &a->x[l]));
    size_t meta_ints = duo_compact_meta_ints(rt, N);
    for (size_t l = 0; l < L; l++) {
        DUO_TRY(alloc_floats(rt, N * d, &a->a[l]));
        DUO_TRY(alloc_floats(rt, N, &a->rstd_att[l]));
        DUO_TRY(alloc_floats(rt, N * d, &a->y[l]));
        DUO_TRY(alloc_floats(rt, N * d, &a->h[l]));
        DUO_TRY(alloc_floats(rt, N * d, &a->f[l]));
        DUO_TRY(alloc_floats(rt, N, &a->rstd_ffn[l]));
        DUO_TRY(duo_buffer_create(rt, meta_ints * sizeof(int), &a->meta[l]));
        DUO_TRY(duo_buffer_create(rt, N * sizeof(int), &a->index[l]));
        DUO_TRY(duo_buffer_create(rt, N * sizeof(int), &a->slot[l]));
        if (a->training || l == 0)
            DUO_TRY(alloc_floats(rt, duo_model_attention_saved_floats(m, a->att),
                                 &a->att_saved[l]));
    }
    DUO_TRY(alloc_floats(rt, duo_model_attention_scratch_floats(m, a->att), &a->att_scratch));
    for (int r = DUO_ROUTE_SMALL; r <= DUO_ROUTE_BIG; r++) {
        size_t F = m->layer[0].ffn[r].width;
        for (size_t l = 0; l < ffn_layers; l++) {
            DUO_TRY(alloc_floats(rt, N * F, &a->u1[r][l]));
            DUO_TRY(alloc_floats(rt, N * F, &a->u3[r][l]));
            DUO_TRY(alloc_floats(rt, N * F, &a->gate[r][l]));
        }
    }
    cl_mem *nd[] = {&a->q, &a->k, &a->v, &a->block, &a->block_out, &a->xo};
    for (size_t i = 0; i < sizeof nd / sizeof nd[0]; i++)
        DUO_TRY(alloc_floats(rt, N * d, nd[i]));
    DUO_TRY(alloc_floats(rt, N, &a->rstd_out));
    DUO_TRY(alloc_floats(rt, N * V, &a->logits));
    DUO_TRY(alloc_floats(rt, N, &a->losses));
    DUO_TRY(duo_buffer_create(rt, duo_cross_entropy_mean_scratch_bytes(rt, N), &a->mean_scratch));
    DUO_TRY(duo_buffer_create(rt, sizeof(duo_cross_entropy_mean_result), &a->mean_result));
    if (!a->training)
        return DUO_OK;

    cl_mem *grads[] = {&a->dx, &a->dh, &a->df, &a->dtmp, &a->dq, &a->dk, &a->dv, &a->dy, &a->dblock};
    for (size_t i = 0; i < sizeof grads / sizeof grads[0]; i++)
        DUO_TRY(alloc_floats(rt, N * d, grads[i]));
    size_t F = (size_t)c->ffn_big > (size_t)c->ffn_small ? (size_t)c->ffn_big : (size_t)c->ffn_small;
    DUO_TRY(alloc_floats(rt, N * F, &a->dgate));
    DUO_TRY(alloc_floats(rt, N * F, &a->du1));
    DUO_TRY(alloc_floats(rt, N * F, &a->du3));
    DUO_TRY(alloc_floats(rt, duo_rmsnorm_backward_scratch_floats(N, d), &a->norm_scratch));
    DUO_TRY(duo_buffer_create(rt, (V + 1) * sizeof(int), &a->csr_offsets));
    DUO_TRY(duo_buffer_create(rt, N * sizeof(int), &a->csr_positions));
    a->host_csr_offsets = malloc((V + 1) * sizeof(int));
    a->host_csr_positions = malloc(N * sizeof(int));
    if (!a->host_csr_offsets || !a->host_csr_positions)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the embedding's index");
    return DUO_OK;
}

duo_status duo_activations_create(duo_model *m, size_t batch, size_t ctx, bool training,
                                  duo_activations **out)
{
    *out = NULL;
    if (batch == 0 || ctx == 0 || ctx > (size_t)m->config.ctx)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "a batch of %zu sequences of %zu tokens: need at least 1 of 1 to %d tokens",
                        batch, ctx, m->config.ctx);
    DUO_TRY(duo_model_check_device_memory(m->rt, &m->config, batch, ctx, training));
    duo_activations *a = calloc(1, sizeof *a);
    if (!a)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for activations");
    a->B = batch;
    a->T = ctx;
    a->N = batch * ctx;
    a->training = training;
    a->att = (duo_attention_shape){.B = batch, .T = ctx, .H = (size_t)m->config.n_heads,
                                   .hd = m->head_dim};
    duo_status st = allocate(m, a);
    if (st != DUO_OK) {
        duo_activations_destroy(a);
        return duo_fail_context(st, "allocating activations for %zu x %zu tokens", batch, ctx);
    }
    *out = a;
    return DUO_OK;
}

void duo_activations_destroy(duo_activations *a)
{
    if (!a)
        return;
    /* Every cl_mem field sits between `tokens` and `csr_positions` or in an
     * array; release them all by walking the struct's handle fields. */
    cl_mem *singles[] = {&a->tokens, &a->targets, &a->routes, &a->att_scratch, &a->q, &a->k,
                         &a->v, &a->block, &a->block_out, &a->xo, &a->rstd_out, &a->logits,
                         &a->losses, &a->mean_scratch, &a->mean_result, &a->dx, &a->dh, &a->df,
                         &a->dtmp, &a->dq, &a->dk, &a->dv, &a->dy, &a->dblock, &a->dgate,
                         &a->du1, &a->du3, &a->norm_scratch, &a->csr_offsets, &a->csr_positions};
    for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++)
        duo_buffer_release(singles[i]);
    for (int l = 0; l <= DUO_MAX_LAYERS; l++)
        duo_buffer_release(&a->x[l]);
    for (int l = 0; l < DUO_MAX_LAYERS; l++) {
        cl_mem *per_layer[] = {&a->a[l], &a->rstd_att[l], &a->y[l], &a->h[l], &a->f[l],
                               &a->rstd_ffn[l], &a->att_saved[l], &a->meta[l], &a->index[l],
                               &a->slot[l]};
        for (size_t i = 0; i < sizeof per_layer / sizeof per_layer[0]; i++)
            duo_buffer_release(per_layer[i]);
        for (int r = 0; r < DUO_ROUTE_COUNT; r++) {
            duo_buffer_release(&a->u1[r][l]);
            duo_buffer_release(&a->u3[r][l]);
            duo_buffer_release(&a->gate[r][l]);
        }
    }
    duo_buffer_release(&a->router_p);
    duo_buffer_release(&a->router_dp);
    duo_buffer_release(&a->router_dz);
    for (int l = 0; l < DUO_MAX_LAYERS; l++) {
        duo_buffer_release(&a->router_z[l]);
        for (int r = 0; r < DUO_ROUTE_COUNT; r++)
            duo_buffer_release(&a->y_mix[r][l]);
    }
    free(a->host_csr_offsets);
    free(a->host_csr_positions);
    free(a);
}

duo_status duo_activations_set_router(duo_model *m, duo_activations *a,
                                      const duo_router_binding *router)
{
    duo_runtime *rt = m->rt;
    int L = m->config.n_layers;
    size_t N = a->N, d = (size_t)m->config.d_model;
    if (!router || router->mode == DUO_ROUTER_OFF) {
        a->router.mode = DUO_ROUTER_OFF;
        a->frozen = false;
        return DUO_OK;
    }
    if (router->M < 2 || router->M > 3)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "a router chooses among 2 or 3 modules, not %d",
                        router->M);
    if (router->mode == DUO_ROUTER_SOFT && !a->training)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "soft routing (router training) needs activations created for training");
    a->router = *router;
    a->frozen = router->mode == DUO_ROUTER_SOFT;
    a->router_cols = (duo_router_columns){.M = router->M, .col = {-1, -1, -1}};
    for (int c = 0; c < router->M; c++)
        a->router_cols.col[router->modules[c]] = c;
    for (int l = 0; l < L; l++)
        if (!a->router_z[l])
            DUO_TRY(alloc_floats(rt, N * 3, &a->router_z[l]));
    if (router->mode != DUO_ROUTER_SOFT)
        return DUO_OK;
    if (!a->router_p) {
        DUO_TRY(alloc_floats(rt, (size_t)L * N * 3, &a->router_p));
        DUO_TRY(alloc_floats(rt, N * 3, &a->router_dp));
        DUO_TRY(alloc_floats(rt, N * 3, &a->router_dz));
    }
    for (int l = 0; l < L; l++)
        for (int r = DUO_ROUTE_SMALL; r <= DUO_ROUTE_BIG; r++)
            if (a->router_cols.col[r] >= 0 && !a->y_mix[r][l])
                DUO_TRY(alloc_floats(rt, N * d, &a->y_mix[r][l]));
    return DUO_OK;
}

duo_status duo_activations_read_routes(const duo_model *m, const duo_activations *a, uint8_t *out)
{
    return duo_buffer_read(m->rt, a->routes, 0, (size_t)m->config.n_layers * a->N, out);
}

duo_status duo_activations_read_router_probs(const duo_model *m, const duo_activations *a,
                                             float *out)
{
    if (a->router.mode != DUO_ROUTER_SOFT)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "router probabilities exist in soft mode only");
    size_t floats = (size_t)m->config.n_layers * a->N * (size_t)a->router.M;
    return duo_buffer_read(m->rt, a->router_p, 0, floats * sizeof(float), out);
}

const duo_compact_counts *duo_activations_counts(const duo_activations *a, int layer)
{
    return &a->counts[layer];
}

cl_mem duo_activations_logits(const duo_activations *a) { return a->logits; }

duo_status duo_activations_read_layer(const duo_model *m, const duo_activations *a, int layer,
                                      duo_layer_tensor which, float *out)
{
    if (layer < 0 || layer >= m->config.n_layers)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "layer %d: the model has %d layers", layer,
                        m->config.n_layers);
    cl_mem b = which == DUO_LAYER_FFN_INPUT ? a->f[layer] : a->x[layer];
    return duo_buffer_read(m->rt, b, 0, a->N * (size_t)m->config.d_model * sizeof(float), out);
}

/* ---- batch ---- */

static duo_status upload_tokens(duo_model *m, duo_activations *a, const int32_t *tokens,
                                const int32_t *targets)
{
    size_t N = a->N;
    int V = m->config.vocab;
    for (size_t i = 0; i < N; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                            "token %d at position %zu is outside the vocabulary [0, %d)",
                            (int)tokens[i], i, V);
    for (size_t i = 0; i < N; i++)
        if (targets[i] >= V)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                            "target %d at position %zu is outside the vocabulary [0, %d)",
                            (int)targets[i], i, V);
    DUO_TRY(duo_buffer_write(m->rt, a->tokens, 0, N * sizeof(int32_t), tokens));
    DUO_TRY(duo_buffer_write(m->rt, a->targets, 0, N * sizeof(int32_t), targets));
    if (!a->training)
        return DUO_OK;
    DUO_TRY(duo_embedding_csr_build(tokens, N, V, a->host_csr_offsets, a->host_csr_positions));
    DUO_TRY(duo_buffer_write(m->rt, a->csr_offsets, 0, ((size_t)V + 1) * sizeof(int),
                             a->host_csr_offsets));
    return duo_buffer_write(m->rt, a->csr_positions, 0, N * sizeof(int), a->host_csr_positions);
}

/* Layer l's counts from the host's knowledge of its routes. */
static void set_counts(duo_activations *a, int l, const int count[DUO_ROUTE_COUNT])
{
    duo_compact_counts_set(count, &a->counts[l]);
    a->counts_known[l] = true;
}

duo_status duo_model_set_batch(duo_model *m, duo_activations *a, const int32_t *tokens,
                               const int32_t *targets, const uint8_t *routes)
{
    size_t n = (size_t)m->config.n_layers * a->N;
    for (size_t i = 0; i < n; i++)
        if (routes[i] >= DUO_ROUTE_COUNT)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT, "route %d at layer %zu, token %zu is not "
                            "0 (skip), 1 (small) or 2 (big)", routes[i], i / a->N, i % a->N);
    DUO_TRY(upload_tokens(m, a, tokens, targets));
    DUO_TRY(duo_buffer_write(m->rt, a->routes, 0, n, routes));
    for (int l = 0; l < m->config.n_layers; l++) {
        int count[DUO_ROUTE_COUNT] = {0};
        for (size_t t = 0; t < a->N; t++)
            count[routes[(size_t)l * a->N + t]]++;
        set_counts(a, l, count);
    }
    return DUO_OK;
}

duo_status duo_model_set_batch_random_routes(duo_model *m, duo_activations *a,
                                             const int32_t *tokens, const int32_t *targets,
                                             const duo_route_thresholds *thresholds,
                                             uint64_t seed, uint64_t step)
{
    DUO_TRY(upload_tokens(m, a, tokens, targets));
    DUO_TRY(duo_route_generate(m->rt, a->routes, thresholds, seed, step, 0, m->config.n_layers,
                               a->N));
    /* The same draws on the host (while the device makes its own): the same
     * routes, so the same counts as the device's compaction. */
    for (int l = 0; l < m->config.n_layers; l++) {
        int count[DUO_ROUTE_COUNT] = {0};
        for (size_t t = 0; t < a->N; t++)
            count[duo_route_pick(thresholds, seed, step, (uint32_t)l, (uint32_t)t)]++;
        set_counts(a, l, count);
    }
    return DUO_OK;
}

/* ---- attention block: h = x + Attention(RoPE(q), RoPE(k), v) Wo, q,k,v from RMSNorm(x) ---- */

static duo_status attention_block_forward(duo_model *m, duo_activations *a, int l)
{
    duo_runtime *rt = m->rt;
    const duo_layer_weights *w = &m->layer[l];
    size_t N = a->N, d = (size_t)m->config.d_model;
    DUO_TRY(duo_rmsnorm_forward(rt, a->a[l], a->rstd_att[l], a->x[l], w->norm_att->param, N, d,
                                (float)m->config.norm_eps));
    DUO_TRY(linear_forward(rt, a->q, a->a[l], w->wq->param, N, d, d));
    DUO_TRY(linear_forward(rt, a->k, a->a[l], w->wk->param, N, d, d));
    DUO_TRY(linear_forward(rt, a->v, a->a[l], w->wv->param, N, d, d));
    DUO_TRY(duo_rope_forward(rt, a->q, a->q, &m->rope, a->B, a->T, a->att.H));
    DUO_TRY(duo_rope_forward(rt, a->k, a->k, &m->rope, a->B, a->T, a->att.H));
    cl_mem saved = a->att_saved[a->training ? l : 0];
    DUO_TRY(duo_model_attention_forward(m, a->att, a->y[l], saved, a->att_scratch, a->q, a->k,
                                         a->v));
    DUO_TRY(linear_forward(rt, a->h[l], a->y[l], w->wo->param, N, d, d));
    return duo_residual_add(rt, a->h[l], a->h[l], a->x[l], N * d);
}

/* In: dh = dL/dh. Out: dx = dL/dx (the residual path plus the attention path). */
static duo_status attention_block_backward(duo_model *m, duo_activations *a, int l)
{
    duo_runtime *rt = m->rt;
    const duo_layer_weights *w = &m->layer[l];
    size_t N = a->N, d = (size_t)m->config.d_model;
    if (!a->frozen)
        DUO_TRY(linear_backward_weight(rt, w->wo->grad, a->y[l], a->dh, N, d, d));
    DUO_TRY(linear_backward_input(rt, a->dy, a->dh, w->wo->param, N, d, d, 0.0f));
    DUO_TRY(duo_model_attention_backward(m, a->att, a->dq, a->dk, a->dv, a->att_scratch, a->dy,
                                         a->att_saved[l]));
    DUO_TRY(duo_rope_backward(rt, a->dq, a->dq, &m->rope, a->B, a->T, a->att.H));
    DUO_TRY(duo_rope_backward(rt, a->dk, a->dk, &m->rope, a->B, a->T, a->att.H));
    if (!a->frozen) {
        DUO_TRY(linear_backward_weight(rt, w->wq->grad, a->a[l], a->dq, N, d, d));
        DUO_TRY(linear_backward_weight(rt, w->wk->grad, a->a[l], a->dk, N, d, d));
        DUO_TRY(linear_backward_weight(rt, w->wv->grad, a->a[l], a->dv, N, d, d));
    }
    DUO_TRY(linear_backward_input(rt, a->dtmp, a->dq, w->wq->param, N, d, d, 0.0f));
    DUO_TRY(linear_backward_input(rt, a->dtmp, a->dk, w->wk->param, N, d, d, 1.0f));
    DUO_TRY(linear_backward_input(rt, a->dtmp, a->dv, w->wv->param, N, d, d, 1.0f));
    DUO_TRY(duo_rmsnorm_backward(rt, a->df, w->norm_att->grad, a->dtmp, a->x[l],
                                 w->norm_att->param, a->rstd_att[l], a->norm_scratch, N, d));
    return duo_residual_add(rt, a->dx, a->dh, a->df, N * d);
}

/* ---- one FFN module on a block of n rows: out = (silu(in W1) * (in W3)) W2 ---- */

static duo_status ffn_module_forward(duo_model *m, duo_activations *a, int l, int r, size_t n,
                                     cl_mem in, cl_mem out)
{
    duo_runtime *rt = m->rt;
    const duo_ffn_weights *ffn = &m->layer[l].ffn[r];
    size_t d = (size_t)m->config.d_model, F = ffn->width;
    int slot = a->training ? l : 0;
    DUO_TRY(linear_forward(rt, a->u1[r][slot], in, ffn->w1->param, n, d, F));
    DUO_TRY(linear_forward(rt, a->u3[r][slot], in, ffn->w3->param, n, d, F));
    DUO_TRY(duo_swiglu_forward(rt, a->gate[r][slot], a->u1[r][slot], a->u3[r][slot], n, F));
    return linear_forward(rt, out, a->gate[r][slot], ffn->w2->param, n, F, d);
}

/* From dout (n, d) and the forward's input block `in`: din (n, d, overwritten)
 * and, unless the backbone is frozen, the module's weight gradients. With
 * n = 0 the weight-gradient GEMMs have k = 0 and write zeros. */
static duo_status ffn_module_backward(duo_model *m, duo_activations *a, int l, int r, size_t n,
                                      cl_mem dout, cl_mem in, cl_mem din)
{
    duo_runtime *rt = m->rt;
    const duo_ffn_weights *ffn = &m->layer[l].ffn[r];
    size_t d = (size_t)m->config.d_model, F = ffn->width;
    if (!a->frozen)
        DUO_TRY(linear_backward_weight(rt, ffn->w2->grad, a->gate[r][l], dout, n, F, d));
    DUO_TRY(linear_backward_input(rt, a->dgate, dout, ffn->w2->param, n, F, d, 0.0f));
    DUO_TRY(duo_swiglu_backward(rt, a->du1, a->du3, a->dgate, a->u1[r][l], a->u3[r][l], n, F));
    if (!a->frozen) {
        DUO_TRY(linear_backward_weight(rt, ffn->w1->grad, in, a->du1, n, d, F));
        DUO_TRY(linear_backward_weight(rt, ffn->w3->grad, in, a->du3, n, d, F));
    }
    DUO_TRY(linear_backward_input(rt, din, a->du1, ffn->w1->param, n, d, F, 0.0f));
    return linear_backward_input(rt, din, a->du3, ffn->w3->param, n, d, F, 1.0f);
}

/* ---- learned router: logits z = f Wr[l] ---- */

static duo_status router_logits(duo_model *m, duo_activations *a, int l)
{
    size_t d = (size_t)m->config.d_model, M = (size_t)a->router.M;
    duo_matrix w = {a->router.weights, (size_t)l * d * M, M, false};
    return duo_gemm(m->rt, a->N, M, d, 1.0f, plain(a->f[l], d), w, 0.0f, plain(a->router_z[l], M));
}

static cl_mem router_probs_matrix(duo_activations *a, int l, size_t *offset)
{
    *offset = (size_t)l * a->N * (size_t)a->router.M;
    return a->router_p;
}

/* SOFT: x' = h + sum_m P_m FFN_m(f), every module on every token. */
static duo_status soft_ffn_forward(duo_model *m, duo_activations *a, int l)
{
    duo_runtime *rt = m->rt;
    size_t N = a->N, d = (size_t)m->config.d_model;
    DUO_TRY(router_logits(m, a, l));
    /* Probabilities of layer l live in the (L, N, M) buffer: compute them in
     * the scratch dP buffer and copy, so every kernel sees offset 0. */
    size_t offset, bytes = N * (size_t)a->router.M * sizeof(float);
    cl_mem P = router_probs_matrix(a, l, &offset);
    DUO_TRY(duo_router_softmax_forward(rt, a->router_dp, a->router_z[l], a->router.beta, N,
                                       a->router.M));
    DUO_TRY(duo_buffer_copy(rt, a->router_dp, 0, P, offset * sizeof(float), bytes));
    for (int r = DUO_ROUTE_SMALL; r <= DUO_ROUTE_BIG; r++)
        if (a->router_cols.col[r] >= 0)
            DUO_TRY(ffn_module_forward(m, a, l, r, N, a->f[l], a->y_mix[r][l]));
    return duo_router_mixture_forward(rt, a->x[l + 1], a->h[l], a->y_mix[DUO_ROUTE_SMALL][l],
                                      a->y_mix[DUO_ROUTE_BIG][l], a->router_dp, a->router_cols, N, d);
}

/* ---- routed FFN block: x' = h + FFN_route(RMSNorm(h)), per token ---- */

static duo_status ffn_block_forward(duo_model *m, duo_activations *a, int l)
{
    duo_runtime *rt = m->rt;
    const duo_layer_weights *w = &m->layer[l];
    size_t N = a->N, d = (size_t)m->config.d_model;
    DUO_TRY(duo_rmsnorm_forward(rt, a->f[l], a->rstd_ffn[l], a->h[l], w->norm_ffn->param, N, d,
                                (float)m->config.norm_eps));
    if (a->router.mode == DUO_ROUTER_SOFT)
        return soft_ffn_forward(m, a, l);
    if (a->router.mode == DUO_ROUTER_HARD) {
        DUO_TRY(router_logits(m, a, l));
        DUO_TRY(duo_router_argmax(rt, a->routes, (size_t)l * N, a->router_z[l],
                                  a->router.modules_buffer, a->router.M, N));
    }
    /* A HARD router's routes are the device's: its counts are read back (a
     * blocking read). Otherwise the host already has them (set_counts). */
    if (a->router.mode == DUO_ROUTER_HARD)
        a->counts_known[l] = false;
    duo_compact_counts *c = &a->counts[l];
    DUO_TRY(duo_compact_index(rt, a->routes, (size_t)l * N, N, a->meta[l], a->index[l],
                              a->slot[l], a->counts_known[l] ? NULL : c));
    a->counts_known[l] = true;
    DUO_TRY(duo_compact_copy_rows(rt, a->x[l + 1], a->h[l], a->index[l], c->offset[DUO_ROUTE_SKIP],
                                  c->count[DUO_ROUTE_SKIP], d));
    for (int r = DUO_ROUTE_SMALL; r <= DUO_ROUTE_BIG; r++) {
        size_t n = (size_t)c->count[r];
        if (n == 0)
            continue;
        DUO_TRY(duo_compact_gather(rt, a->block, a->f[l], a->index[l], c->offset[r], (int)n, d));
        DUO_TRY(ffn_module_forward(m, a, l, r, n, a->block, a->block_out));
        DUO_TRY(duo_compact_scatter_add(rt, a->x[l + 1], a->h[l], a->block_out, a->index[l],
                                        c->offset[r], (int)n, d));
    }
    return DUO_OK;
}

/* SOFT backward. In: dx = dL/dx'. Out: df (FFN input gradient through the
 * modules and the router) and the router's weight gradient for layer l. */
static duo_status soft_ffn_backward(duo_model *m, duo_activations *a, int l)
{
    duo_runtime *rt = m->rt;
    size_t N = a->N, d = (size_t)m->config.d_model, M = (size_t)a->router.M;
    size_t offset;
    cl_mem P_all = router_probs_matrix(a, l, &offset);
    /* This layer's P back into the scratch buffer the kernels read at offset 0. */
    cl_mem P = a->block_out;
    DUO_TRY(duo_buffer_copy(rt, P_all, offset * sizeof(float), P, 0, N * M * sizeof(float)));
    DUO_TRY(duo_router_mixture_backward_probs(rt, a->router_dp, a->dx, a->y_mix[DUO_ROUTE_SMALL][l],
                                              a->y_mix[DUO_ROUTE_BIG][l], a->router.aux,
                                              a->router_cols, N, d, a->T));
    DUO_TRY(duo_router_softmax_backward(rt, a->router_dz, P, a->router_dp, a->router.beta, N,
                                        (int)M));
    duo_matrix dw = {a->router.grads, (size_t)l * d * M, M, false};
    DUO_TRY(duo_gemm(rt, d, M, N, 1.0f, transposed(a->f[l], d), plain(a->router_dz, M), 0.0f, dw));
    duo_matrix w = {a->router.weights, (size_t)l * d * M, M, true};
    DUO_TRY(duo_gemm(rt, N, d, M, 1.0f, plain(a->router_dz, M), w, 0.0f, plain(a->df, d)));
    for (int r = DUO_ROUTE_SMALL; r <= DUO_ROUTE_BIG; r++) {
        if (a->router_cols.col[r] < 0)
            continue;
        DUO_TRY(duo_router_scale_rows(rt, a->dblock, a->dx, P, a->router_cols, a->router_cols.col[r],
                                      N, d));
        DUO_TRY(ffn_module_backward(m, a, l, r, N, a->dblock, a->f[l], a->dtmp));
        DUO_TRY(duo_residual_add(rt, a->df, a->df, a->dtmp, N * d));
    }
    return DUO_OK;
}

/* In: dx = dL/dx'. Out: dh = dL/dh (residual plus the FFN path of routed tokens). */
static duo_status ffn_block_backward(duo_model *m, duo_activations *a, int l)
{
    duo_runtime *rt = m->rt;
    const duo_layer_weights *w = &m->layer[l];
    const duo_compact_counts *c = &a->counts[l];
    size_t N = a->N, d = (size_t)m->config.d_model;
    if (a->router.mode == DUO_ROUTER_SOFT) {
        DUO_TRY(soft_ffn_backward(m, a, l));
    } else {
        /* Rows of SKIP tokens stay zero: their FFN input gets no gradient. */
        DUO_TRY(duo_buffer_fill_zero(rt, a->df, N * d * sizeof(float)));
        for (int r = DUO_ROUTE_SMALL; r <= DUO_ROUTE_BIG; r++) {
            size_t n = (size_t)c->count[r];
            int off = c->offset[r];
            DUO_TRY(duo_compact_gather(rt, a->dblock, a->dx, a->index[l], off, (int)n, d));
            DUO_TRY(duo_compact_gather(rt, a->block, a->f[l], a->index[l], off, (int)n, d));
            DUO_TRY(ffn_module_backward(m, a, l, r, n, a->dblock, a->block, a->block_out));
            DUO_TRY(duo_compact_scatter(rt, a->df, a->block_out, a->index[l], off, (int)n, d));
        }
    }
    DUO_TRY(duo_rmsnorm_backward(rt, a->dtmp, w->norm_ffn->grad, a->df, a->h[l],
                                 w->norm_ffn->param, a->rstd_ffn[l], a->norm_scratch, N, d));
    return duo_residual_add(rt, a->dh, a->dx, a->dtmp, N * d);
}

/* ---- head: logits = RMSNorm(x_L) E^T, cross-entropy ---- */

static duo_status head_forward(duo_model *m, duo_activations *a, float *mean_loss)
{
    duo_runtime *rt = m->rt;
    size_t N = a->N, d = (size_t)m->config.d_model, V = (size_t)m->config.vocab;
    int L = m->config.n_layers;
    DUO_TRY(duo_rmsnorm_forward(rt, a->xo, a->rstd_out, a->x[L], m->norm_out->param, N, d,
                                (float)m->config.norm_eps));
    DUO_TRY(duo_gemm(rt, N, V, d, 1.0f, plain(a->xo, d), transposed(m->embed->param, d), 0.0f,
                     plain(a->logits, V)));
    DUO_TRY(duo_cross_entropy_forward(rt, a->logits, a->targets, a->losses, N, V));
    duo_cross_entropy_mean_result result;
    DUO_TRY(duo_cross_entropy_mean(rt, a->losses, a->targets, N, a->mean_scratch, a->mean_result,
                                   &result));
    a->valid_tokens = result.count;
    *mean_loss = result.mean;
    return DUO_OK;
}

/* Out: dx = dL/dx_L; embed->grad holds the head's share of the tied gradient. */
static duo_status head_backward(duo_model *m, duo_activations *a)
{
    duo_runtime *rt = m->rt;
    size_t N = a->N, d = (size_t)m->config.d_model, V = (size_t)m->config.vocab;
    int L = m->config.n_layers;
    float scale = a->valid_tokens > 0 ? 1.0f / (float)a->valid_tokens : 0.0f;
    DUO_TRY(duo_cross_entropy_backward(rt, a->logits, a->targets, a->logits, N, V, scale));
    DUO_TRY(duo_gemm(rt, N, d, V, 1.0f, plain(a->logits, V), plain(m->embed->param, d), 0.0f,
                     plain(a->dtmp, d)));
    if (!a->frozen)
        DUO_TRY(duo_gemm(rt, V, d, N, 1.0f, transposed(a->logits, V), plain(a->xo, d), 0.0f,
                         plain(m->embed->grad, d)));
    return duo_rmsnorm_backward(rt, a->dx, m->norm_out->grad, a->dtmp, a->x[L], m->norm_out->param,
                                a->rstd_out, a->norm_scratch, N, d);
}

/* ---- whole model ---- */

duo_status duo_model_forward_embed(duo_model *m, duo_activations *a)
{
    return duo_embedding_forward(m->rt, a->x[0], m->embed->param, a->tokens, a->N,
                                 (size_t)m->config.d_model, m->config.vocab);
}

duo_status duo_model_forward_layer(duo_model *m, duo_activations *a, int layer)
{
    DUO_TRY(attention_block_forward(m, a, layer));
    return ffn_block_forward(m, a, layer);
}

duo_status duo_model_forward_head(duo_model *m, duo_activations *a, float *mean_loss,
                                  float *per_token)
{
    DUO_TRY(head_forward(m, a, mean_loss));
    if (per_token)
        DUO_TRY(duo_buffer_read(m->rt, a->losses, 0, a->N * sizeof(float), per_token));
    return DUO_OK;
}

duo_status duo_model_forward(duo_model *m, duo_activations *a, float *mean_loss, float *per_token)
{
    DUO_TRY(duo_model_forward_embed(m, a));
    for (int l = 0; l < m->config.n_layers; l++)
        DUO_TRY(duo_model_forward_layer(m, a, l));
    return duo_model_forward_head(m, a, mean_loss, per_token);
}

duo_status duo_model_set_layer_route(duo_model *m, duo_activations *a, int layer, duo_route route)
{
    if ((unsigned)route >= DUO_ROUTE_COUNT || layer < 0 || layer >= m->config.n_layers)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "route %d at layer %d: need a route 0 (skip), "
                        "1 (small) or 2 (big) and a layer below %d", (int)route, layer,
                        m->config.n_layers);
    DUO_TRY(duo_buffer_fill_byte(m->rt, a->routes, (size_t)layer * a->N, a->N,
                                 (unsigned char)route));
    int count[DUO_ROUTE_COUNT] = {0};
    count[route] = (int)a->N;
    set_counts(a, layer, count);
    return DUO_OK;
}

size_t duo_activations_tokens(const duo_activations *a) { return a->N; }

size_t duo_activations_ctx(const duo_activations *a) { return a->T; }

duo_status duo_model_backward(duo_model *m, duo_activations *a)
{
    if (!a->training)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "backward needs activations created for training");
    duo_runtime *rt = m->rt;
    DUO_TRY(head_backward(m, a));
    for (int l = m->config.n_layers - 1; l >= 0; l--) {
        DUO_TRY(ffn_block_backward(m, a, l));       /* dx -> dh */
        DUO_TRY(attention_block_backward(m, a, l)); /* dh -> dx */
    }
    if (a->frozen)
        return DUO_OK;
    return duo_embedding_backward(rt, m->embed->grad, a->dx, a->csr_offsets, a->csr_positions,
                                  m->config.vocab, (size_t)m->config.d_model);
}
