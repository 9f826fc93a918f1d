/* duocl's side of the router parity test (tests/parity/torch_router.py): the
 * soft-mixture forward, the router's backward and router training steps of
 * stage 3 (host/router.h) on the training parity test's fixture.
 *
 *   router_parity_dump FIXTURE.ckpt OUT.ckpt [--beta B] [--budget K] [--alpha A]
 *                      [--lr LR] [--steps S] [--scale W] [--seed N]
 *
 * Loads the fixture's model and batch (tests/parity/fixture; its routes are
 * not used: the router decides), then for each alphabet, SB and KSB, creates
 * a router (duo_router_create with the seed) and replaces its weights by
 * normal(0, W) draws (default W 0.25: the router's own normal(0, 0.02) start
 * would give nearly uniform P and hide a wrong softmax), and writes, under
 * the prefix "sb." or "ksb.":
 *   settings        f32 (4)          budget K, alpha, W, L
 *   weight0         f32 (L, d, M)    the router weights everything starts from
 *   forward.logits  f32 (N, V)       soft forward with beta B
 *   forward.losses  f32 (B, T)       per-token nats, 0 where masked
 *   forward.ce      f32 scalar       mean over unmasked targets
 *   forward.probs   f32 (L, N, M)    P = softmax(B * f Wr[l]), columns in route id order
 *   forward.penalty f32 scalar       duo_router_penalty: alpha * mean_b (u_b - K/L)^2
 *   forward.aux     f32 (B)          its gradient on each P_big of sequence b
 *   grad_ce         f32 (L, d, M)    router gradient of the CE alone (aux 0)
 *   grad            f32 (L, d, M)    router gradient of CE + penalty
 *   step_hparams    f32 (S, 2)       per step: beta (B * (1 + 0.2 s)), lr
 *   steps           f32 (S, 4)       per step (duo_router_train_step): ce, penalty,
 *                                    big fraction, grad norm
 *   step_grads      f32 (S, L*d*M)   the gradient each step used (before clipping)
 *   weight          f32 (L, d, M)    router weights after the S steps
 * Defaults: B 2.5, K 1, alpha 20 (SB) / 1 (KSB): the SB router's gradient
 * norm is above duo_router_train_step's clip norm 1 and KSB's is below, so
 * both sides of the clipping are checked; LR 1e-2, S 2, seed 7. --alpha sets
 * both. Settings are stored as the floats the steps used (the step takes
 * doubles: each is the float widened), so the reference reads exactly them.
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
#include "study/router.h"
#include "testutil.h"

typedef struct settings {
    float beta, alpha[2], lr, scale; /* alpha per alphabet: SB, KSB */
    int budget;
    long steps;
    uint64_t seed;
} settings;

static duo_status add(duo_checkpoint_writer *w, const char *prefix, const char *name, int ndim,
                      const uint64_t *shape, const float *data)
{
    char full[96];
    snprintf(full, sizeof full, "%s.%s", prefix, name);
    duo_tensor_desc desc = {.name = full, .dtype = DUO_DTYPE_F32, .ndim = ndim, .data = data};
    for (int i = 0; i < ndim; i++)
        desc.shape[i] = shape[i];
    return duo_checkpoint_writer_add(w, &desc);
}

/* Host scratch and device objects of one alphabet's run, freed together. */
typedef struct run {
    duo_router *r;
    duo_activations *a;
    cl_mem aux;
    float *weights, *grad, *logits, *losses, *probs, *aux_grad, *zeros, *step_grads;
    float step_hparams[64 * 2], steps[64 * 4];
} run;

static void run_free(run *x)
{
    duo_router_destroy(x->r);
    duo_activations_destroy(x->a);
    duo_buffer_release(&x->aux);
    float *all[] = {x->weights, x->grad, x->logits, x->losses, x->probs, x->aux_grad, x->zeros,
                    x->step_grads};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

/* Soft forward with beta, then backward with aux (B floats) as the penalty's
 * gradient; the router gradient lands in x->grad. */
static duo_status forward_backward(duo_model *m, run *x, const test_batch *b, float beta,
                                   const float *aux, float *ce)
{
    duo_router_binding bind = duo_router_bind(x->r, DUO_ROUTER_SOFT, beta);
    bind.aux = x->aux; /* the router's own is allocated by its first train step */
    DUO_TRY(duo_activations_set_router(m, x->a, &bind));
    DUO_TRY(duo_model_set_batch(m, x->a, b->tokens, b->targets, b->routes));
    DUO_TRY(duo_model_forward(m, x->a, ce, x->losses));
    size_t N = b->B * b->T, V = (size_t)m->config.vocab;
    /* backward overwrites the logits with their gradient */
    DUO_TRY(duo_buffer_read(m->rt, duo_activations_logits(x->a), 0, N * V * sizeof(float),
                            x->logits));
    DUO_TRY(duo_activations_read_router_probs(m, x->a, x->probs));
    DUO_TRY(duo_buffer_write(m->rt, x->aux, 0, b->B * sizeof(float), aux));
    DUO_TRY(duo_model_backward(m, x->a));
    return duo_buffer_read(m->rt, x->r->grads, 0, x->r->n_params * sizeof(float), x->grad);
}

static duo_status run_alphabet(duo_model *m, const test_batch *b, const settings *s, int which,
                               duo_checkpoint_writer *w, run *x)
{
    duo_alphabet alphabet = which ? DUO_ALPHABET_KSB : DUO_ALPHABET_SB;
    const char *prefix = which ? "ksb" : "sb";
    float alpha = s->alpha[which];
    size_t L = (size_t)m->config.n_layers, d = (size_t)m->config.d_model;
    size_t N = b->B * b->T, V = (size_t)m->config.vocab, S = (size_t)s->steps;
    DUO_TRY(duo_router_create(m, alphabet, s->seed, &x->r));
    size_t P = x->r->n_params, M = (size_t)x->r->M;
    DUO_TRY(duo_activations_create(m, b->B, b->T, true, &x->a));
    DUO_TRY(duo_buffer_create(m->rt, b->B * sizeof(float), &x->aux));
    x->weights = malloc(P * sizeof(float));
    x->grad = malloc(P * sizeof(float));
    x->logits = malloc(N * V * sizeof(float));
    x->losses = malloc(N * sizeof(float));
    x->probs = malloc(L * N * M * sizeof(float));
    x->aux_grad = malloc(b->B * sizeof(float));
    x->zeros = calloc(b->B, sizeof(float));
    x->step_grads = malloc((S ? S : 1) * P * sizeof(float));
    if (!x->weights || !x->grad || !x->logits || !x->losses || !x->probs || !x->aux_grad ||
        !x->zeros || !x->step_grads)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the %s router dump", prefix);

    duo_rng rng = duo_rng_seeded(s->seed ^ 0x7a11e5u);
    for (size_t i = 0; i < P; i++)
        x->weights[i] = s->scale * duo_rng_normal(&rng);
    DUO_TRY(duo_buffer_write(m->rt, x->r->weights, 0, P * sizeof(float), x->weights));
    float settings_row[4] = {(float)s->budget, alpha, s->scale, (float)L};
    uint64_t ldm[3] = {L, d, M}, nv[2] = {N, V}, bt[2] = {b->B, b->T}, lnm[3] = {L, N, M};
    uint64_t four[1] = {4}, nb[1] = {b->B};
    DUO_TRY(add(w, prefix, "settings", 1, four, settings_row));
    DUO_TRY(add(w, prefix, "weight0", 3, ldm, x->weights));

    /* CE alone first (aux 0), then CE + penalty: the second forward is the one written. */
    float ce = 0;
    DUO_TRY(forward_backward(m, x, b, s->beta, x->zeros, &ce));
    DUO_TRY(add(w, prefix, "grad_ce", 3, ldm, x->grad));
    float penalty = (float)duo_router_penalty(x->r, x->probs, b->B, b->T, s->budget, alpha,
                                              x->aux_grad);
    DUO_TRY(forward_backward(m, x, b, s->beta, x->aux_grad, &ce));
    DUO_TRY(add(w, prefix, "forward.logits", 2, nv, x->logits));
    DUO_TRY(add(w, prefix, "forward.losses", 2, bt, x->losses));
    DUO_TRY(add(w, prefix, "forward.ce", 0, NULL, &ce));
    DUO_TRY(add(w, prefix, "forward.probs", 3, lnm, x->probs));
    DUO_TRY(add(w, prefix, "forward.penalty", 0, NULL, &penalty));
    DUO_TRY(add(w, prefix, "forward.aux", 1, nb, x->aux_grad));
    DUO_TRY(add(w, prefix, "grad", 3, ldm, x->grad));

    for (size_t step = 0; step < S; step++) {
        float beta = s->beta * (1.0f + 0.2f * (float)step); /* rising, as in training */
        duo_router_hparams h = {.budget = s->budget, .alpha = alpha, .beta = beta, .lr = s->lr,
                                .step = (long)step};
        duo_router_step out;
        DUO_TRY(duo_model_set_batch(m, x->a, b->tokens, b->targets, b->routes));
        DUO_TRY(duo_router_train_step(x->r, x->a, &h, &out));
        DUO_TRY(duo_buffer_read(m->rt, x->r->grads, 0, P * sizeof(float), x->step_grads + step * P));
        x->step_hparams[step * 2] = beta;
        x->step_hparams[step * 2 + 1] = s->lr;
        float row[4] = {out.ce, out.penalty, out.big_fraction, out.grad_norm};
        memcpy(x->steps + step * 4, row, sizeof row);
        printf("%s step %zu: beta %g, ce %.6f, penalty %.6f, big fraction %.6f, grad norm %.6f\n",
               prefix, step, (double)beta, (double)out.ce, (double)out.penalty,
               (double)out.big_fraction, (double)out.grad_norm);
    }
    if (S > 0) {
        uint64_t s2[2] = {S, 2}, s4[2] = {S, 4}, sp[2] = {S, P};
        DUO_TRY(add(w, prefix, "step_hparams", 2, s2, x->step_hparams));
        DUO_TRY(add(w, prefix, "steps", 2, s4, x->steps));
        DUO_TRY(add(w, prefix, "step_grads", 2, sp, x->step_grads));
    }
    DUO_TRY(duo_buffer_read(m->rt, x->r->weights, 0, P * sizeof(float), x->weights));
    return add(w, prefix, "weight", 3, ldm, x->weights);
}

static duo_status dump(duo_runtime *rt, const char *fixture, const char *out_path,
                       const settings *s)
{
    duo_checkpoint *ck;
    DUO_TRY(duo_checkpoint_open(fixture, &ck));
    duo_config config;
    char source[1100];
    snprintf(source, sizeof source, "%s (config block)", duo_checkpoint_path(ck));
    duo_status st = duo_config_parse(duo_checkpoint_config_json(ck), source, &config);
    duo_model *m = NULL;
    test_batch b = {0}; /* its routes are unused by a soft router, but set_batch wants them */
    duo_checkpoint_writer *w = NULL;
    if (st == DUO_OK && (s->budget < 0 || s->budget > config.model.n_layers))
        st = duo_fail(DUO_ERR_INVALID_ARGUMENT, "--budget %d is outside [0, %d]", s->budget,
                      config.model.n_layers);
    if (st == DUO_OK)
        st = test_batch_read(ck, (size_t)config.model.n_layers, &b);
    if (st == DUO_OK)
        st = duo_model_create(rt, &config.model, &m);
    if (st == DUO_OK)
        st = duo_model_load(m, ck, NULL);
    if (st == DUO_OK)
        st = duo_checkpoint_writer_open(out_path, duo_checkpoint_config_json(ck), &w);
    for (int which = 0; which < 2 && st == DUO_OK; which++) {
        run x = {0};
        st = run_alphabet(m, &b, s, which, w, &x);
        run_free(&x);
    }
    if (st == DUO_OK) {
        st = duo_checkpoint_writer_commit(w);
        w = NULL;
    }
    duo_checkpoint_writer_abort(w);
    test_batch_free(&b);
    duo_model_destroy(m);
    duo_checkpoint_close(ck);
    return st;
}

static int usage(void)
{
    fprintf(stderr, "usage: router_parity_dump FIXTURE.ckpt OUT.ckpt [--beta B] [--budget K] "
                    "[--alpha A] [--lr LR] [--steps S] [--scale W] [--seed N]\n");
    return 1;
}

int main(int argc, char **argv)
{
    settings s = {.beta = 2.5f, .alpha = {20.0f, 1.0f}, .lr = 1e-2f, .scale = 0.25f, .budget = 1,
                  .steps = 2, .seed = 7};
    if (argc < 3 || argc % 2 != 1)
        return usage();
    for (int i = 3; i + 1 < argc; i += 2) {
        char *end;
        double v = strtod(argv[i + 1], &end);
        if (*end || end == argv[i + 1])
            return usage();
        if (strcmp(argv[i], "--beta") == 0 && v > 0)
            s.beta = (float)v;
        else if (strcmp(argv[i], "--budget") == 0 && v >= 0 && v == (int)v)
            s.budget = (int)v;
        else if (strcmp(argv[i], "--alpha") == 0 && v >= 0)
            s.alpha[0] = s.alpha[1] = (float)v;
        else if (strcmp(argv[i], "--lr") == 0 && v >= 0)
            s.lr = (float)v;
        else if (strcmp(argv[i], "--steps") == 0 && v >= 0 && v <= 64 && v == (long)v)
            s.steps = (long)v;
        else if (strcmp(argv[i], "--scale") == 0 && v >= 0)
            s.scale = (float)v;
        else if (strcmp(argv[i], "--seed") == 0 && v >= 0 && v == (double)(uint64_t)v)
            s.seed = (uint64_t)v;
        else
            return usage();
    }
    duo_runtime *rt;
    duo_status st = duo_runtime_create(NULL, &rt);
    if (st == DUO_OK) {
        fprintf(stderr, "router_parity_dump: kernels from %s\n", duo_runtime_kernel_source(rt));
        st = dump(rt, argv[1], argv[2], &s);
        duo_runtime_destroy(rt);
    }
    if (st != DUO_OK) {
        fprintf(stderr, "router_parity_dump: %s\n", duo_last_error());
        return 1;
    }
    return 0;
}
