/* duocl's side of the PyTorch parity test (tests/parity/torch_duo.py).
 *
 *   parity_dump FIXTURE.ckpt OUT.ckpt [--steps S] [--attention auto|fused|gemm]
 *               [--gemm clblast|builtin]
 *       Loads the model's parameters and one batch (tokens, targets, routes)
 *       from the fixture, runs forward, backward and S training steps
 *       (duo_train_step, the fixture's routes at every step; default 3) and
 *       writes to OUT.ckpt (--attention: the model's attention path instead
 *       of the fixture's model.attention; --gemm: that GEMM instead of the
 *       device's; the config block stays the fixture's), in the checkpoint format of duocl/checkpoint.h,
 *       with the fixture's config as its config block:
 *         forward.logits   f32 (N, V)       N = B*T, before backward
 *         forward.losses   f32 (B, T)       per-token nats, 0 where masked
 *         forward.loss     f32 scalar       mean over unmasked targets
 *         grad.<tensor>    f32 (rows, cols) gradient of the mean loss
 *         steps            f32 (S, 4)       per step: loss, grad norm, clip factor, lr
 *         param.<tensor>   f32 (rows, cols) parameters after the S steps
 *
 *   parity_dump --make-fixture CONFIG.json OUT.ckpt [--seed N] [--batch B] [--tokens T]
 *       Writes a fixture: CONFIG's resolved JSON, the parameters of
 *       duo_model_init(seed) with the norm gains then drawn uniform in
 *       [0.5, 1.5) (at init they are all 1, and a kernel that ignored its
 *       gain would go unnoticed), and a batch of B sequences of T tokens
 *       (defaults: train.batch and model.ctx) drawn from the seed:
 *         param.<tensor>   f32 (rows, cols)
 *         batch.tokens     i32 (B, T)       uniform in [0, V)
 *         batch.targets    i32 (B, T)       uniform in [0, V), about 1 in 5 masked (-1)
 *         batch.routes     u8  (L, B, T)    0 skip, 1 small, 2 big; every layer has all three
 *
 * The device is the default one ($DUOCL_DEVICE) and the kernels come from
 * $DUOCL_KERNEL_DIR when it is set, so a perturbed copy of kernels/ can be
 * checked against the reference. Exit 0 on success, 1 with a message
 * otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duocl/checkpoint.h"
#include "duocl/config.h"
#include "duocl/runtime.h"
#include "model/model.h"
#include "model/model_io.h"
#include "base/rng.h"
#include "model/train_step.h"
#include "testutil.h"

/* Appends one f32 tensor of the given shape. */
static duo_status add_f32(duo_checkpoint_writer *w, const char *name, int ndim, uint64_t d0,
                          uint64_t d1, const float *data)
{
    duo_tensor_desc desc = {.name = name, .dtype = DUO_DTYPE_F32, .ndim = ndim, .shape = {d0, d1},
                            .data = data};
    return duo_checkpoint_writer_add(w, &desc);
}

/* Appends every tensor of a flat host copy of params or grads as PREFIX.<name>. */
static duo_status add_tensors(duo_checkpoint_writer *w, const duo_model *m, const char *prefix,
                              const float *flat)
{
    for (int i = 0; i < m->n_tensors; i++) {
        const duo_weight *t = &m->tensors[i];
        char name[96];
        snprintf(name, sizeof name, "%s.%s", prefix, t->name);
        DUO_TRY(add_f32(w, name, 2, t->rows, t->cols, flat + t->offset));
    }
    return DUO_OK;
}

/* ---- --make-fixture ---- */

static duo_status draw_batch(test_batch *b, int vocab, duo_rng *rng)
{
    size_t N = b->B * b->T;
    for (size_t i = 0; i < N; i++) {
        b->tokens[i] = (int32_t)duo_rng_below(rng, (uint64_t)vocab);
        b->targets[i] = (int32_t)duo_rng_below(rng, (uint64_t)vocab);
        if (duo_rng_below(rng, 5) == 0)
            b->targets[i] = -1;
    }
    b->targets[N / 2] = -1; /* at least one masked target */
    for (size_t l = 0; l < b->L; l++) {
        uint8_t *r = b->routes + l * N;
        for (int tries = 0;; tries++) {
            int seen[DUO_ROUTE_COUNT] = {0};
            for (size_t i = 0; i < N; i++)
                seen[r[i] = (uint8_t)duo_rng_below(rng, DUO_ROUTE_COUNT)] = 1;
            if (seen[0] && seen[1] && seen[2])
                break;
            if (tries == 100)
                return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                                "%zu tokens per layer are too few to hold all three routes", N);
        }
    }
    return DUO_OK;
}

static duo_status make_fixture(duo_runtime *rt, const char *config_path, const char *out_path,
                               uint64_t seed, long batch_arg, long tokens_arg)
{
    duo_config config;
    DUO_TRY(duo_config_load(config_path, &config));
    const duo_model_config *c = &config.model;
    size_t B = batch_arg > 0 ? (size_t)batch_arg : (size_t)config.train.batch;
    size_t T = tokens_arg > 0 ? (size_t)tokens_arg : (size_t)c->ctx;
    if (T > (size_t)c->ctx)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "--tokens %zu is above model.ctx %d", T, c->ctx);
    char *json = NULL;
    duo_model *m = NULL;
    float *host = NULL;
    duo_checkpoint_writer *w = NULL;
    test_batch b = {0};
    duo_status st = duo_config_to_json(&config, &json);
    if (st == DUO_OK)
        st = duo_model_create(rt, c, &m);
    if (st == DUO_OK)
        st = duo_model_init(m, seed);
    if (st == DUO_OK && !(host = malloc(m->n_params * sizeof *host)))
        st = duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the parameters");
    if (st == DUO_OK)
        st = duo_model_read_params(m, host);
    duo_rng rng = duo_rng_seeded(seed ^ 0x5eedf1a7u);
    for (int i = 0; st == DUO_OK && i < m->n_tensors; i++) {
        const duo_weight *t = &m->tensors[i];
        if (!t->decay)
            for (size_t j = 0; j < t->rows * t->cols; j++)
                host[t->offset + j] = duo_rng_range(&rng, 0.5f, 1.5f);
    }
    if (st == DUO_OK)
        st = test_batch_alloc(&b, B, T, (size_t)c->n_layers);
    if (st == DUO_OK)
        st = draw_batch(&b, c->vocab, &rng);
    if (st == DUO_OK)
        st = duo_checkpoint_writer_open(out_path, json, &w);
    if (st == DUO_OK)
        st = add_tensors(w, m, "param", host);
    duo_tensor_desc tensors[] = {
        {.name = "batch.tokens", .dtype = DUO_DTYPE_I32, .ndim = 2, .shape = {B, T}, .data = b.tokens},
        {.name = "batch.targets", .dtype = DUO_DTYPE_I32, .ndim = 2, .shape = {B, T}, .data = b.targets},
        {.name = "batch.routes", .dtype = DUO_DTYPE_U8, .ndim = 3, .shape = {b.L, B, T}, .data = b.routes},
    };
    for (size_t i = 0; st == DUO_OK && i < sizeof tensors / sizeof tensors[0]; i++)
        st = duo_checkpoint_writer_add(w, &tensors[i]);
    if (st == DUO_OK) {
        st = duo_checkpoint_writer_commit(w);
        w = NULL;
    }
    duo_checkpoint_writer_abort(w);
    test_batch_free(&b);
    free(host);
    duo_model_destroy(m);
    free(json);
    return st;
}

/* ---- the dump ---- */

typedef struct dump {
    duo_model *m;
    duo_activations *a;
    duo_optimizer opt;
    bool have_opt;
    float *logits, *losses, *flat, *steps;
} dump;

static duo_status run_dump(duo_runtime *rt, duo_checkpoint *ck, const char *out_path, long steps,
                           int attention, dump *d)
{
    duo_config config;
    char source[1100];
    snprintf(source, sizeof source, "%s (config block)", duo_checkpoint_path(ck));
    DUO_TRY(duo_config_parse(duo_checkpoint_config_json(ck), source, &config));
    if (attention >= 0)
        config.model.attention = (duo_attention_kind)attention;
    const duo_model_config *c = &config.model;
    test_batch b;
    DUO_TRY(test_batch_read(ck, (size_t)c->n_layers, &b));
    size_t N = b.B * b.T, V = (size_t)c->vocab;
    duo_status st = duo_model_create(rt, c, &d->m);
    if (st == DUO_OK)
        st = duo_model_load(d->m, ck, NULL);
    if (st == DUO_OK)
        st = duo_activations_create(d->m, b.B, b.T, true, &d->a);
    if (st == DUO_OK && (st = duo_optimizer_create(d->m, &d->opt)) == DUO_OK)
        d->have_opt = true;
    d->logits = malloc(N * V * sizeof(float));
    d->losses = malloc(N * sizeof(float));
    d->flat = st == DUO_OK ? malloc(d->m->n_params * sizeof(float)) : NULL;
    d->steps = malloc((size_t)(steps > 0 ? steps : 1) * 4 * sizeof(float));
    if (st == DUO_OK && !(d->logits && d->losses && d->flat && d->steps))
        st = duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the dump");

    duo_checkpoint_writer *w = NULL;
    float loss = 0;
    if (st == DUO_OK)
        st = duo_model_set_batch(d->m, d->a, b.tokens, b.targets, b.routes);
    if (st == DUO_OK)
        st = duo_model_forward(d->m, d->a, &loss, d->losses);
    if (st == DUO_OK) /* backward overwrites the logits with their gradient */
        st = duo_buffer_read(rt, duo_activations_logits(d->a), 0, N * V * sizeof(float), d->logits);
    if (st == DUO_OK)
        st = duo_model_backward(d->m, d->a);
    if (st == DUO_OK)
        st = duo_buffer_read(rt, d->m->grads, 0, d->m->n_params * sizeof(float), d->flat);
    if (st == DUO_OK)
        st = duo_checkpoint_writer_open(out_path, duo_checkpoint_config_json(ck), &w);
    if (st == DUO_OK)
        st = add_f32(w, "forward.logits", 2, N, V, d->logits);
    if (st == DUO_OK)
        st = add_f32(w, "forward.losses", 2, b.B, b.T, d->losses);
    if (st == DUO_OK)
        st = add_f32(w, "forward.loss", 0, 0, 0, &loss);
    if (st == DUO_OK)
        st = add_tensors(w, d->m, "grad", d->flat);

    for (long step = 0; st == DUO_OK && step < steps; step++) {
        duo_step_result r;
        st = duo_model_set_batch(d->m, d->a, b.tokens, b.targets, b.routes);
        if (st == DUO_OK)
            st = duo_train_step(d->m, d->a, &d->opt, &config.train, step, &r);
        if (st == DUO_OK) {
            float *row = d->steps + step * 4;
            row[0] = r.loss;
            row[1] = r.grad_norm;
            row[2] = r.clip_factor;
            row[3] = (float)r.lr;
            printf("step %ld: loss %.6f, grad norm %.6f, clip factor %.6f, lr %.6g\n", step,
                   (double)r.loss, (double)r.grad_norm, (double)r.clip_factor, r.lr);
        }
    }
    if (st == DUO_OK && steps > 0)
        st = add_f32(w, "steps", 2, (uint64_t)steps, 4, d->steps);
    if (st == DUO_OK)
        st = duo_model_read_params(d->m, d->flat);
    if (st == DUO_OK)
        st = add_tensors(w, d->m, "param", d->flat);
    if (st == DUO_OK) {
        st = duo_checkpoint_writer_commit(w);
        w = NULL;
    }
    duo_checkpoint_writer_abort(w);
    test_batch_free(&b);
    return st;
}

static duo_status dump_main(duo_runtime *rt, const char *fixture, const char *out_path, long steps,
                            int attention)
{
    duo_checkpoint *ck;
    DUO_TRY(duo_checkpoint_open(fixture, &ck));
    dump d = {0};
    duo_status st = run_dump(rt, ck, out_path, steps, attention, &d);
    free(d.logits);
    free(d.losses);
    free(d.flat);
    free(d.steps);
    if (d.have_opt)
        duo_optimizer_destroy(&d.opt);
    duo_activations_destroy(d.a);
    duo_model_destroy(d.m);
    duo_checkpoint_close(ck);
    return st;
}

static int usage(void)
{
    fprintf(stderr, "usage: parity_dump FIXTURE.ckpt OUT.ckpt [--steps S] "
                    "[--attention auto|fused|gemm] [--gemm clblast|builtin]\n"
                    "       parity_dump --make-fixture CONFIG.json OUT.ckpt [--seed N] "
                    "[--batch B] [--tokens T]\n");
    return 1;
}

int main(int argc, char **argv)
{
    bool make = argc > 1 && strcmp(argv[1], "--make-fixture") == 0;
    int first = make ? 2 : 1;
    if (argc < first + 2 || (argc - first) % 2 != 0)
        return usage();
    long steps = 3, batch_arg = 0, tokens_arg = 0;
    unsigned long long seed = 1234;
    int attention = -1; /* the fixture's */
    duo_runtime_options ro = {0};
    for (int i = first + 2; i + 1 < argc; i += 2) {
        if (!make && strcmp(argv[i], "--gemm") == 0) {
            if (!duo_gemm_kind_from_name(argv[i + 1], &ro.gemm) || ro.gemm == DUO_GEMM_AUTO)
                return usage();
            continue;
        }
        if (!make && strcmp(argv[i], "--attention") == 0) {
            for (int k = DUO_ATTENTION_AUTO; k <= DUO_ATTENTION_GEMM; k++)
                if (strcmp(argv[i + 1], duo_attention_kind_name((duo_attention_kind)k)) == 0)
                    attention = k;
            if (attention < 0)
                return usage();
            continue;
        }
        char *end;
        unsigned long long v = strtoull(argv[i + 1], &end, 10);
        if (*end || end == argv[i + 1])
            return usage();
        if (!make && strcmp(argv[i], "--steps") == 0)
            steps = (long)v;
        else if (make && strcmp(argv[i], "--seed") == 0)
            seed = v;
        else if (make && strcmp(argv[i], "--batch") == 0)
            batch_arg = (long)v;
        else if (make && strcmp(argv[i], "--tokens") == 0)
            tokens_arg = (long)v;
        else
            return usage();
    }
    duo_runtime *rt;
    duo_status st = duo_runtime_create(&ro, &rt);
    if (st == DUO_OK) {
        fprintf(stderr, "parity_dump: kernels from %s, GEMM %s (%s)\n",
                duo_runtime_kernel_source(rt), duo_gemm_kind_name(duo_runtime_gemm(rt)),
                duo_runtime_gemm_reason(rt));
        st = make ? make_fixture(rt, argv[first], argv[first + 1], seed, batch_arg, tokens_arg)
                  : dump_main(rt, argv[first], argv[first + 1], steps, attention);
        duo_runtime_destroy(rt);
    }
    if (st != DUO_OK) {
        fprintf(stderr, "parity_dump: %s\n", duo_last_error());
        return 1;
    }
    return 0;
}
