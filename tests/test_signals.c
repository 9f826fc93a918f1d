/* The cheap signals (study/signals.h, issue 16) against a plain host
 * recomputation on a small random model: entropy and max-probability from
 * the read-back logits of an all-small pass, the previous position's loss,
 * position, token_freq a function of the input token, hidden-state norms
 * from x_l, a router's margin from its weights and f_l. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/router.h"
#include "study/signals.h"
#include "testutil.h"

enum { B = 2, T = 16 };

static void run(test_context *t)
{
    char dir[256], shards[400];
    if (!test_true(t, "temp dir", test_temp_dir(dir, sizeof dir, "test-signals"), dir))
        return;
    snprintf(shards, sizeof shards, "%s/shards", dir);
    duo_config c;
    if (!test_ok(t, "shards", test_tiny_shards(shards, 20000, 3000)) ||
        !test_ok(t, "config", test_tiny_config(shards, 4, 4, 4, &c)))
        return;
    duo_model *m = NULL;
    duo_activations *a = NULL;
    duo_router *router = NULL;
    duo_signals *s = NULL;
    size_t N = (size_t)B * T, L = (size_t)c.model.n_layers, d = (size_t)c.model.d_model,
           V = (size_t)c.model.vocab;
    test_ok(t, "model", duo_model_create(t->rt, &c.model, &m));
    test_ok(t, "init", duo_model_init(m, 7));
    test_ok(t, "activations", duo_activations_create(m, B, T, false, &a));
    test_ok(t, "router", duo_router_create(m, DUO_ALPHABET_SB, 3, &router));
    if (!test_ok(t, "signals", duo_signals_create(m, &c, router, 16, &s)))
        goto done;
    int n = duo_signals_count(s);
    test_true(t, "columns: 5 + 2 per layer", (size_t)n == 5 + 2 * L, "count");
    int32_t inputs[B * T], targets[B * T];
    for (size_t i = 0; i < N; i++) {
        inputs[i] = (int32_t)duo_rng_below(&t->rng, 40) + 60;
        targets[i] = (int32_t)duo_rng_below(&t->rng, V);
    }
    float *out = malloc((size_t)n * N * sizeof *out), *small = malloc(N * sizeof *small);
    float *logits = malloc(N * V * sizeof *logits), *x = malloc(N * d * sizeof *x);
    float *want = malloc(N * sizeof *want), *want2 = malloc(N * sizeof *want2);
    float *w = malloc(router->n_params * sizeof *w), *loss = malloc(N * sizeof *loss);
    test_ok(t, "signals batch", duo_signals_batch(s, a, inputs, targets, out, small));
    /* The same pass again, read back here. */
    uint8_t *routes = malloc(L * N);
    memset(routes, DUO_ROUTE_SMALL, L * N);
    float mean;
    test_ok(t, "set batch", duo_model_set_batch(m, a, inputs, targets, routes));
    test_ok(t, "forward", duo_model_forward(m, a, &mean, loss));
    test_ok(t, "logits", duo_buffer_read(t->rt, duo_activations_logits(a), 0, N * V * sizeof *logits,
                                         logits));
    for (size_t i = 0; i < N; i++) {
        double hi = -INFINITY, sum = 0, ent = 0;
        for (size_t v = 0; v < V; v++)
            hi = fmax(hi, logits[i * V + v]);
        for (size_t v = 0; v < V; v++)
            sum += exp(logits[i * V + v] - hi);
        for (size_t v = 0; v < V; v++) {
            double p = exp(logits[i * V + v] - hi) / sum;
            ent -= p > 0 ? p * log(p) : 0;
        }
        want[i] = (float)ent;
        want2[i] = (float)(1.0 / sum);
    }
    test_close(t, "entropy_small", out + duo_signals_find(s, "entropy_small") * N, want, N, 1e-4, 1e-4);
    test_close(t, "maxprob_small", out + duo_signals_find(s, "maxprob_small") * N, want2, N, 1e-5, 1e-4);
    test_close(t, "loss_small", small, loss, N, 0, 0);
    for (size_t i = 0; i < N; i++) {
        want[i] = i % T ? loss[i - 1] : 0.0f;
        want2[i] = (float)(i % T);
    }
    test_close(t, "prev_loss_small", out + duo_signals_find(s, "prev_loss_small") * N, want, N, 0, 0);
    test_close(t, "position", out + duo_signals_find(s, "position") * N, want2, N, 0, 0);
    const float *freq = out + duo_signals_find(s, "token_freq") * N;
    bool same = true;
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++)
            same = same && (inputs[i] != inputs[j] || freq[i] == freq[j]) && freq[i] >= 0;
    test_true(t, "token_freq depends on the input token only", same, "differs");
    test_ok(t, "router weights", duo_buffer_read(t->rt, router->weights, 0,
                                                 router->n_params * sizeof *w, w));
    for (size_t l = 0; l < L; l++) {
        char name[40];
        test_ok(t, "x_l", duo_activations_read_layer(m, a, (int)l, DUO_LAYER_INPUT, x));
        for (size_t i = 0; i < N; i++) {
            double sq = 0;
            for (size_t k = 0; k < d; k++)
                sq += (double)x[i * d + k] * x[i * d + k];
            want[i] = (float)sqrt(sq);
        }
        snprintf(name, sizeof name, "hidden_norm_l%zu", l);
        test_close(t, name, out + duo_signals_find(s, name) * N, want, N, 1e-5, 1e-5);
        test_ok(t, "f_l", duo_activations_read_layer(m, a, (int)l, DUO_LAYER_FFN_INPUT, x));
        for (size_t i = 0; i < N; i++) {
            double z = 0;
            for (size_t k = 0; k < d; k++)
                z += (double)x[i * d + k] * ((double)w[(l * d + k) * 2 + 1] - w[(l * d + k) * 2]);
            want[i] = (float)z;
        }
        snprintf(name, sizeof name, "router_logit_l%zu", l);
        test_close(t, name, out + duo_signals_find(s, name) * N, want, N, 1e-5, 1e-4);
    }
    free(out);
    free(small);
    free(logits);
    free(x);
    free(want);
    free(want2);
    free(w);
    free(loss);
    free(routes);
done:
    duo_signals_destroy(s);
    duo_router_destroy(router);
    duo_activations_destroy(a);
    duo_model_destroy(m);
    test_remove_dir(dir);
}

int main(int argc, char **argv) { return test_main(argc, argv, "test_signals", run); }
