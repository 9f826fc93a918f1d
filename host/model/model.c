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
