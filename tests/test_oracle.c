/* The oracle on a tiny trained model: its invariants (oracle <= fixed <=
 * random-N at every budget), the all-big pattern against a plain all-big
 * forward, prefix sharing giving the same bits as running each pattern from
 * scratch, and the exact layer-evaluation counts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/oracle.h"
#include "testutil.h"
#include "model/train_step.h"

enum { L = 6, CTX = 8, WINDOWS = 5, BATCH = 2 };

static duo_model_config six_layer_config(void)
{
    return (duo_model_config){.vocab = 23, .d_model = 16, .n_layers = L, .n_heads = 2, .ctx = CTX,
                              .ffn_big = 32, .ffn_small = 4, .rope_theta = 10000,
                              .norm_eps = 1e-5};
}

/* Text with structure a model can learn a little of in a few steps. */
static void make_windows(test_context *t, int32_t *w, size_t n, int vocab)
{
    for (size_t i = 0; i < n; i++) {
        int32_t x = (int32_t)duo_rng_below(&t->rng, (uint64_t)vocab);
        for (size_t j = 0; j <= CTX; j++) {
            w[i * (CTX + 1) + j] = x;
            x = (x * 7 + 3 + (int32_t)duo_rng_below(&t->rng, 2)) % vocab;
        }
    }
}

static void train_a_little(test_context *t, duo_model *m, const int32_t *windows)
{
    duo_train_config train = {.batch = BATCH, .steps = 25, .lr = 1e-2, .warmup = 2,
                              .min_lr = 1e-3, .schedule = DUO_SCHEDULE_COSINE,
                              .weight_decay = 0.1, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8,
                              .grad_clip = 1.0};
    duo_activations *a;
    duo_optimizer o;
    test_ok(t, "activations", duo_activations_create(m, BATCH, CTX, true, &a));
    test_ok(t, "optimizer", duo_optimizer_create(m, &o));
    duo_route_thresholds th;
    duo_route_thresholds_make(0.5, 0.5, 0, &th);
    int32_t tokens[BATCH * CTX], targets[BATCH * CTX];
    for (long step = 0; step < train.steps; step++) {
        for (int b = 0; b < BATCH; b++)
            for (int j = 0; j < CTX; j++) {
                const int32_t *w = windows + ((size_t)(step + b) % WINDOWS) * (CTX + 1);
                tokens[b * CTX + j] = w[j];
                targets[b * CTX + j] = w[j + 1];
            }
        duo_step_result r;
        test_ok(t, "batch", duo_model_set_batch_random_routes(m, a, tokens, targets, &th, 1,
                                                              (uint64_t)step));
        test_ok(t, "step", duo_train_step(m, a, &o, &train, step, &r));
    }
    duo_optimizer_destroy(&o);
    duo_activations_destroy(a);
}

static void invariants_hold(test_context *t, duo_model *m, const int32_t *windows)
{
    duo_oracle_search_options o = {.alphabet = DUO_ALPHABET_SB, .random_n = 3, .random_seed = 9,
                                   .share_prefixes = true};
    for (int k = 0; k <= L; k++)
        o.budgets[k] = true;
    duo_oracle_result r;
    if (!test_ok(t, "oracle", duo_oracle_search(m, windows, WINDOWS, CTX, BATCH, &o, &r)))
        return;
    bool ordered = true;
    char detail[512] = "";
    for (int k = 0; k <= L; k++) {
        const duo_budget_result *b = &r.budget[k];
        ordered &= b->oracle <= b->fixed && b->fixed <= b->random_best &&
                   b->fixed <= b->mean_all && b->patterns == (int)duo_pattern_count(o.alphabet, L, k);
        size_t used = strlen(detail);
        snprintf(detail + used, sizeof detail - used, "k%d %.4f<=%.4f<=%.4f ", k, b->oracle,
                 b->fixed, b->random_best);
    }
    test_true(t, "oracle_le_fixed_le_random_at_every_budget", ordered, detail);

    /* fixed(L) is the one all-big pattern; its mean is the all-big forward's. */
    float got = (float)r.budget[L].fixed, want = (float)r.all_big;
    test_close(t, "all_big_pattern_equals_all_big_forward", &got, &want, 1, 0, 1e-6);
    test_true(t, "all_big_pattern_is_BBBBBB", strcmp(r.budget[L].fixed_pattern, "BBBBBB") == 0,
              r.budget[L].fixed_pattern);
    /* The oracle's budget-0 and budget-L choices are forced. */
    test_true(t, "budget_0_oracle_is_all_small", r.budget[0].oracle == r.budget[0].fixed &&
                                                 fabs(r.budget[0].fixed - r.all_small) < 1e-6,
              NULL);
    uint64_t big_at_l = 0;
    for (int l = 0; l < L; l++)
        big_at_l += r.budget[2].big_per_layer[l];
    test_true(t, "oracle_budget_2_places_2_big_layers_per_token", big_at_l == 2 * r.tokens, NULL);
    duo_oracle_result_free(&r);
}

typedef struct recorder {
    float *losses;
    size_t n, used, capacity;
} recorder;

static duo_status record(void *context, const uint8_t *pattern, int big, const float *losses)
{
    (void)pattern;
    (void)big;
    recorder *rec = context;
    if (rec->used + rec->n <= rec->capacity)
        memcpy(rec->losses + rec->used, losses, rec->n * sizeof(float));
    rec->used += rec->n;
    return DUO_OK;
}

static void prefix_sharing_is_exact(test_context *t, duo_model *m, const int32_t *windows)
{
    size_t N = BATCH * CTX;
    duo_activations *a;
    test_ok(t, "activations", duo_activations_create(m, BATCH, CTX, false, &a));
    int32_t tokens[BATCH * CTX], targets[BATCH * CTX];
    uint8_t routes[L * BATCH * CTX] = {0};
    for (size_t i = 0; i < N; i++) {
        tokens[i] = windows[(i / CTX) * (CTX + 1) + i % CTX];
        targets[i] = windows[(i / CTX) * (CTX + 1) + i % CTX + 1];
    }
    test_ok(t, "batch", duo_model_set_batch(m, a, tokens, targets, routes));
    recorder shared = {malloc(64 * N * sizeof(float)), N, 0, 64 * N};
    recorder scratch = {malloc(64 * N * sizeof(float)), N, 0, 64 * N};
    duo_search_counts cs = {0}, cn = {0};
    test_ok(t, "shared", duo_search_patterns(m, a, DUO_ALPHABET_SB, NULL, true, record, &shared, &cs));
    test_ok(t, "scratch", duo_search_patterns(m, a, DUO_ALPHABET_SB, NULL, false, record, &scratch, &cn));
    test_same_bytes(t, "prefix_sharing_gives_the_same_per_token_losses", shared.losses,
                    scratch.losses, 64 * N * sizeof(float));
    char detail[160];
    snprintf(detail, sizeof detail, "shared %llu of naive %llu layer evaluations (%.1f%%), scratch %llu",
             (unsigned long long)cs.layer_evals, (unsigned long long)cs.naive_layer_evals,
             100.0 * (double)cs.layer_evals / (double)cs.naive_layer_evals,
             (unsigned long long)cn.layer_evals);
    /* 2 + 4 + ... + 64 = 126 prefixes against 64 patterns x 6 layers = 384. */
    test_true(t, "sb_all_budgets_l6_shares_126_of_384_layer_evals",
              cs.patterns == 64 && cs.layer_evals == 126 && cs.naive_layer_evals == 384 &&
                  cn.layer_evals == 384 && cs.layer_evals * 10 <= cs.naive_layer_evals * 4,
              detail);

    /* One budget of KSB: C(6,2) * 2^4 = 240 patterns. */
    bool budgets[DUO_MAX_LAYERS + 1] = {false};
    budgets[2] = true;
    duo_search_counts ck = {0};
    recorder none = {NULL, N, 0, 0};
    test_ok(t, "ksb", duo_search_patterns(m, a, DUO_ALPHABET_KSB, budgets, true, record, &none, &ck));
    snprintf(detail, sizeof detail, "%llu patterns, %llu layer evaluations of naive %llu",
             (unsigned long long)ck.patterns, (unsigned long long)ck.layer_evals,
             (unsigned long long)ck.naive_layer_evals);
    test_true(t, "ksb_budget_2_visits_240_patterns", ck.patterns == 240 &&
                                                    ck.layer_evals < ck.naive_layer_evals, detail);
    free(shared.losses);
    free(scratch.losses);
    duo_activations_destroy(a);
}

static void run(test_context *t)
{
    duo_model_config c = six_layer_config();
    duo_model *m;
    if (!test_ok(t, "model", duo_model_create(t->rt, &c, &m)))
        return;
    test_ok(t, "init", duo_model_init(m, 5));
    int32_t windows[WINDOWS * (CTX + 1)];
    make_windows(t, windows, WINDOWS, c.vocab);
    train_a_little(t, m, windows);
    invariants_hold(t, m, windows);
    prefix_sharing_is_exact(t, m, windows);
    duo_model_destroy(m);
}

int main(int argc, char **argv) { return test_main(argc, argv, "test_oracle", run); }
