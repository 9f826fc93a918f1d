/* duocl router train: a learned router per layer under a compute budget,
 * trained on the frozen stage-1 model (stage 3 of the study). Parses the
 * options, calls duo_router_train and prints its progress. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "duocl/router.h"
#include "duocl/runtime.h"

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
    "'duocl eval RUN --routes router:RUN/router/k<K>-SB/router.ckpt[,exact]'.\n"
    "--teacher oracle instead imitates the oracle's per-token BIG masks at budget K:\n"
    "--teacher-windows windows of the training data (default 64) are searched once\n"
    "(every pattern with K BIG layers; per token the lowest loss on its next token),\n"
    "each step runs the frozen model on the oracle's routes and the loss is the\n"
    "per-layer cross-entropy of softmax(z) against the oracle's route, plus the same\n"
    "budget term (--alpha 3 by default with the oracle teacher). Writes RUN/router/k<K>-SB-oracle/. A --seed other than 1 adds\n"
    "-s<S> to the folder's name (k<K>-SB-s2, k<K>-SB-oracle-s2).\n\n"
    "duocl router signal RUN --budget K: the signal router, a baseline. On\n"
    "--teacher-windows training windows (default 64, picked by --seed) the oracle at\n"
    "budget K gives each token's benefit (loss_small - loss_oracle) and the fraction\n"
    "q_l of tokens it puts on BIG at layer l; of the cheap signals (duocl difficulty\n"
    "--signals) the one with the largest |Spearman| with the benefit (or --signal)\n"
    "is kept with its sign, and threshold_l leaves a fraction q_l of those tokens\n"
    "above it. A token takes BIG at layer l when its signed signal exceeds\n"
    "threshold_l. Writes RUN/router/k<K>-SB-signal/signal.json; evaluate with\n"
    "'duocl eval RUN --routes signal:RUN/router/k<K>-SB-signal/signal.json'.";

enum { BUDGET, ALPHABET, ALPHA, STEPS, BETA_START, BETA_END, LR, BATCH, SEED, RESUME, CHECKPOINT,
       TEACHER, TEACHER_WINDOWS, SIGNAL, DEVICE, N_OPTIONS };


/* Syntax only: the library checks the ranges and names what is allowed. */
static bool parse_number(const cli_option *option, double *out)
{
    if (!option->value)
        return true;
    char *end;
    double v = strtod(option->value, &end);
    if (end == option->value || *end) {
        fprintf(stderr, "duocl router train: --%s '%s': not a number\n", option->name,
                option->value);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_whole(const cli_option *option, int *out)
{
    double v = *out;
    if (!parse_number(option, &v))
        return false;
    if (!(v >= -1e9 && v <= 1e9) || v != floor(v)) { /* NaN and huge values too, before the cast */
        fprintf(stderr, "duocl router train: --%s '%s': not a whole number\n", option->name,
                option->value);
        return false;
    }
    *out = (int)v;
    return true;
}

static bool parse_seed(const cli_option *option, uint64_t *out)
{
    if (!option->value)
        return true;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(option->value, &end, 10);
    if (end == option->value || *end || errno || option->value[0] == '-') {
        fprintf(stderr, "duocl router train: --seed '%s': allowed a whole number >= 0\n",
                option->value);
        return false;
    }
    *out = v;
    return true;
}

static int parse_options(const cli_option *o, duo_router_train_options *t)
{
    duo_router_train_defaults(t);
    if (o[ALPHABET].value)
        t->alphabet = o[ALPHABET].value;
    t->resume = o[RESUME].value != NULL;
    t->checkpoint = o[CHECKPOINT].value;
    t->teacher = o[TEACHER].value;
    bool ok = parse_whole(&o[BUDGET], &t->budget) && parse_number(&o[ALPHA], &t->alpha) &&
              parse_whole(&o[STEPS], &t->steps) && parse_number(&o[BETA_START], &t->beta_start) &&
              parse_number(&o[BETA_END], &t->beta_end) && parse_number(&o[LR], &t->lr) &&
              parse_whole(&o[BATCH], &t->batch) && parse_seed(&o[SEED], &t->seed) &&
              parse_whole(&o[TEACHER_WINDOWS], &t->teacher_windows);
    /* The imitation loss is bounded by ln 2 per layer: the budget term weighs less. */
    if (ok && t->teacher && strcmp(t->teacher, "oracle") == 0 && !o[ALPHA].value)
        t->alpha = 3;
    return ok ? CLI_OK : CLI_USER_ERROR;
}

/* \r-redrawn on a terminal; otherwise a line every 25 steps. */
void cli_print_router_event(const duo_router_event *e, void *user)
{
    (void)user;
    bool tty = isatty(STDERR_FILENO) == 1;
    if (e->kind == DUO_ROUTER_EVENT_DONE) {
        fprintf(stderr, "%swrote %s\n", tty ? "\n" : "", e->path);
        return;
    }
    if (e->kind != DUO_ROUTER_EVENT_STEP || (!tty && e->step % 25 != 0 && e->step != e->steps))
        return;
    fprintf(stderr, "%srouter k=%d: step %ld/%ld  ce %.4f  P_big %.3f (target %.3f)  beta %.2f  "
                    "ETA %.0f s   %s",
            tty ? "\r" : "", e->budget, e->step, e->steps, e->ce, e->big_fraction, e->target,
            e->beta, e->elapsed_s / (double)(e->step - e->first_step) * (double)(e->steps - e->step),
            tty ? "" : "\n");
}

/* duocl router signal: fits the signal router and prints it. */
static int run_signal(const cli_option *o, const char *run_dir)
{
    static const int train_only[] = {ALPHABET, ALPHA, STEPS, BETA_START, BETA_END, LR, BATCH,
                                     RESUME, CHECKPOINT, TEACHER};
    for (size_t i = 0; i < sizeof train_only / sizeof train_only[0]; i++)
        if (o[train_only[i]].value) {
            fprintf(stderr, "duocl router signal: --%s is an option of 'duocl router train' "
                            "(allowed here: --budget, --teacher-windows, --seed, --signal, "
                            "--device)\n", o[train_only[i]].name);
            return CLI_USER_ERROR;
        }
    duo_signal_router_options so = {.budget = -1, .seed = 1, .signal = o[SIGNAL].value};
    if (!parse_whole(&o[BUDGET], &so.budget) || !parse_seed(&o[SEED], &so.seed) ||
        !parse_whole(&o[TEACHER_WINDOWS], &so.teacher_windows))
        return CLI_USER_ERROR;
    if (so.budget < 0) {
        fprintf(stderr, "duocl router signal: --budget K is required (0 to L)\n");
        return CLI_USER_ERROR;
    }
    duo_runtime *rt = NULL;
    duo_runtime_options ro = {.device = cli_device_selector(&o[DEVICE])};
    duo_signal_router_summary *r = calloc(1, sizeof *r);
    duo_status st = r ? duo_runtime_create(&ro, &rt) : DUO_ERR_OUT_OF_MEMORY;
    if (st == DUO_OK)
        st = duo_signal_router_train(rt, run_dir, &so, r);
    if (st == DUO_OK) {
        printf("signal router k=%d: %s%s (Spearman with the benefit %+.3f on the training "
               "windows)\n  layer  BIG fraction  threshold\n", so.budget,
               r->sign < 0 ? "-" : "", r->signal, r->spearman);
        for (int l = 0; l < r->layers; l++)
            printf("  %5d  %12.3f  %9.4g\n", l, r->fractions[l], r->thresholds[l]);
        fprintf(stderr, "wrote %s\n", r->path);
    }
    free(r);
    duo_runtime_destroy(rt);
    return cli_report(st);
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
        {"teacher", "T", "budget (the loss above; default) or oracle (imitate the oracle)", NULL},
        {"teacher-windows", "N", "training windows the oracle teacher searches (default 64)",
         NULL},
        {"signal", "NAME", "router signal: the signal (default: the best on the training windows)",
         NULL},
        {"device", "D", "device selector (default: $DUOCL_DEVICE, else the best device)", NULL},
    };
    const char *positionals[2];
    int code = cli_parse(&cli_router_command, argc, argv, o, N_OPTIONS, positionals, 2, 2, HELP);
    if (code != CLI_OK)
        return code;
    if (strcmp(positionals[0], "signal") == 0)
        return run_signal(o, positionals[1]);
    if (strcmp(positionals[0], "train") != 0) {
        fprintf(stderr, "duocl router: unknown subcommand '%s' (allowed: train, signal)\n",
                positionals[0]);
        return CLI_USER_ERROR;
    }
    if (o[SIGNAL].value) {
        fprintf(stderr, "duocl router train: --signal is an option of 'duocl router signal'\n");
        return CLI_USER_ERROR;
    }
    duo_router_train_options t;
    if (parse_options(o, &t) != CLI_OK)
        return CLI_USER_ERROR;
    bool tty = isatty(STDERR_FILENO) == 1;
    t.callback = cli_print_router_event;
    duo_runtime *rt = NULL;
    /* Under mpirun every rank opens its own device (rank 0 trains, see
     * duo_router_train). */
    char device[256];
    duo_runtime_options ro = {0};
    if (!cli_rank_device("router train", cli_device_selector(&o[DEVICE]), device, sizeof device,
                         &ro.device))
        return CLI_USER_ERROR;
    duo_status st = duo_runtime_create(&ro, &rt);
    if (st == DUO_OK) {
        t.stop = cli_catch_interrupts("\nduocl router train: stopping after this step (Ctrl-C "
                                      "again to abort without a checkpoint)\n");
        st = duo_router_train(rt, positionals[1], &t);
        cli_release_interrupts();
        if (st != DUO_OK && tty)
            fprintf(stderr, "\n");
    }
    duo_runtime_destroy(rt);
    return cli_report(st);
}

const cli_command cli_router_command = {
    .name = "router",
    .usage = "duocl router train RUN --budget K [--alphabet SB|KSB] [--alpha A] [--steps N] [--teacher budget|oracle] [--seed S] | signal RUN --budget K [--signal NAME]",
    .summary = "train a learned router per layer under a compute budget (stage 3)",
    .run = run_router,
};
