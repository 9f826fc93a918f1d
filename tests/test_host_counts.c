/* The routed FFN's per-route counts come from the host's own copy of the
 * routes, so a training step reads nothing back before its loss: the counts
 * the host computes when a batch's routes are set (counter generator,
 * host routes, one route per layer) equal, exactly, those the device's
 * compaction finds in the routes the device holds; and a stage-1 step makes
 * no blocking call between its start and its loss read-back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/train_step.h"
#include "testutil.h"

/* Small widths (the counts do not depend on them) and a long context, so N
 * spans several compaction work-groups and is not a multiple of one. */
static duo_model_config counts_config(void)
{
    return (duo_model_config){.vocab = 37, .d_model = 8, .n_layers = 3, .n_heads = 2,
                              .ctx = 301, .ffn_big = 12, .ffn_small = 4, .rope_theta = 10000,
                              .norm_eps = 1e-5};
}

typedef struct fixture {
    duo_model *m;
    duo_activations *a;
    size_t N;
    int L;
    int32_t *tokens, *targets;
    uint8_t *routes;         /* L x N */
    cl_mem layer_routes, meta, index, slot;
} fixture;

static bool fixture_open(test_context *t, fixture *f, size_t B, size_t T)
{
    memset(f, 0, sizeof *f);
    duo_model_config c = counts_config();
    if (!test_ok(t, "model", duo_model_create(t->rt, &c, &f->m)))
        return false;
    test_ok(t, "init", duo_model_init(f->m, 7));
    if (!test_ok(t, "activations", duo_activations_create(f->m, B, T, true, &f->a)))
        return false;
    f->N = B * T;
    f->L = c.n_layers;
    f->tokens = test_malloc(f->N * sizeof(int32_t));
    f->targets = test_malloc(f->N * sizeof(int32_t));
    f->routes = test_malloc((size_t)f->L * f->N);
    for (size_t i = 0; i < f->N; i++) {
        f->tokens[i] = (int32_t)duo_rng_below(&t->rng, (uint64_t)c.vocab);
        f->targets[i] = i % 7 == 2 ? -1 : (int32_t)duo_rng_below(&t->rng, (uint64_t)c.vocab);
    }
    f->layer_routes = test_alloc(t, f->N);
    f->meta = test_alloc(t, duo_compact_meta_ints(t->rt, f->N) * sizeof(int));
    f->index = test_alloc(t, f->N * sizeof(int));
    f->slot = test_alloc(t, f->N * sizeof(int));
    return true;
}

static void fixture_close(fixture *f)
{
    cl_mem *buffers[] = {&f->layer_routes, &f->meta, &f->index, &f->slot};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++)
        duo_buffer_release(buffers[i]);
    free(f->tokens);
    free(f->targets);
    free(f->routes);
    duo_activations_destroy(f->a);
    duo_model_destroy(f->m);
}

/* The routes the device holds, compacted on the device with the counts read
 * back, against the counts the host set for each layer. */
static void device_counts_equal_host_counts(test_context *t, fixture *f, const char *what)
{
    test_ok(t, "read routes", duo_activations_read_routes(f->m, f->a, f->routes));
    int worst_layer = -1;
    char detail[192] = "";
    for (int l = 0; l < f->L; l++) {
        duo_compact_counts device, host = *duo_activations_counts(f->a, l);
        duo_status st = duo_buffer_write(t->rt, f->layer_routes, 0, f->N, f->routes + (size_t)l * f->N);
        if (st == DUO_OK)
            st = duo_compact_index(t->rt, f->layer_routes, 0, f->N, f->meta, f->index, f->slot,
                                   &device);
        if (!test_ok(t, "device compaction", st))
            return;
        if (memcmp(&device, &host, sizeof device) != 0 && worst_layer < 0) {
            worst_layer = l;
            snprintf(detail, sizeof detail, "layer %d: device counts %d/%d/%d offsets %d/%d/%d, "
                     "host counts %d/%d/%d offsets %d/%d/%d", l, device.count[0], device.count[1],
                     device.count[2], device.offset[0], device.offset[1], device.offset[2],
                     host.count[0], host.count[1], host.count[2], host.offset[0], host.offset[1],
                     host.offset[2]);
        }
    }
    if (worst_layer < 0)
        snprintf(detail, sizeof detail, "%d layers of %zu tokens", f->L, f->N);
    test_true(t, what, worst_layer < 0, detail);
}

/* Counter-generator routes at several probabilities and steps: the device's
 * draws equal the host's (route by route), and so do the counts. */
static void generator_counts_match_device_compaction(test_context *t)
{
    fixture f;
    if (!fixture_open(t, &f, 4, 301))
        return;
    static const double probs[][3] = {{0.5, 0.5, 0.0}, {0.3, 0.3, 0.4}, {0.05, 0.0, 0.95},
                                      {1.0, 0.0, 0.0}, {0.0, 0.0, 1.0}};
    uint8_t *host = test_malloc((size_t)f.L * f.N);
    for (size_t p = 0; p < sizeof probs / sizeof probs[0]; p++) {
        duo_route_thresholds th;
        test_ok(t, "thresholds", duo_route_thresholds_make(probs[p][0], probs[p][1], probs[p][2], &th));
        for (uint64_t step = 0; step < 3; step++) {
            uint64_t seed = 1000 + p;
            test_ok(t, "batch", duo_model_set_batch_random_routes(f.m, f.a, f.tokens, f.targets, &th,
                                                                  seed, step * 977));
            char name[128];
            snprintf(name, sizeof name, "generator_counts_equal_device_p%.2f_%.2f_%.2f_step%llu",
                     probs[p][0], probs[p][1], probs[p][2], (unsigned long long)(step * 977));
            device_counts_equal_host_counts(t, &f, name);
            for (int l = 0; l < f.L; l++)
                for (size_t i = 0; i < f.N; i++)
                    host[(size_t)l * f.N + i] = (uint8_t)duo_route_pick(&th, seed, step * 977,
                                                                       (uint32_t)l, (uint32_t)i);
            snprintf(name, sizeof name, "generator_routes_equal_host_p%.2f_step%llu", probs[p][0],
                     (unsigned long long)(step * 977));
            test_same_bytes(t, name, f.routes, host, (size_t)f.L * f.N);
        }
    }
    free(host);
    fixture_close(&f);
}

/* Routes uploaded from the host and one route per layer (evaluation, the
 * oracle) give the device's counts too. */
static void host_route_counts_match_device_compaction(test_context *t)
{
    fixture f;
    if (!fixture_open(t, &f, 3, 257))
        return;
    for (size_t i = 0; i < (size_t)f.L * f.N; i++)
        f.routes[i] = (uint8_t)duo_rng_below(&t->rng, 3);
    memset(f.routes, DUO_ROUTE_BIG, f.N / 3); /* layer 0: a long run of one route */
    test_ok(t, "batch", duo_model_set_batch(f.m, f.a, f.tokens, f.targets, f.routes));
    device_counts_equal_host_counts(t, &f, "set_batch_counts_equal_device");
    for (int r = 0; r < DUO_ROUTE_COUNT; r++) {
        test_ok(t, "layer route", duo_model_set_layer_route(f.m, f.a, 1, (duo_route)r));
        char name[64];
        snprintf(name, sizeof name, "set_layer_route_%d_counts_equal_device", r);
        device_counts_equal_host_counts(t, &f, name);
    }
    duo_status st = duo_model_set_layer_route(f.m, f.a, 0, (duo_route)3);
    test_true(t, "set_layer_route_refuses_route_3", st == DUO_ERR_INVALID_ARGUMENT,
              st == DUO_OK ? "accepted" : duo_last_error());
    fixture_close(&f);
}

/* A stage-1 step: nothing between the step's start and the loss read-back
 * waits for the device; the whole step waits twice (the loss and the
 * gradient norm). */
static void training_step_waits_only_for_its_loss(test_context *t)
{
    fixture f;
    if (!fixture_open(t, &f, 2, 150))
        return;
    duo_train_config train = {.batch = 2, .steps = 4, .lr = 1e-3, .warmup = 1, .min_lr = 1e-4,
                              .schedule = DUO_SCHEDULE_COSINE, .weight_decay = 0.1,
                              .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .grad_clip = 1.0};
    duo_optimizer o;
    test_ok(t, "optimizer", duo_optimizer_create(f.m, &o));
    duo_route_thresholds th;
    test_ok(t, "thresholds", duo_route_thresholds_make(0.4, 0.4, 0.2, &th));
    duo_runtime *rt = t->rt;
    for (long step = 0; step < 2; step++) {
        test_ok(t, "batch", duo_model_set_batch_random_routes(f.m, f.a, f.tokens, f.targets, &th, 3,
                                                              (uint64_t)step));
        unsigned long start = duo_blocking_total(rt);
        test_ok(t, "embed", duo_model_forward_embed(f.m, f.a));
        for (int l = 0; l < f.L; l++)
            test_ok(t, "layer", duo_model_forward_layer(f.m, f.a, l));
        unsigned long before_head = duo_blocking_total(rt);
        float loss;
        test_ok(t, "head", duo_model_forward_head(f.m, f.a, &loss, NULL));
        unsigned long after_head = duo_blocking_total(rt);
        char detail[128];
        snprintf(detail, sizeof detail, "%lu blocking calls in the layers, %lu in the head "
                 "(want 0 and 1: the loss)", before_head - start, after_head - before_head);
        test_true(t, "no_blocking_call_before_the_loss", before_head == start &&
                  after_head - before_head == 1, detail);
        test_ok(t, "backward", duo_model_backward(f.m, f.a));
    }
    test_ok(t, "batch", duo_model_set_batch_random_routes(f.m, f.a, f.tokens, f.targets, &th, 3, 2));
    unsigned long start = duo_blocking_total(rt);
    duo_step_result r;
    test_ok(t, "step", duo_train_step(f.m, f.a, &o, &train, 2, &r));
    unsigned long used = duo_blocking_total(rt) - start;
    char detail[96];
    snprintf(detail, sizeof detail, "%lu blocking calls in duo_train_step (want 2: loss, "
             "gradient norm)", used);
    test_true(t, "train_step_blocks_twice", used == 2, detail);
    duo_optimizer_destroy(&o);
    fixture_close(&f);
}

static void run(test_context *t)
{
    generator_counts_match_device_compaction(t);
    host_route_counts_match_device_compaction(t);
    training_step_waits_only_for_its_loss(t);
}

int main(int argc, char **argv) { return test_main(argc, argv, "test_host_counts", run); }
