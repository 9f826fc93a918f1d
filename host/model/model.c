/* The Duo model's parameters: one flat buffer, named views, initialisation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "base/rng.h"

static duo_weight *add_tensor(duo_model *m, size_t *cursor, size_t align, const char *name,
                              size_t rows, size_t cols, bool decay)
{
    duo_weight *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    *cursor = (*cursor + align - 1) / align * align;
    t->offset = *cursor;
    t->rows = rows;
    t->cols = cols;
    t->decay = decay;
    *cursor += rows * cols;
    return t;
}

/* Lays out every tensor: matrices (decayed) first, norm gains after. */
static void lay_out(duo_model *m, size_t align)
{
    const duo_model_config *c = &m->config;
    size_t d = (size_t)c->d_model, fs = (size_t)c->ffn_small, fb = (size_t)c->ffn_big;
    size_t cursor = 0;
    char name[48];
    m->n_tensors = 0;
    m->embed = add_tensor(m, &cursor, align, "embed", (size_t)c->vocab, d, true);
    for (int l = 0; l < c->n_layers; l++) {
        duo_layer_weights *w = &m->layer[l];
#define MATRIX(field, label, rows, cols)                  \
    snprintf(name, sizeof name, "layer.%d.%s", l, label); \
    w->field = add_tensor(m, &cursor, align, name, rows, cols, true)
        MATRIX(wq, "wq", d, d);
        MATRIX(wk, "wk", d, d);
        MATRIX(wv, "wv", d, d);
        MATRIX(wo, "wo", d, d);
        MATRIX(ffn[DUO_ROUTE_SMALL].w1, "w1_small", d, fs);
        MATRIX(ffn[DUO_ROUTE_SMALL].w3, "w3_small", d, fs);
        MATRIX(ffn[DUO_ROUTE_SMALL].w2, "w2_small", fs, d);
        MATRIX(ffn[DUO_ROUTE_BIG].w1, "w1_big", d, fb);
        MATRIX(ffn[DUO_ROUTE_BIG].w3, "w3_big", d, fb);
        MATRIX(ffn[DUO_ROUTE_BIG].w2, "w2_big", fb, d);
#undef MATRIX
        w->ffn[DUO_ROUTE_SMALL].width = fs;
        w->ffn[DUO_ROUTE_BIG].width = fb;
    }
    m->n_decay_params = cursor;
    for (int l = 0; l < c->n_layers; l++) {
        snprintf(name, sizeof name, "layer.%d.norm_att", l);
        m->layer[l].norm_att = add_tensor(m, &cursor, align, name, 1, d, false);
        snprintf(name, sizeof name, "layer.%d.norm_ffn", l);
        m->layer[l].norm_ffn = add_tensor(m, &cursor, align, name, 1, d, false);
    }
    m->norm_out = add_tensor(m, &cursor, align, "norm_out", 1, d, false);
    m->n_params = (cursor + align - 1) / align * align;
}

static duo_status sub_buffer(cl_mem parent, size_t offset_floats, size_t floats, cl_mem *out)
{
    cl_buffer_region region = {offset_floats * sizeof(float), floats * sizeof(float)};
    cl_int err;
    *out = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
    if (err != CL_SUCCESS)
        return duo_cl_fail(err, "clCreateSubBuffer", "creating a parameter view");
    return DUO_OK;
}

/* Sub-buffer origins must be multiples of CL_DEVICE_MEM_BASE_ADDR_ALIGN (bits). */
static size_t view_alignment_floats(duo_runtime *rt)
{
    cl_uint bits = 0;
    clGetDeviceInfo(rt->device_id, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof bits, &bits, NULL);
    size_t floats = bits / (8 * sizeof(float));
    return floats < 16 ? 16 : floats;
}

static duo_status allocate(duo_model *m)
{
    duo_runtime *rt = m->rt;
    size_t bytes = m->n_params * sizeof(float);
    DUO_TRY(duo_buffer_create(rt, bytes, &m->params));
    DUO_TRY(duo_buffer_create(rt, bytes, &m->grads));
    DUO_TRY(duo_buffer_create(rt, bytes, &m->adam_m));
    DUO_TRY(duo_buffer_create(rt, bytes, &m->adam_v));
    /* Zero everything once: the alignment gaps must stay 0 in all four. */
    DUO_TRY(duo_buffer_fill_zero(rt, m->params, bytes));
    DUO_TRY(duo_buffer_fill_zero(rt, m->grads, bytes));
    DUO_TRY(duo_buffer_fill_zero(rt, m->adam_m, bytes));
    DUO_TRY(duo_buffer_fill_zero(rt, m->adam_v, bytes));
    for (int i = 0; i < m->n_tensors; i++) {
        duo_weight *t = &m->tensors[i];
        DUO_TRY(sub_buffer(m->params, t->offset, t->rows * t->cols, &t->param));
        DUO_TRY(sub_buffer(m->grads, t->offset, t->rows * t->cols, &t->grad));
    }
    return duo_rope_table_create(rt, (size_t)m->config.ctx, m->head_dim, m->config.rope_theta,
                                 &m->rope);
}

/* ---- device memory: what a model and a batch need, before allocating ---- */

typedef struct memory_need {
    double total, largest; /* bytes: all buffers, the largest one */
    const char *largest_name;
} memory_need;

/* `count` buffers of `bytes` each. */
static void need_buffers(memory_need *n, double count, double bytes, const char *name)
{
    n->total += count * bytes;
    if (count > 0 && bytes > n->largest) {
        n->largest = bytes;
        n->largest_name = name;
    }
}

/* The model's four flat buffers, with an alignment gap after each tensor. */
static double parameter_floats(const duo_model_config *c, size_t align)
{
    double d = c->d_model, L = c->n_layers, fs = c->ffn_small, fb = c->ffn_big;
    double floats = (double)c->vocab * d + L * (4 * d * d + 3 * d * (fs + fb) + 2 * d) + d;
    return floats + (double)align * (12 * L + 2);
}

/* Mirrors duo_activations_create's buffers (model_pass.c), in doubles so
 * that a huge batch cannot overflow; small index buffers are left out. */
static void need_activations(memory_need *n, const duo_model_config *c, double B, double T,
                             bool training, bool fused)
{
    const double f = sizeof(float);
    double N = B * T, d = c->d_model, L = c->n_layers, V = c->vocab;
    double F = c->ffn_big > c->ffn_small ? c->ffn_big : c->ffn_small;
    /* One sequence's attention buffers times B: they are per sequence. */
    duo_attention_shape one = {.B = 1, .T = (size_t)T, .H = (size_t)c->n_heads,
                               .hd = (size_t)(c->d_model / c->n_heads)};
    double saved = B * (double)(fused ? duo_attention_fused_saved_floats(one)
                                      : duo_attention_saved_floats(one));
    double scratch = B * (double)(fused ? duo_attention_fused_scratch_floats(one)
                                        : duo_attention_scratch_floats(one));
    double ffn_layers = training ? L : 1;
    need_buffers(n, 2 + 2 * L, 4 * N, "token and index buffers");
    need_buffers(n, 1, L * N, "the routes");
    need_buffers(n, (L + 1) + 4 * L + 6, f * N * d, "(tokens, d_model) activations");
    need_buffers(n, 2 * L + 2, f * N, "per-token norms and losses");
    need_buffers(n, training ? L : 1, f * saved, "attention's saved block");
    need_buffers(n, 1, f * scratch, "attention's scratch");
    need_buffers(n, 3 * ffn_layers, f * N * c->ffn_small, "the small FFN's activations");
    need_buffers(n, 3 * ffn_layers, f * N * c->ffn_big, "the big FFN's activations");
    need_buffers(n, 1, f * N * V, "the logits");
    if (training) {
        need_buffers(n, 9 + 1, f * N * d, "(tokens, d_model) gradients");
        need_buffers(n, 3, f * N * F, "the FFN's gradients");
        need_buffers(n, 1, 4 * (V + 1), "the embedding's index");
    }
}

static memory_need memory_needed(const duo_model_config *c, size_t align, double batch, double ctx,
                                 bool training, bool fused)
{
    memory_need n = {0};
    double params = 4 * parameter_floats(c, align);
    need_buffers(&n, 4, params, "the parameters");
    if (batch > 0)
        need_activations(&n, c, batch, ctx, training, fused);
    return n;
}

static bool fits(memory_need n, const duo_device_info *dev)
{
    return (dev->global_mem_bytes == 0 || n.total <= (double)dev->global_mem_bytes) &&
           (dev->max_alloc_bytes == 0 || n.largest <= (double)dev->max_alloc_bytes);
}

duo_status duo_model_check_device_memory(duo_runtime *rt, const duo_model_config *c, size_t batch,
                                         size_t ctx, bool training)
{
    const duo_device_info *dev = &rt->device;
    size_t align = view_alignment_floats(rt);
    bool fused;
    DUO_TRY(duo_model_attention_path(rt, c, &fused));
    memory_need need = memory_needed(c, align, (double)batch, (double)ctx, training, fused);
    if (fits(need, dev))
        return DUO_OK;
    const double GiB = 1024.0 * 1024.0 * 1024.0;
    char allows[400];
    snprintf(allows, sizeof allows, "device '%s' allows %.2f GiB in all and %.2f GiB per buffer",
             dev->name, (double)dev->global_mem_bytes / GiB, (double)dev->max_alloc_bytes / GiB);
    char what[160];
    snprintf(what, sizeof what, "%.2f GiB (the largest buffer, %s, %.2f GiB)", need.total / GiB,
             need.largest_name, need.largest / GiB);
    if (batch == 0 || !fits(memory_needed(c, align, 1, (double)ctx, training, fused), dev))
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "the model (%d layers, d_model %d, vocab %d, FFNs "
                        "%d/%d)%s %s; %s; use a smaller model", c->n_layers, c->d_model,
                        c->vocab, c->ffn_big, c->ffn_small,
                        batch ? " and the activations of one sequence need" : " needs", what, allows);
    size_t lo = 1, hi = batch; /* lo fits, hi does not */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (fits(memory_needed(c, align, (double)mid, (double)ctx, training, fused), dev))
            lo = mid;
        else
            hi = mid;
    }
    return duo_fail(DUO_ERR_INVALID_ARGUMENT, "model + %s activations need %s for batch %zu of %zu "
                    "tokens; %s; try --batch %zu (train: train.batch)", training ? "training" : "evaluation",
                    what, batch, ctx, allows, lo);
}

/* ---- attention: the fused kernels or the GEMM path ---- */

duo_status duo_model_attention_path(const duo_runtime *rt, const duo_model_config *config,
                                    bool *fused)
{
    char why[256];
    size_t hd = config->n_heads > 0 ? (size_t)(config->d_model / config->n_heads) : 0;
    bool possible = duo_attention_fused_tile(rt, hd, why, sizeof why) > 0;
    *fused = config->attention == DUO_ATTENTION_FUSED ||
             (config->attention == DUO_ATTENTION_AUTO && possible && rt->profile->attention_fused);
    if (*fused && !possible)
        return duo_fail(DUO_ERR_CONFIG, "model.attention is \"fused\", but %s; use \"gemm\" or "
                        "\"auto\"", why);
    return DUO_OK;
}

size_t duo_model_attention_saved_floats(const duo_model *m, duo_attention_shape s)
{
    return m->fused_attention ? duo_attention_fused_saved_floats(s) : duo_attention_saved_floats(s);
}

size_t duo_model_attention_scratch_floats(const duo_model *m, duo_attention_shape s)
{
    return m->fused_attention ? duo_attention_fused_scratch_floats(s)
                              : duo_attention_scratch_floats(s);
}

duo_status duo_model_attention_forward(duo_model *m, duo_attention_shape s, cl_mem y, cl_mem saved,
                                       cl_mem scratch, cl_mem q, cl_mem k, cl_mem v)
{
    return m->fused_attention ? duo_attention_fused_forward(m->rt, s, y, saved, scratch, q, k, v)
                              : duo_attention_forward(m->rt, s, y, saved, scratch, q, k, v);
}

duo_status duo_model_attention_backward(duo_model *m, duo_attention_shape s, cl_mem dq, cl_mem dk,
                                        cl_mem dv, cl_mem scratch, cl_mem dy, cl_mem saved)
{
    return m->fused_attention
               ? duo_attention_fused_backward(m->rt, s, dq, dk, dv, scratch, dy, saved)
               : duo_attention_backward(m->rt, s, dq, dk, dv, scratch, dy, saved);
}

duo_status duo_model_create(duo_runtime *rt, const duo_model_config *config, duo_model **out)
{
    *out = NULL;
    if (config->n_layers < 1 || config->n_layers > DUO_MAX_LAYERS)
        return duo_fail(DUO_ERR_CONFIG, "model.n_layers is %d; duocl supports 1 to %d layers",
                        config->n_layers, DUO_MAX_LAYERS);
    duo_model *m = calloc(1, sizeof *m);
    if (!m)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory creating the model");
    m->rt = rt;
    m->config = *config;
    m->head_dim = (size_t)(config->d_model / config->n_heads);
    duo_status fit = duo_model_attention_path(rt, config, &m->fused_attention);
    if (fit == DUO_OK)
        fit = duo_model_check_device_memory(rt, config, 0, 0, false);
    if (fit != DUO_OK) {
        free(m);
        return fit;
    }
    lay_out(m, view_alignment_floats(rt));
    duo_status st = allocate(m);
    if (st != DUO_OK) {
        duo_model_destroy(m);
        return duo_fail_context(st, "allocating a model of %zu parameters", m->n_params);
    }
    *out = m;
    return DUO_OK;
}

void duo_model_destroy(duo_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_tensors; i++) {
        duo_buffer_release(&m->tensors[i].param);
        duo_buffer_release(&m->tensors[i].grad);
    }
    duo_buffer_release(&m->params);
    duo_buffer_release(&m->grads);
    duo_buffer_release(&m->adam_m);
    duo_buffer_release(&m->adam_v);
    if (m->rope.buffer)
        duo_rope_table_release(&m->rope);
    free(m);
}

static bool is_output_projection(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcmp(dot, ".wo") == 0 || strncmp(dot, ".w2_", 4) == 0);
}

duo_status duo_model_init(duo_model *m, uint64_t seed)
{
    float *host = calloc(m->n_params, sizeof *host);
    if (!host)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory initialising the model");
    duo_rng rng = duo_rng_seeded(seed);
    const float std = 0.02f;
    const float projection_std = std / sqrtf(2.0f * (float)m->config.n_layers);
    for (int i = 0; i < m->n_tensors; i++) {
        const duo_weight *t = &m->tensors[i];
        float *p = host + t->offset;
        size_t n = t->rows * t->cols;
        float s = is_output_projection(t->name) ? projection_std : std;
        for (size_t j = 0; j < n; j++)
            p[j] = t->decay ? s * duo_rng_normal(&rng) : 1.0f; /* norm gains start at 1 */
    }
    duo_status st = duo_model_write_params(m, host);
    free(host);
    DUO_TRY(st);
    size_t bytes = m->n_params * sizeof(float);
    DUO_TRY(duo_buffer_fill_zero(m->rt, m->adam_m, bytes));
    DUO_TRY(duo_buffer_fill_zero(m->rt, m->adam_v, bytes));
    return duo_buffer_fill_zero(m->rt, m->grads, bytes);
}

duo_status duo_model_read_params(duo_model *m, float *host)
{
    return duo_buffer_read(m->rt, m->params, 0, m->n_params * sizeof(float), host);
}

duo_status duo_model_write_params(duo_model *m, const float *host)
{
    return duo_buffer_write(m->rt, m->params, 0, m->n_params * sizeof(float), host);
}

size_t duo_model_parameter_count(const duo_model *m) { return m->n_params; }
