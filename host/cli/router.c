/* duocl router train: a learned router per layer under a compute budget,
 * trained on the frozen stage-1 model (stage 3 of the study). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "commands.h"
#include "duocl/data.h"
#include "base/fileio.h"
#include "model/model_io.h"
#include "study/router.h"

static const char HELP[] =
    "duocl router train RUN --budget K: trains a linear router per layer on the FFN\n"
    "input of RUN's model (frozen). While training, every token runs every allowed\n"
    "module and the layer output is the mixture h + sum_m P_m FFN_m(f) with\n"
    "P = softmax(beta z); beta rises geometrically from --beta-start to --beta-end so\n"
    "the assignments harden. Loss = CE + alpha * mean over sequences of\n"
    "(mean P_big over layers and tokens - K/L)^2.\n"
    "Defaults: --alphabet SB, --alpha 10, --steps 150, --beta-start 1,\n"
    "--beta-end 20, --lr 3e-3 (AdamW, no weight decay, clip 1), --batch 8 windows of\n"
    "the run's training data. They bring the realized budget of argmax routing to\n"
    "within a few hundredths of K/L on the quickstart model.\n"
    "Writes RUN/router/k<K>-<alphabet>/: router.ckpt (the router), latest.ckpt\n"
    "(resumable, every 50 steps and on Ctrl-C), log.jsonl. Evaluate with\n"
    "'duocl eval RUN --routes router:RUN/router/k<K>-SB/router.ckpt[,exact]'.";

enum { BUDGET, ALPHABET, ALPHA, STEPS, BETA_START, BETA_END, LR, BATCH, SEED, RESUME, CHECKPOINT,
       DEVICE, N_OPTIONS };

static volatile sig_atomic_t interrupted;
static void on_interrupt(int signal_number)
{
    (void)signal_number;
    interrupted = 1;
}

typedef struct settings {
    int budget, steps, batch;
    duo_alphabet alphabet;
    double alpha, beta_start, beta_end, lr;
    uint64_t seed;
    bool resume;
} settings;

static bool number(const char *text, double lo, double hi, double *out)
{
    if (!text)
        return true;
    char *end;
    double v = strtod(text, &end);
    if (*end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static int parse_settings(const cli_option *o, int layers, settings *s)
{
    double budget = -1, steps = 150, batch = 8, seed = 1;
    *s = (settings){.alphabet = DUO_ALPHABET_SB, .alpha = 10, .beta_start = 1, .beta_end = 20,
                    .lr = 3e-3, .resume = o[RESUME].value != NULL};
    struct { int index; double lo, hi; double *value; const char *allowed; } checks[] = {
        {BUDGET, 0, layers, &budget, "a whole number from 0 to L"},
        {ALPHA, 0, 1e6, &s->alpha, "a number >= 0"},
        {STEPS, 1, 1e7, &steps, "a whole number >= 1"},
        {BETA_START, 1e-3, 1e4, &s->beta_start, "a number in [0.001, 10000]"},
        {BETA_END, 1e-3, 1e4, &s->beta_end, "a number in [0.001, 10000]"},
        {LR, 0, 1, &s->lr, "a number in [0, 1]"},
        {BATCH, 1, 4096, &batch, "a whole number from 1 to 4096"},
        {SEED, 0, 9007199254740992.0, &seed, "a whole number >= 0"},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        if (!number(o[checks[i].index].value, checks[i].lo, checks[i].hi, checks[i].value)) {
            fprintf(stderr, "duocl router train: --%s '%s': allowed %s (L = %d)\n",
                    o[checks[i].index].name, o[checks[i].index].value, checks[i].allowed, layers);
            return CLI_USER_ERROR;
        }
    if (budget < 0) {
        fprintf(stderr, "duocl router train: --budget K is required (0 to %d)\n", layers);
        return CLI_USER_ERROR;
    }
    if (o[ALPHABET].value && (!duo_alphabet_parse(o[ALPHABET].value, &s->alphabet) ||
                              s->alphabet == DUO_ALPHABET_KB)) {
        fprintf(stderr, "duocl router train: --alphabet '%s': allowed SB or KSB\n", o[ALPHABET].value);
        return CLI_USER_ERROR;
    }
    s->budget = (int)budget;
    s->steps = (int)steps;
    s->batch = (int)batch;
    s->seed = (uint64_t)seed;
    return CLI_OK;
}

/* Geometric from beta_start at the first step to beta_end at the last. */
static double beta_at(const settings *s, long step)
{
    double f = s->steps > 1 ? (double)step / (double)(s->steps - 1) : 1.0;
    return s->beta_start * pow(s->beta_end / s->beta_start, f);
}

typedef struct session {
    duo_runtime *rt;
    duo_model *model;
    duo_config config;
    char *config_json;
    duo_router *router;
    duo_loader *loader;
    duo_activations *a;
    char dir[1200];
    FILE *log;
} session;

static duo_status open_session(const char *run_dir, const char *checkpoint, const char *device,
                               const settings *s, session *x, duo_router_state *state)
{
    char path[1400];
    if (checkpoint)
        snprintf(path, sizeof path, "%s", checkpoint);
    else {
        snprintf(path, sizeof path, "%s/checkpoints/final.ckpt", run_dir);
        if (access(path, R_OK) != 0)
            snprintf(path, sizeof path, "%s/checkpoints/latest.ckpt", run_dir);
    }
    duo_runtime_options ro = {.device = device};
    DUO_TRY(duo_runtime_create(&ro, &x->rt));
    DUO_TRY(duo_model_open(x->rt, path, &x->config, &x->model));
    DUO_TRY(duo_config_to_json(&x->config, &x->config_json));
    snprintf(x->dir, sizeof x->dir, "%s/router/k%d-%s", run_dir, s->budget,
             duo_alphabet_name(s->alphabet));
    DUO_TRY(duo_make_directories(x->dir));
    const duo_train_config *tc = &x->config.train;
    const char *names[DUO_CONFIG_MAX_DOMAINS];
    double weights[DUO_CONFIG_MAX_DOMAINS];
    for (int i = 0; i < tc->n_domains; i++) {
        names[i] = tc->domains[i].name;
        weights[i] = tc->domains[i].weight;
    }
    DUO_TRY(duo_loader_create(x->config.data.shards, names, weights, tc->n_domains,
                              (uint32_t)x->config.model.vocab, x->config.model.ctx,
                              s->seed ^ 0x726f75746572ULL, &x->loader));
    *state = (duo_router_state){0};
    char latest[1300];
    snprintf(latest, sizeof latest, "%s/latest.ckpt", x->dir);
    if (s->resume) {
        int budget;
        DUO_TRY(duo_router_load(x->model, latest, &x->router, &budget, state));
        if (budget != s->budget)
            return duo_fail(DUO_ERR_CONFIG, "%s was trained for budget %d, not %d", latest, budget,
                            s->budget);
        duo_loader_state ls = {state->loader_seed, state->loader_next};
        duo_loader_set_state(x->loader, &ls);
    } else {
        DUO_TRY(duo_router_create(x->model, s->alphabet, s->seed, &x->router));
    }
    DUO_TRY(duo_activations_create(x->model, (size_t)s->batch, (size_t)x->config.model.ctx, true,
                                   &x->a));
    snprintf(path, sizeof path, "%s/log.jsonl", x->dir);
    x->log = fopen(path, s->resume ? "a" : "w");
    if (!x->log)
        return duo_fail(DUO_ERR_IO, "cannot write %s", path);
    return DUO_OK;
}

static void close_session(session *x)
{
    if (x->log)
        fclose(x->log);
    duo_activations_destroy(x->a);
    duo_loader_destroy(x->loader);
    duo_router_destroy(x->router);
    free(x->config_json);
    duo_model_destroy(x->model);
    duo_runtime_destroy(x->rt);
}

static duo_status save(session *x, const settings *s, long step, const char *name, bool with_state)
{
    duo_loader_state ls;
    duo_loader_get_state(x->loader, &ls);
    duo_router_state state = {(uint64_t)step, ls.seed, ls.next_window};
    char path[1300];
    snprintf(path, sizeof path, "%s/%s", x->dir, name);
    return duo_router_save(x->router, path, x->config_json, s->budget, with_state ? &state : NULL);
}

/* \r-redrawn on a terminal; otherwise a line every 25 steps. */
static void print_progress(const settings *s, int layers, long step, long first_step,
                           double elapsed, const duo_router_step *r, double beta)
{
    bool tty = isatty(STDERR_FILENO) == 1;
    if (!tty && (step + 1) % 25 != 0 && step + 1 != s->steps)
        return;
    fprintf(stderr, "%srouter k=%d: step %ld/%d  ce %.4f  P_big %.3f (target %.3f)  beta %.2f  "
                    "ETA %.0f s   %s",
            tty ? "\r" : "", s->budget, step + 1, s->steps, (double)r->ce, (double)r->big_fraction,
            (double)s->budget / layers, beta,
            elapsed / (double)(step + 1 - first_step) * (double)(s->steps - step - 1),
            tty ? "" : "\n");
}

static duo_status train(session *x, const settings *s, long first_step)
{
    int T = x->config.model.ctx, B = s->batch;
    int32_t *windows = malloc((size_t)B * (size_t)(T + 1) * sizeof *windows);
    int32_t *tokens = malloc((size_t)B * (size_t)T * sizeof *tokens);
    int32_t *targets = malloc((size_t)B * (size_t)T * sizeof *targets);
    uint8_t *routes = calloc((size_t)x->config.model.n_layers * (size_t)B * (size_t)T, 1);
    duo_status st = windows && tokens && targets && routes
                        ? DUO_OK
                        : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for router batches");
    double start = duo_now_seconds();
    long step = first_step;
    for (; step < s->steps && st == DUO_OK && !interrupted; step++) {
        st = duo_loader_next(x->loader, B, windows, NULL);
        for (int b = 0; b < B && st == DUO_OK; b++)
            for (int t = 0; t < T; t++) {
                tokens[b * T + t] = windows[b * (T + 1) + t];
                targets[b * T + t] = windows[b * (T + 1) + t + 1];
            }
        if (st == DUO_OK)
            st = duo_model_set_batch(x->model, x->a, tokens, targets, routes);
        duo_router_hparams h = {.budget = s->budget, .alpha = s->alpha, .beta = beta_at(s, step),
                                .lr = s->lr, .step = step};
        duo_router_step r = {0};
        if (st == DUO_OK)
            st = duo_router_train_step(x->router, x->a, &h, &r);
        if (st != DUO_OK)
            break;
        fprintf(x->log,
                "{\"step\":%ld,\"ce\":%.9g,\"penalty\":%.9g,\"big_fraction\":%.9g,\"target\":%.9g,"
                "\"beta\":%.9g,\"grad_norm\":%.9g}\n",
                step + 1, (double)r.ce, (double)r.penalty, (double)r.big_fraction,
                (double)s->budget / x->config.model.n_layers, h.beta, (double)r.grad_norm);
        fflush(x->log);
        print_progress(s, x->config.model.n_layers, step, first_step, duo_now_seconds() - start, &r, h.beta);
        if ((step + 1) % 50 == 0)
            st = save(x, s, step + 1, "latest.ckpt", true);
    }
    if (isatty(STDERR_FILENO) == 1)
        fprintf(stderr, "\n");
    if (st == DUO_OK)
        st = save(x, s, step, "latest.ckpt", true);
    if (st == DUO_OK && interrupted)
        st = duo_fail(DUO_ERR_INTERRUPTED, "interrupted at step %ld; %s/latest.ckpt saved, "
                      "continue with --resume", step, x->dir);
    if (st == DUO_OK)
        st = save(x, s, step, "router.ckpt", false);
    free(windows);
    free(tokens);
    free(targets);
    free(routes);
    return st;
}

static int run_router(int argc, char **argv)
{
    cli_option o[N_OPTIONS] = {
        {"budget", "K", "target BIG layers per token (0 to L; required)", NULL},
        {"alphabet", "A", "SB (small or big) or KSB (skip, small or big); default SB", NULL},
        {"alpha", "A", "weight of the budget penalty (default 10)", NULL},
        {"steps", "N", "training steps (default 150)", NULL},
        {"beta-start", "B0", "softmax sharpness at the first step (default 1)", NULL},
        {"beta-end", "B1", "softmax sharpness at the last step (default 20)", NULL},
        {"lr", "LR", "AdamW learning rate (default 3e-3)", NULL},
        {"batch", "B", "windows per step (default 8)", NULL},
        {"seed", "S", "router initialisation and data order (default 1)", NULL},
        {"resume", NULL, "continue RUN/router/k<K>-<A>/latest.ckpt", NULL},
        {"checkpoint", "PATH", "model checkpoint (default RUN/checkpoints/final or latest)", NULL},
        {"device", "D", "device selector (default: $DUOCL_DEVICE, else the best device)", NULL},
    };
    const char *positionals[2];
    int code = cli_parse(&cli_router_command, argc, argv, o, N_OPTIONS, positionals, 2, 2, HELP);
    if (code != CLI_OK)
        return code;
    if (strcmp(positionals[0], "train") != 0) {
        fprintf(stderr, "duocl router: unknown subcommand '%s' (allowed: train)\n", positionals[0]);
        return CLI_USER_ERROR;
    }
    session x = {0};
    settings s;
    duo_router_state state;
    /* --budget is checked against the model's layer count once it is loaded. */
    code = parse_settings(o, DUO_MAX_LAYERS, &s);
    if (code != CLI_OK)
        return code;
    duo_status st = open_session(positionals[1], o[CHECKPOINT].value,
                                 cli_device_selector(&o[DEVICE]), &s, &x, &state);
    if (st == DUO_OK && s.budget > x.config.model.n_layers)
        st = duo_fail(DUO_ERR_INVALID_ARGUMENT, "--budget %d: the model has %d layers", s.budget,
                      x.config.model.n_layers);
    if (st == DUO_OK) {
        struct sigaction sa = {0}, old;
        sa.sa_handler = on_interrupt;
        sigaction(SIGINT, &sa, &old);
        st = train(&x, &s, (long)state.step);
        sigaction(SIGINT, &old, NULL);
    }
    if (st == DUO_OK)
        fprintf(stderr, "wrote %s/router.ckpt\n", x.dir);
    close_session(&x);
    return cli_report(st);
}

const cli_command cli_router_command = {
    .name = "router",
    .usage = "duocl router train RUN --budget K [--alphabet SB|KSB] [--alpha A] [--steps N]",
    .summary = "train a learned router per layer under a compute budget (stage 3)",
    .run = run_router,
};
