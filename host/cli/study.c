/* duocl study CONFIG: the whole study as resumable stages (host/pipeline/),
 * with each stage's progress printed as its own command prints it. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "duocl/study.h"

static const char HELP[] =
    "Runs, in order, each stage only if it is not already done for this config:\n"
    "  tune        duocl tune --seconds 120 --no-bench, when the device has no stored\n"
    "              GEMM parameters yet (untuned CLBlast is ~3x slower here)\n"
    "  data        corpora (scripts/fetch_corpora.py), tokenizer, token shards\n"
    "  train       duocl train (resumes an interrupted run)\n"
    "  eval        duocl eval: all-big, all-small, random (the training p_big), on\n"
    "              the oracle's tokens\n"
    "  oracle      duocl oracle, every budget\n"
    "  router-kK   duocl router train at K = L/3, L/2, 2L/3, then duocl eval with it\n"
    "              (argmax and exact budget)\n"
    "  router-kK-s2, oracle-router-kK, oracle-router-kK-s2, signal-router-kK\n"
    "              at each K: the budget-loss router of seed 2, the oracle-taught\n"
    "              routers (--teacher oracle) of seeds 1 and 2, the signal router\n"
    "              (duocl router signal), each evaluated (issue 16)\n"
    "  difficulty  duocl difficulty --signals at budget 1 (difficulty-k1.json) and\n"
    "              L/2 (difficulty.json, shown in the report)\n"
    "  report      duocl report: RUN/report.html\n"
    "Markers of finished stages are in RUN/study/. Ctrl-C stops after saving what\n"
    "the running stage can save; run the same command again to continue.";

enum { DEVICE, RUN_DIR, ORACLE_TOKENS, ROUTER_STEPS, ROUTER_BATCH, TEACHER_WINDOWS, NO_TUNE,
       N_OPTIONS };


/* What the printers of the stages keep between events. */
typedef struct display {
    cli_train_progress train;
    cli_oracle_display oracle;
} display;

static void on_stage(const duo_study_event *e, void *user)
{
    (void)user;
    switch (e->kind) {
    case DUO_STUDY_STAGE_SKIPPED:
        fprintf(stderr, "[%d/%d] %s: done before, skipped\n", e->index, e->count, e->stage);
        break;
    case DUO_STUDY_STAGE_RUNNING:
        fprintf(stderr, "[%d/%d] %s: running (study time so far %.0f s)\n", e->index, e->count,
                e->stage, e->study_seconds);
        break;
    case DUO_STUDY_STAGE_DONE:
        fprintf(stderr, "[%d/%d] %s: done in %.0f s\n", e->index, e->count, e->stage,
                e->stage_seconds);
        break;
    case DUO_STUDY_STAGE_FAILED:
        fprintf(stderr, "[%d/%d] %s: failed; run the same command again to continue\n", e->index,
                e->count, e->stage);
        break;
    case DUO_STUDY_NOTE:
        fprintf(stderr, "  %s\n", e->note);
        break;
    case DUO_STUDY_FINISHED:
        fprintf(stderr, "study finished in %.0f s: open %s/report.html\n", e->study_seconds,
                e->run_dir);
        break;
    }
    fflush(stderr);
}

static void on_train(const duo_train_event *e, void *user)
{
    display *d = user;
    cli_print_train_event(e, &d->train);
}

static void on_oracle(const duo_oracle_event *e, void *user)
{
    display *d = user;
    cli_print_oracle_event(e, &d->oracle);
}

static void on_report_warning(const char *message, void *user)
{
    (void)user;
    fprintf(stderr, "duocl report: warning: %s\n", message);
}

/* scripts/fetch_corpora.py beside the source tree: next to the binary's
 * parent folder (build/duocl -> scripts/) or in the working directory. */
static void fetch_command(char *out, size_t cap)
{
    char exe[1024], script[1200] = "scripts/fetch_corpora.py";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char beside[1200];
            snprintf(beside, sizeof beside, "%s/../scripts/fetch_corpora.py", exe);
            if (access(beside, R_OK) == 0)
                snprintf(script, sizeof script, "%s", beside);
        }
    }
    snprintf(out, cap, "python3 '%s'", script);
}

/* A whole number in [lo, hi] from an option; false (with a message) if not. */
static bool whole(const cli_option *o, long lo, long hi, long *out)
{
    if (!o->value)
        return true;
    char *end;
    long v = strtol(o->value, &end, 10);
    if (*end || end == o->value || v < lo || v > hi) {
        fprintf(stderr, "duocl study: --%s '%s': allowed a whole number from %ld to %ld\n", o->name,
                o->value, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

static int run_study(int argc, char **argv)
{
    cli_option o[N_OPTIONS] = {
        {"device", "D", "device selector (default: $DUOCL_DEVICE, else the best device)", NULL},
        {"run-dir", "DIR", "run folder (default runs/<config name>)", NULL},
        {"oracle-tokens", "N", "validation tokens per domain for eval and oracle (default 4096)", NULL},
        {"router-steps", "N", "steps of each router's training (default 100)", NULL},
        {"router-batch", "B", "windows per router training step (default 4)", NULL},
        {"teacher-windows", "N", "training windows the oracle searches for the oracle-taught and "
                                 "signal routers (default 32)", NULL},
        {"no-tune", NULL, "leave out the tune stage (GEMMs stay as they are)", NULL},
    };
    const char *config_path;
    int code = cli_parse(&cli_study_command, argc, argv, o, N_OPTIONS, &config_path, 1, 1, HELP);
    if (code != CLI_OK)
        return code;
    duo_study_options so;
    duo_study_defaults(&so);
    long tokens = (long)so.oracle_tokens, steps = so.router_steps, batch = so.router_batch,
         teacher = so.teacher_windows;
    if (!whole(&o[ORACLE_TOKENS], 1, 1L << 40, &tokens) || !whole(&o[ROUTER_STEPS], 1, 10000000, &steps) ||
        !whole(&o[ROUTER_BATCH], 1, 4096, &batch) || !whole(&o[TEACHER_WINDOWS], 1, 65536, &teacher))
        return CLI_USER_ERROR;
    duo_config config;
    duo_status st = duo_config_load(config_path, &config);
    if (st != DUO_OK)
        return cli_report(st);
    display d = {.oracle = {.label = ""}};
    cli_train_progress_init(&d.train, &config);
    char fetch[1400];
    fetch_command(fetch, sizeof fetch);
    so.run_dir = o[RUN_DIR].value;
    /* Under mpirun every rank runs the study on its own device. */
    char device[256];
    if (!cli_rank_device("study", cli_device_selector(&o[DEVICE]), device, sizeof device, &so.device))
        return CLI_USER_ERROR;
    so.oracle_tokens = (size_t)tokens;
    so.router_steps = (int)steps;
    so.router_batch = (int)batch;
    so.teacher_windows = (int)teacher;
    so.tune = o[NO_TUNE].value == NULL;
    so.fetch_command = fetch;
    so.stop = cli_catch_interrupts("\nduocl study: stopping the running stage after what it can "
                                   "save (Ctrl-C again to abort)\n");
    so.on_stage = on_stage;
    so.on_tune = cli_print_tune_event;
    so.on_tokenizer = cli_print_tokenizer_event;
    so.on_prepare = cli_print_prepare_event;
    so.on_train = on_train;
    so.on_eval = cli_print_eval_domain;
    so.on_oracle = on_oracle;
    so.on_router = cli_print_router_event;
    so.on_difficulty = cli_print_difficulty_event;
    so.on_report_warning = on_report_warning;
    so.user = &d;
    st = duo_study(config_path, &so);
    cli_release_interrupts();
    return cli_report(st);
}

const cli_command cli_study_command = {
    .name = "study",
    .usage = "duocl study CONFIG [--device D] [--run-dir DIR]",
    .summary = "run the whole study: data, train, eval, oracle, routers, difficulty, report",
    .run = run_study,
};
