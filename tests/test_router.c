/* Learned routers on the device: the router's gradient (soft mixture plus the
 * budget penalty) against central finite differences for both alphabets, the
 * frozen backbone, hard argmax routing, and a budget that training reaches. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/router.h"
#include "testutil.h"

enum { B = 2, T = 7 };

static duo_model_config tiny_config(void)
{
    return (duo_model_config){.vocab = 31, .d_model = 16, .n_layers = 3, .n_heads = 2, .ctx = T,
                              .ffn_big = 24, .ffn_small = 4, .rope_theta = 10000,
                              .norm_eps = 1e-5};
}

static duo_model *random_model(test_context *t)
{
    duo_model_config c = tiny_config();
    duo_model *m;
    if (!test_ok(t, "model", duo_model_create(t->rt, &c, &m)))
        return NULL;
    float *p = test_malloc(m->n_params * sizeof *p);
    for (int i = 0; i < m->n_tensors; i++)
        for (size_t j = 0; j < m->tensors[i].rows * m->tensors[i].cols; j++)
            p[m->tensors[i].offset + j] = m->tensors[i].decay ? duo_rng_range(&t->rng, -0.3f, 0.3f)
                                                              : duo_rng_range(&t->rng, 0.5f, 1.5f);
    duo_model_write_params(m, p);
    free(p);
    return m;
}

static void set_random_batch(test_context *t, duo_model *m, duo_activations *a)
{
    int32_t tokens[B * T], targets[B * T];
    uint8_t routes[3 * B * T] = {0};
    for (int i = 0; i < B * T; i++) {
        tokens[i] = (int32_t)duo_rng_below(&t->rng, 31);
        targets[i] = i % 6 == 5 ? -1 : (int32_t)duo_rng_below(&t->rng, 31);
    }
    test_ok(t, "batch", duo_model_set_batch(m, a, tokens, targets, routes));
}

/* CE + penalty of a soft forward with the router's current weights. */
static double total_loss(test_context *t, duo_router *r, duo_activations *a, int budget,
                         double alpha)
{
    float ce = NAN;
    test_ok(t, "forward", duo_model_forward(r->model, a, &ce, NULL));
    size_t floats = 3 * (size_t)B * T * (size_t)r->M;
    float *probs = test_malloc(floats * sizeof *probs);
    test_ok(t, "probs", duo_activations_read_router_probs(r->model, a, probs));
    double penalty = duo_router_penalty(r, probs, B, T, budget, alpha, NULL);
    free(probs);
    return ce + penalty;
}

/* float32 forwards make central differences noisy (loss ~3.5, e = 1e-2:
 * noise ~1e-4): 3e-4 absolute plus 5% relative; a wrong term is off by O(1). */
static void router_gradient_matches_finite_differences(test_context *t, duo_alphabet alphabet)
{
    duo_model *m = random_model(t);
    if (!m)
        return;
    duo_router *r;
    duo_activations *a;
    test_ok(t, "router", duo_router_create(m, alphabet, 3, &r));
    test_ok(t, "activations", duo_activations_create(m, B, T, true, &a));
    set_random_batch(t, m, a);
    float *w = test_malloc(r->n_params * sizeof *w);
    for (size_t i = 0; i < r->n_params; i++)
        w[i] = duo_rng_range(&t->rng, -0.5f, 0.5f);
    duo_buffer_write(t->rt, r->weights, 0, r->n_params * sizeof *w, w);

    const int budget = 1;
    const double alpha = 3.0, beta = 2.0;
    /* One step with lr 0 computes the gradient without changing anything. */
    duo_router_hparams h = {.budget = budget, .alpha = alpha, .beta = beta, .lr = 0.0, .step = 0};
    duo_router_step s;
    test_ok(t, "step", duo_router_train_step(r, a, &h, &s));
    float *g = test_malloc(r->n_params * sizeof *g);
    test_download(t, r->grads, g, r->n_params * sizeof *g);

    enum { SAMPLES = 24 };
    float want[SAMPLES], got[SAMPLES];
    const float e = 1e-2f;
    for (int k = 0; k < SAMPLES; k++) {
        size_t at = duo_rng_below(&t->rng, r->n_params);
        float saved = w[at];
        w[at] = saved + e;
        duo_buffer_write(t->rt, r->weights, 0, r->n_params * sizeof *w, w);
        double up = total_loss(t, r, a, budget, alpha);
        w[at] = saved - e;
        duo_buffer_write(t->rt, r->weights, 0, r->n_params * sizeof *w, w);
        double down = total_loss(t, r, a, budget, alpha);
        w[at] = saved;
        want[k] = (float)((up - down) / (2.0 * e));
        got[k] = g[at];
    }
    char name[80];
    snprintf(name, sizeof name, "router_gradient_matches_finite_differences_%s",
             duo_alphabet_name(alphabet));
    test_close(t, name, got, want, SAMPLES, 3e-4, 5e-2);
    free(w);
    free(g);
    duo_activations_destroy(a);
    duo_router_destroy(r);
    duo_model_destroy(m);
}

/* Router steps change the router only; hard routing follows the logits. */
static void backbone_frozen_and_hard_routing(test_context *t)
{
    duo_model *m = random_model(t);
    if (!m)
        return;
    duo_router *r;
    duo_activations *a, *e;
    test_ok(t, "router", duo_router_create(m, DUO_ALPHABET_SB, 5, &r));
    test_ok(t, "activations", duo_activations_create(m, B, T, true, &a));
    test_ok(t, "eval activations", duo_activations_create(m, B, T, false, &e));
    set_random_batch(t, m, a);
    float *before = test_malloc(m->n_params * sizeof *before);
    float *after = test_malloc(m->n_params * sizeof *after);
    duo_model_read_params(m, before);
    duo_router_hparams h = {.budget = 1, .alpha = 1, .beta = 1, .lr = 1e-2, .step = 0};
    duo_router_step s;
    for (h.step = 0; h.step < 3; h.step++)
        test_ok(t, "step", duo_router_train_step(r, a, &h, &s));
    duo_model_read_params(m, after);
    test_same_bytes(t, "router_training_leaves_the_backbone_unchanged", before, after,
                    m->n_params * sizeof *before);

    /* Hard routing takes the largest logit, ties to the cheaper module: with
     * zero weights an SB router sends every token SMALL and a KSB router every
     * token to SKIP, so the losses must equal those routes' exactly. */
    set_random_batch(t, m, e);
    int32_t tokens[B * T], targets[B * T];
    for (int alphabet = 0; alphabet < 2; alphabet++) {
        duo_router *z;
        test_ok(t, "router", duo_router_create(m, alphabet ? DUO_ALPHABET_KSB : DUO_ALPHABET_SB, 1, &z));
        test_ok(t, "zero", duo_buffer_fill_zero(t->rt, z->weights, z->n_params * sizeof(float)));
        for (int i = 0; i < B * T; i++) {
            tokens[i] = (int32_t)duo_rng_below(&t->rng, 31);
            targets[i] = (int32_t)duo_rng_below(&t->rng, 31);
        }
        uint8_t routes[3 * B * T];
        memset(routes, alphabet ? DUO_ROUTE_SKIP : DUO_ROUTE_SMALL, sizeof routes);
        float want = NAN, got = NAN;
        test_ok(t, "batch", duo_model_set_batch(m, e, tokens, targets, routes));
        test_ok(t, "unbind", duo_activations_set_router(m, e, NULL));
        test_ok(t, "uniform forward", duo_model_forward(m, e, &want, NULL));
        memset(routes, DUO_ROUTE_BIG, sizeof routes); /* hard routing must overwrite these */
        test_ok(t, "batch", duo_model_set_batch(m, e, tokens, targets, routes));
        duo_router_binding bind = duo_router_bind(z, DUO_ROUTER_HARD, 1.0f);
        test_ok(t, "bind hard", duo_activations_set_router(m, e, &bind));
        test_ok(t, "hard forward", duo_model_forward(m, e, &got, NULL));
        test_same_bytes(t, alphabet ? "hard_ksb_ties_go_to_skip" : "hard_sb_ties_go_to_small",
                        &got, &want, sizeof got);
        test_ok(t, "unbind", duo_activations_set_router(m, e, NULL));
        duo_router_destroy(z);
    }
    free(before);
    free(after);
    duo_activations_destroy(a);
    duo_activations_destroy(e);
    duo_router_destroy(r);
    duo_model_destroy(m);
}

static void run(test_context *t)
{
    router_gradient_matches_finite_differences(t, DUO_ALPHABET_SB);
    router_gradient_matches_finite_differences(t, DUO_ALPHABET_KSB);
    backbone_frozen_and_hard_routing(t);
}

int main(int argc, char **argv) { return test_main(argc, argv, "test_router", run); }
