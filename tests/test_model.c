/* The whole Duo model on the device: gradients against central finite
 * differences, routing that keeps small-routed tokens off the big weights,
 * determinism, and a few training steps that fit one batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "testutil.h"
#include "model/train_step.h"

static duo_model_config tiny_config(void)
{
    return (duo_model_config){.vocab = 61, .d_model = 24, .n_layers = 3, .n_heads = 2, .ctx = 9,
                              .ffn_big = 40, .ffn_small = 6, .rope_theta = 10000,
                              .norm_eps = 1e-5};
}

typedef struct batch {
    size_t B, T;
    int32_t *tokens, *targets;
    uint8_t *routes;
} batch;

static batch make_batch(test_context *t, const duo_model_config *c, size_t B, size_t T)
{
    batch b = {B, T, test_malloc(B * T * 4), test_malloc(B * T * 4),
               test_malloc((size_t)c->n_layers * B * T)};
    for (size_t i = 0; i < B * T; i++) {
        b.tokens[i] = (int32_t)duo_rng_below(&t->rng, (uint64_t)c->vocab);
        b.targets[i] = i % 5 == 3 ? -1 : (int32_t)duo_rng_below(&t->rng, (uint64_t)c->vocab);
    }
    for (size_t i = 0; i < (size_t)c->n_layers * B * T; i++)
        b.routes[i] = (uint8_t)duo_rng_below(&t->rng, 3);
    return b;
}

static void free_batch(batch *b)
{
    free(b->tokens);
    free(b->targets);
    free(b->routes);
}

static float loss_at(test_context *t, duo_model *m, duo_activations *a)
{
    float loss = NAN;
    test_ok(t, "forward", duo_model_forward(m, a, &loss, NULL));
    return loss;
}

/* Gradient of the mean loss against (L(p + e) - L(p - e)) / 2e for a sample
 * of parameters of every tensor. float32 forward passes make the difference
 * noisy (loss ~4, rounding ~5e-7, e = 1e-2: noise ~5e-5), so the tolerance is
 * 2e-4 absolute plus 5% relative: a wrong kernel gives errors of order 1. */
static void gradients_match_finite_differences(test_context *t)
{
    duo_model_config c = tiny_config();
    duo_model *m;
    duo_activations *a;
    if (!test_ok(t, "model", duo_model_create(t->rt, &c, &m)))
        return;
    test_ok(t, "init", duo_model_init(m, 7));
    /* Larger weights than the init so every path carries a visible gradient. */
    float *p = test_malloc(m->n_params * sizeof *p);
    duo_model_read_params(m, p);
    for (int i = 0; i < m->n_tensors; i++)
        for (size_t j = 0; j < m->tensors[i].rows * m->tensors[i].cols; j++)
            p[m->tensors[i].offset + j] =
                m->tensors[i].decay ? duo_rng_range(&t->rng, -0.3f, 0.3f) : duo_rng_range(&t->rng, 0.5f, 1.5f);
    duo_model_write_params(m, p);
    test_ok(t, "activations", duo_activations_create(m, 2, 7, true, &a));
    batch b = make_batch(t, &c, 2, 7);
    test_ok(t, "batch", duo_model_set_batch(m, a, b.tokens, b.targets, b.routes));
    float loss;
    test_ok(t, "forward", duo_model_forward(m, a, &loss, NULL));
    test_ok(t, "backward", duo_model_backward(m, a));
    float *g = test_malloc(m->n_params * sizeof *g);
    test_download(t, m->grads, g, m->n_params * sizeof *g);

    enum { PER_TENSOR = 3 };
    float want[DUO_MAX_TENSORS * PER_TENSOR], got[DUO_MAX_TENSORS * PER_TENSOR];
    int n = 0;
    const float e = 1e-2f;
    for (int i = 0; i < m->n_tensors; i++) {
        const duo_weight *w = &m->tensors[i];
        for (int s = 0; s < PER_TENSOR; s++) {
            size_t at = w->offset + duo_rng_below(&t->rng, w->rows * w->cols);
            float saved = p[at];
            p[at] = saved + e;
            duo_model_write_params(m, p);
            float up = loss_at(t, m, a);
            p[at] = saved - e;
            duo_model_write_params(m, p);
            float down = loss_at(t, m, a);
            p[at] = saved;
            want[n] = (float)(((double)up - (double)down) / (2.0 * e));
            got[n] = g[at];
            n++;
        }
    }
    duo_model_write_params(m, p);
    test_close(t, "model_gradients_match_finite_differences", got, want, (size_t)n, 2e-4, 5e-2);

    /* The same forward and backward again: the same bytes. */
    test_ok(t, "forward", duo_model_forward(m, a, &loss, NULL));
    test_ok(t, "backward", duo_model_backward(m, a));
    float *g2 = test_malloc(m->n_params * sizeof *g2);
    test_download(t, m->grads, g2, m->n_params * sizeof *g2);
    test_same_bytes(t, "model_backward_is_deterministic", g, g2, m->n_params * sizeof *g);
    free(g2);
    free(g);
    free(p);
    free_batch(&b);
    duo_activations_destroy(a);
    duo_model_destroy(m);
}

/* With no token routed BIG, the big FFN weights get exactly zero gradient;
 * with every token SKIP, neither FFN does. */
static void routes_keep_tokens_off_other_modules(test_context *t)
{
    duo_model_config c = tiny_config();
    duo_model *m;
    duo_activations *a;
    if (!test_ok(t, "model", duo_model_create(t->rt, &c, &m)))
        return;
    test_ok(t, "init", duo_model_init(m, 3));
    test_ok(t, "activations", duo_activations_create(m, 3, 9, true, &a));
    batch b = make_batch(t, &c, 3, 9);
    float *g = test_malloc(m->n_params * sizeof *g);
    for (int mode = 0; mode < 2; mode++) {
        for (size_t i = 0; i < (size_t)c.n_layers * 27; i++)
            b.routes[i] = mode == 0 ? (uint8_t)(i % 2 ? DUO_ROUTE_SMALL : DUO_ROUTE_SKIP)
                                    : (uint8_t)DUO_ROUTE_SKIP;
        float loss;
        test_ok(t, "batch", duo_model_set_batch(m, a, b.tokens, b.targets, b.routes));
        test_ok(t, "forward", duo_model_forward(m, a, &loss, NULL));
        test_ok(t, "backward", duo_model_backward(m, a));
        test_download(t, m->grads, g, m->n_params * sizeof *g);
        double big = 0, small = 0;
        for (int l = 0; l < c.n_layers; l++)
            for (int r = DUO_ROUTE_SMALL; r <= DUO_ROUTE_BIG; r++) {
                const duo_ffn_weights *f = &m->layer[l].ffn[r];
                const duo_weight *ws[] = {f->w1, f->w3, f->w2};
                for (int k = 0; k < 3; k++)
                    for (size_t j = 0; j < ws[k]->rows * ws[k]->cols; j++)
                        *(r == DUO_ROUTE_BIG ? &big : &small) += fabs(g[ws[k]->offset + j]);
            }
        char detail[96];
        snprintf(detail, sizeof detail, "sum |grad| big %.3g, small %.3g", big, small);
        if (mode == 0)
            test_true(t, "no_big_route_gives_zero_big_gradients", big == 0 && small > 0, detail);
        else
            test_true(t, "all_skip_gives_zero_ffn_gradients", big == 0 && small == 0, detail);
    }
    free(g);
    free_batch(&b);
    duo_activations_destroy(a);
    duo_model_destroy(m);
}

/* Thirty steps on one batch must fit it: the loss falls well below its start. */
static void training_steps_fit_one_batch(test_context *t)
{
    duo_model_config c = tiny_config();
    duo_train_config train = {.batch = 4, .steps = 30, .lr = 1e-2, .warmup = 2, .min_lr = 1e-3,
                              .schedule = DUO_SCHEDULE_COSINE, .weight_decay = 0.1,
                              .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .grad_clip = 1.0};
    duo_model *m;
    duo_activations *a;
    duo_optimizer o;
    if (!test_ok(t, "model", duo_model_create(t->rt, &c, &m)))
        return;
    test_ok(t, "init", duo_model_init(m, 11));
    test_ok(t, "optimizer", duo_optimizer_create(m, &o));
    test_ok(t, "activations", duo_activations_create(m, 4, 9, true, &a));
    batch b = make_batch(t, &c, 4, 9);
    duo_route_thresholds th;
    test_ok(t, "thresholds", duo_route_thresholds_make(0.5, 0.5, 0.0, &th));
    duo_step_result r = {0};
    float first = NAN;
    for (long step = 0; step < train.steps; step++) {
        test_ok(t, "batch", duo_model_set_batch_random_routes(m, a, b.tokens, b.targets, &th, 5,
                                                              (uint64_t)step));
        if (!test_ok(t, "step", duo_train_step(m, a, &o, &train, step, &r)))
            break;
        if (step == 0)
            first = r.loss;
    }
    char detail[96];
    snprintf(detail, sizeof detail, "loss %.3f -> %.3f (ln V = %.3f)", first, r.loss, log(61.0));
    test_true(t, "training_fits_one_batch", fabsf(first - logf(61.0f)) < 0.1f && r.loss < 0.5f * first,
              detail);
    free_batch(&b);
    duo_activations_destroy(a);
    duo_optimizer_destroy(&o);
    duo_model_destroy(m);
}

static void run(test_context *t)
{
    gradients_match_finite_differences(t);
    routes_keep_tokens_off_other_modules(t);
    training_steps_fit_one_batch(t);
}

int main(int argc, char **argv) { return test_main(argc, argv, "test_model", run); }
