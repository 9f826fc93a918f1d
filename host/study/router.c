/* Learned routers: creation, one training step, checkpoints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/gemm.h"
#include "ops/optim.h"
#include "base/comm.h"
#include "base/rng.h"
#include "router.h"

static duo_status allocate(duo_router *r)
{
    duo_runtime *rt = r->model->rt;
    size_t bytes = r->n_params * sizeof(float);
    cl_mem *all[] = {&r->weights, &r->grads, &r->adam_m, &r->adam_v};
    for (int i = 0; i < 4; i++) {
        DUO_TRY(duo_buffer_create(rt, bytes, all[i]));
        DUO_TRY(duo_buffer_fill_zero(rt, *all[i], bytes));
    }
    DUO_TRY(duo_buffer_create(rt, sizeof r->modules, &r->modules_buffer));
    return duo_buffer_write(rt, r->modules_buffer, 0, (size_t)r->M * sizeof(int), r->modules);
}

duo_status duo_router_create(duo_model *m, duo_alphabet alphabet, uint64_t seed, duo_router **out)
{
    *out = NULL;
    if (alphabet == DUO_ALPHABET_KB)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "a router's alphabet is SB or KSB (with KB every layer not BIG would skip)");
    duo_router *r = calloc(1, sizeof *r);
    if (!r)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory creating a router");
    r->model = m;
    r->alphabet = alphabet;
    if (alphabet == DUO_ALPHABET_KSB)
        r->modules[r->M++] = DUO_ROUTE_SKIP;
    r->modules[r->M++] = DUO_ROUTE_SMALL;
    r->modules[r->M++] = DUO_ROUTE_BIG;
    r->n_params = (size_t)m->config.n_layers * (size_t)m->config.d_model * (size_t)r->M;
    duo_status st = allocate(r);
    float *w = st == DUO_OK ? malloc(r->n_params * sizeof *w) : NULL;
    if (st == DUO_OK && !w)
        st = duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory creating a router");
    if (st == DUO_OK) {
        duo_rng rng = duo_rng_seeded(seed);
        for (size_t i = 0; i < r->n_params; i++)
            w[i] = 0.02f * duo_rng_normal(&rng);
        st = duo_buffer_write(m->rt, r->weights, 0, r->n_params * sizeof *w, w);
    }
    free(w);
    if (st != DUO_OK) {
        duo_router_destroy(r);
        return st;
    }
    *out = r;
    return DUO_OK;
}

void duo_router_destroy(duo_router *r)
{
    if (!r)
        return;
    cl_mem *all[] = {&r->weights, &r->grads, &r->adam_m, &r->adam_v, &r->modules_buffer, &r->aux};
    for (int i = 0; i < 6; i++)
        duo_buffer_release(all[i]);
    free(r);
}

duo_router_binding duo_router_bind(duo_router *r, duo_router_mode mode, float beta)
{
    duo_router_binding b = {.mode = mode, .M = r->M, .modules_buffer = r->modules_buffer,
                            .weights = r->weights, .grads = r->grads, .aux = r->aux, .beta = beta};
    memcpy(b.modules, r->modules, sizeof b.modules);
    return b;
}

static int big_column(const duo_router *r)
{
    return r->M - 1; /* modules are in increasing route id order: BIG is last */
}

double duo_router_penalty(const duo_router *r, const float *probs, size_t B, size_t T, int budget,
                          double alpha, float *grad)
{
    int L = r->model->config.n_layers, M = r->M, big = big_column(r);
    double target = (double)budget / L, penalty = 0;
    for (size_t b = 0; b < B; b++) {
        double u = 0;
        for (int l = 0; l < L; l++)
            for (size_t t = 0; t < T; t++)
                u += probs[((size_t)l * B * T + b * T + t) * (size_t)M + (size_t)big];
        u /= (double)L * (double)T;
        penalty += (u - target) * (u - target);
        /* d/dP_big[l,b,t] of alpha/B * (u_b - target)^2 */
        if (grad)
            grad[b] = (float)(alpha * 2.0 * (u - target) / ((double)B * L * (double)T));
    }
    return alpha * penalty / (double)B;
}

/* The ranks' gradients summed (in rank order) and divided by the ranks: the
 * gradient of the mean of their losses, which is the global batch's loss
 * when every rank holds as many sequences; the step's numbers the same way. */
static duo_status sum_over_ranks(duo_router *r, duo_router_step *out)
{
    duo_runtime *rt = r->model->rt;
    int ranks = duo_comm_size();
    float *g = malloc(r->n_params * sizeof *g);
    if (!g)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the router's gradients");
    double numbers[3] = {out->ce, out->penalty, out->big_fraction};
    duo_status st = duo_buffer_read(rt, r->grads, 0, r->n_params * sizeof *g, g);
    if (st == DUO_OK)
        st = duo_comm_sum_floats(g, r->n_params);
    if (st == DUO_OK)
        st = duo_comm_sum_doubles(numbers, 3);
    for (size_t i = 0; i < r->n_params && st == DUO_OK; i++)
        g[i] /= (float)ranks;
    if (st == DUO_OK)
        st = duo_buffer_write(rt, r->grads, 0, r->n_params * sizeof *g, g);
    free(g);
    out->ce = (float)(numbers[0] / ranks);
    out->penalty = (float)(numbers[1] / ranks);
    out->big_fraction = (float)(numbers[2] / ranks);
    return st;
}

duo_status duo_router_train_step(duo_router *r, duo_activations *a, const duo_router_hparams *h,
                                 duo_router_step *out)
{
    duo_model *m = r->model;
    duo_runtime *rt = m->rt;
    size_t N = duo_activations_tokens(a), T = duo_activations_ctx(a), B = N / T;
    if (r->aux_capacity < B) {
        duo_buffer_release(&r->aux);
        DUO_TRY(duo_buffer_create(rt, B * sizeof(float), &r->aux));
        r->aux_capacity = B;
    }
    duo_router_binding bind = duo_router_bind(r, DUO_ROUTER_SOFT, (float)h->beta);
    DUO_TRY(duo_activations_set_router(m, a, &bind));
    DUO_TRY(duo_model_forward(m, a, &out->ce, NULL));
    size_t floats = (size_t)m->config.n_layers * N * (size_t)r->M;
    float *probs = malloc(floats * sizeof *probs), *grad = malloc(B * sizeof *grad);
    duo_status st = probs && grad ? duo_activations_read_router_probs(m, a, probs)
                                  : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory in router step");
    if (st == DUO_OK) {
        out->penalty = (float)duo_router_penalty(r, probs, B, T, h->budget, h->alpha, grad);
        double sum = 0;
        for (size_t i = 0; i < floats / (size_t)r->M; i++)
            sum += probs[i * (size_t)r->M + (size_t)big_column(r)];
        out->big_fraction = (float)(sum / (double)(floats / (size_t)r->M));
        st = duo_buffer_write(rt, r->aux, 0, B * sizeof *grad, grad);
    }
    free(probs);
    free(grad);
    DUO_TRY(st);
    if (!isfinite(out->ce))
        return duo_fail(DUO_ERR_NUMERIC, "router training: the loss is %g at step %ld",
                        (double)out->ce, h->step);
    DUO_TRY(duo_model_backward(m, a));
    if (h->sum_over_ranks && duo_comm_size() > 1)
        DUO_TRY(sum_over_ranks(r, out));
    return duo_router_apply_gradient(r, h, &out->grad_norm);
}

duo_status duo_router_apply_gradient(duo_router *r, const duo_router_hparams *h, float *grad_norm)
{
    duo_runtime *rt = r->model->rt;
    duo_grad_span span = {r->grads, 0, r->n_params};
    cl_mem scratch;
    DUO_TRY(duo_buffer_create(rt, duo_grad_norm_scratch_bytes(rt, &span, 1), &scratch));
    duo_status st = duo_grad_norm(rt, &span, 1, scratch, grad_norm);
    duo_buffer_release(&scratch);
    DUO_TRY(st);
    duo_adamw_hparams ah = {.lr = h->lr, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8,
                            .weight_decay = 0.0, .step = h->step + 1};
    return duo_adamw_step(rt, r->weights, r->grads, r->adam_m, r->adam_v, 0, r->n_params, &ah,
                          duo_clip_factor(*grad_norm, 1.0f));
}

static const char *const STATE_TENSORS[] = {"router.weight", "router.adam_m", "router.adam_v"};

static cl_mem state_buffer(duo_router *r, int i)
{
    return i == 0 ? r->weights : i == 1 ? r->adam_m : r->adam_v;
}

duo_status duo_router_save(duo_router *r, const char *path, const char *config_json, int budget,
                           const duo_router_state *state)
{
    duo_model *m = r->model;
    float *w = malloc(r->n_params * sizeof *w);
    if (!w)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory saving %s", path);
    duo_checkpoint_writer *wr = NULL;
    duo_status st = duo_checkpoint_writer_open(path, config_json, &wr);
    for (int i = 0; i < (state ? 3 : 1) && st == DUO_OK; i++) {
        duo_tensor_desc desc = {.name = STATE_TENSORS[i], .dtype = DUO_DTYPE_F32, .ndim = 3,
                                .shape = {(uint64_t)m->config.n_layers,
                                          (uint64_t)m->config.d_model, (uint64_t)r->M},
                                .data = w};
        st = duo_buffer_read(m->rt, state_buffer(r, i), 0, r->n_params * sizeof *w, w);
        if (st == DUO_OK)
            st = duo_checkpoint_writer_add(wr, &desc);
    }
    free(w);
    if (st == DUO_OK)
        st = duo_checkpoint_writer_add_u64(wr, "router.alphabet", (uint64_t)r->alphabet);
    if (st == DUO_OK)
        st = duo_checkpoint_writer_add_u64(wr, "router.budget", (uint64_t)budget);
    if (state && st == DUO_OK)
        st = duo_checkpoint_writer_add_u64(wr, "state.step", state->step);
    if (state && st == DUO_OK)
        st = duo_checkpoint_writer_add_u64(wr, "state.loader_seed", state->loader_seed);
    if (state && st == DUO_OK)
        st = duo_checkpoint_writer_add_u64(wr, "state.loader_next", state->loader_next);
    if (st != DUO_OK) {
        duo_checkpoint_writer_abort(wr);
        return st;
    }
    return duo_checkpoint_writer_commit(wr);
}

duo_status duo_router_load(duo_model *m, const char *path, duo_router **out, int *budget,
                           duo_router_state *state)
{
    *out = NULL;
    duo_checkpoint *ck;
    DUO_TRY(duo_checkpoint_open(path, &ck));
    uint64_t alphabet = 0, k = 0;
    duo_status st = duo_checkpoint_get_u64(ck, "router.alphabet", &alphabet);
    if (st == DUO_OK)
        st = duo_checkpoint_get_u64(ck, "router.budget", &k);
    if (st == DUO_OK && alphabet != DUO_ALPHABET_SB && alphabet != DUO_ALPHABET_KSB)
        st = duo_fail(DUO_ERR_FORMAT, "router checkpoint %s: router.alphabet %llu is not SB or KSB",
                      path, (unsigned long long)alphabet);
    if (st == DUO_OK && k > (uint64_t)m->config.n_layers)
        st = duo_fail(DUO_ERR_FORMAT, "router checkpoint %s: router.budget is %llu; allowed 0 to %d "
                      "(L, the model's layers)", path, (unsigned long long)k, m->config.n_layers);
    duo_router *r = NULL;
    if (st == DUO_OK)
        st = duo_router_create(m, (duo_alphabet)alphabet, 0, &r);
    for (int i = 0; i < (state ? 3 : 1) && st == DUO_OK; i++) {
        uint64_t shape[3] = {(uint64_t)m->config.n_layers, (uint64_t)m->config.d_model,
                             (uint64_t)r->M};
        const void *data;
        st = duo_checkpoint_find(ck, STATE_TENSORS[i], DUO_DTYPE_F32, 3, shape, &data);
        if (st == DUO_OK)
            st = duo_buffer_write(m->rt, state_buffer(r, i), 0, r->n_params * sizeof(float), data);
    }
    if (state && st == DUO_OK)
        st = duo_checkpoint_get_u64(ck, "state.step", &state->step);
    if (state && st == DUO_OK)
        st = duo_checkpoint_get_u64(ck, "state.loader_seed", &state->loader_seed);
    if (state && st == DUO_OK)
        st = duo_checkpoint_get_u64(ck, "state.loader_next", &state->loader_next);
    duo_checkpoint_close(ck);
    if (st != DUO_OK) {
        duo_router_destroy(r);
        return st;
    }
    if (budget)
        *budget = (int)k;
    *out = r;
    return DUO_OK;
}
