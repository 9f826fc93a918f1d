/* duocl study: the whole study from a config, as stages that each run one
 * duocl command: data, train, evaluation, oracle, routers at three budgets,
 * token difficulty, report. A finished stage leaves a marker holding a key of
 * its inputs (the resolved config, its arguments, the keys of the stages
 * before it); running the study again skips stages whose marker matches and
 * reruns the rest, so an interrupted study continues where it stopped and a
 * changed config redoes what depends on it. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "commands.h"
#include "duocl/config.h"
#include "duocl/device.h"
#include "base/fileio.h"
#include "base/hash.h"
#include "device/tuning.h"

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
    "  difficulty  duocl difficulty at budget 1 (difficulty-k1.json) and L/2\n"
    "              (difficulty.json, shown in the report)\n"
    "  report      duocl report: RUN/report.html\n"
    "Markers of finished stages are in RUN/study/. Ctrl-C stops after saving what\n"
    "the running stage can save; run the same command again to continue.";

enum { DEVICE, RUN_DIR, ORACLE_TOKENS, ROUTER_STEPS, ROUTER_BATCH, NO_TUNE, N_OPTIONS };

typedef struct study {
    const char *config_path;
    duo_config config;
    char *config_json;
    char run_dir[1024];
    const char *device;
    const char *oracle_tokens;
    const char *router_steps;
    const char *router_batch;
    int stage, stages;
    double start;
} study;

/* Runs a command in this process, as `duocl ARGV...`. */
static int run_command(const cli_command *command, int argc, char **argv)
{
    int code = command->run(argc, argv);
    return code == CLI_HELP_SHOWN ? CLI_OK : code;
}

static bool readable(const char *path) { return access(path, R_OK) == 0; }

/* The marker of a stage: RUN/study/<name>.done holding the key. */
static void marker_path(const study *s, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/study/%s.done", s->run_dir, name);
}

static bool stage_done(const study *s, const char *name, uint64_t key)
{
    char path[1200], text[32] = "";
    marker_path(s, name, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fgets(text, sizeof text, f) != NULL;
    fclose(f);
    return ok && strtoull(text, NULL, 16) == key;
}

static duo_status mark_done(const study *s, const char *name, uint64_t key)
{
    char path[1200], text[32];
    marker_path(s, name, path, sizeof path);
    snprintf(text, sizeof text, "%016llx\n", (unsigned long long)key);
    const void *parts[] = {text};
    size_t sizes[] = {strlen(text)};
    return duo_write_file_atomic(path, "study marker", parts, sizes, 1);
}

typedef int (*stage_body)(study *s, const void *arg);

/* Runs one stage unless its marker matches. Its key folds in the resolved
 * config, its name, `what` (its own arguments) and `after`, the key of the
 * stage whose results it reads; the key is returned through *key. */
static int stage(study *s, const char *name, const char *what, uint64_t after, stage_body body,
                 const void *arg, uint64_t *key_out)
{
    s->stage++;
    uint64_t key = duo_fnv1a_text(duo_fnv1a_text(duo_fnv1a_text(after, name), what), s->config_json);
    *key_out = key;
    if (stage_done(s, name, key)) {
        fprintf(stderr, "[%d/%d] %s: done before, skipped\n", s->stage, s->stages, name);
        return CLI_OK;
    }
    double t0 = duo_now_seconds();
    fprintf(stderr, "[%d/%d] %s: running (study time so far %.0f s)\n", s->stage, s->stages, name,
            t0 - s->start);
    int code = body(s, arg);
    if (code != CLI_OK) {
        fprintf(stderr, "[%d/%d] %s: failed (exit %d); run the same command again to continue\n",
                s->stage, s->stages, name, code);
        return code;
    }
    duo_status st = mark_done(s, name, key);
    if (st != DUO_OK)
        return cli_report(st);
    fprintf(stderr, "[%d/%d] %s: done in %.0f s\n", s->stage, s->stages, name, duo_now_seconds() - t0);
    return CLI_OK;
}

/* ---- stages ---- */

static bool shards_present(const study *s)
{
    const duo_train_config *tc = &s->config.train;
    for (int d = 0; d < tc->n_domains; d++)
        for (int split = 0; split < 2; split++) {
            char path[2200];
            snprintf(path, sizeof path, "%s/%s.%s.tok", s->config.data.shards, tc->domains[d].name,
                     split ? "val" : "train");
            if (!readable(path))
                return false;
        }
    return true;
}

/* scripts/fetch_corpora.py beside the source tree: next to the binary's
 * parent folder (build/duocl -> scripts/) or in the working directory. */
static void fetch_script(char *out, size_t cap)
{
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(out, cap, "%s/../scripts/fetch_corpora.py", exe);
            if (readable(out))
                return;
        }
    }
    snprintf(out, cap, "scripts/fetch_corpora.py");
}

static int data_stage(study *s, const void *arg)
{
    (void)arg;
    if (shards_present(s)) {
        fprintf(stderr, "  shards found in %s\n", s->config.data.shards);
        return CLI_OK;
    }
    char script[1200], command[1400];
    if (!readable("data/corpora/web.train.txt")) {
        fetch_script(script, sizeof script);
        snprintf(command, sizeof command, "python3 '%s'", script);
        fprintf(stderr, "  fetching corpora: %s\n", command);
        if (system(command) != 0) {
            fprintf(stderr, "duocl study: fetching the corpora failed (%s)\n", command);
            return CLI_USER_ERROR;
        }
    }
    const char *tok = s->config.data.tokenizer;
    if (strcmp(tok, "byte") != 0 && !readable(tok)) {
        char vocab[32];
        snprintf(vocab, sizeof vocab, "%d", s->config.model.vocab);
        char *argv[] = {"tokenizer", "train", "--vocab", vocab, "--out", (char *)tok, NULL};
        int code = run_command(&cli_tokenizer_command, 6, argv);
        if (code != CLI_OK)
            return code;
    }
    char domains[512] = "";
    for (int d = 0; d < s->config.train.n_domains; d++) {
        strncat(domains, d ? "," : "", sizeof domains - strlen(domains) - 1);
        strncat(domains, s->config.train.domains[d].name, sizeof domains - strlen(domains) - 1);
    }
    char *argv[] = {"prepare", "--tokenizer", (char *)tok, "--out", s->config.data.shards,
                    "--domains", domains, NULL};
    return run_command(&cli_prepare_command, 7, argv);
}

/* Tunes CLBlast for the device once per machine: skipped when its file exists. */
static int tune_stage(study *s, const void *arg)
{
    (void)arg;
    duo_device_list list;
    int index;
    duo_status st = duo_devices_list(&list);
    if (st == DUO_OK)
        st = duo_devices_select(&list, s->device, &index);
    char path[1200] = "";
    if (st == DUO_OK)
        duo_tuning_path(&list.devices[index], path, sizeof path);
    if (st == DUO_OK || list.devices)
        duo_devices_free(&list);
    if (st != DUO_OK)
        return cli_report(st);
    if (readable(path)) {
        fprintf(stderr, "  GEMM parameters found in %s\n", path);
        return CLI_OK;
    }
    char *argv[8] = {"tune", "--seconds", "120", "--no-bench"};
    int argc = s->device ? 6 : 4;
    if (s->device) {
        argv[4] = "--device";
        argv[5] = (char *)s->device;
    }
    return run_command(&cli_tune_command, argc, argv);
}

/* Appends --device D when one was given. */
static int with_device(const study *s, char **argv, int argc)
{
    if (s->device) {
        argv[argc++] = "--device";
        argv[argc++] = (char *)s->device;
    }
    argv[argc] = NULL;
    return argc;
}

static int train_stage(study *s, const void *arg)
{
    (void)arg;
    char latest[1200];
    snprintf(latest, sizeof latest, "%s/checkpoints/latest.ckpt", s->run_dir);
    char *argv[12] = {"train", (char *)s->config_path, "--run-dir", s->run_dir};
    int argc = 4;
    if (readable(latest))
        argv[argc++] = "--resume";
    argc = with_device(s, argv, argc);
    return run_command(&cli_train_command, argc, argv);
}

/* Evaluations score the oracle's tokens, so the report compares them directly. */
static int eval_one(study *s, const char *routes)
{
    char *argv[12] = {"eval", s->run_dir, "--routes", (char *)routes, "--tokens",
                      (char *)s->oracle_tokens};
    int argc = with_device(s, argv, 6);
    return run_command(&cli_eval_command, argc, argv);
}

static int eval_stage(study *s, const void *arg)
{
    (void)arg;
    char random[64];
    snprintf(random, sizeof random, "random:%g,%g", s->config.train.p_big, s->config.train.p_skip);
    const char *specs[] = {"all-big", "all-small", random};
    for (int i = 0; i < 3; i++) {
        int code = eval_one(s, specs[i]);
        if (code != CLI_OK)
            return code;
    }
    return CLI_OK;
}

static int oracle_stage(study *s, const void *arg)
{
    (void)arg;
    char *argv[12] = {"oracle", s->run_dir, "--tokens", (char *)s->oracle_tokens};
    int argc = with_device(s, argv, 4);
    return run_command(&cli_oracle_command, argc, argv);
}

static int router_stage(study *s, const void *arg)
{
    int k = *(const int *)arg;
    char budget[16], path[1300], spec[1400];
    snprintf(budget, sizeof budget, "%d", k);
    char *argv[16] = {"router", "train", s->run_dir, "--budget", budget, "--steps",
                      (char *)s->router_steps, "--batch", (char *)s->router_batch};
    int argc = with_device(s, argv, 9);
    int code = run_command(&cli_router_command, argc, argv);
    snprintf(path, sizeof path, "%s/router/k%d-SB/router.ckpt", s->run_dir, k);
    snprintf(spec, sizeof spec, "router:%s", path);
    if (code == CLI_OK)
        code = eval_one(s, spec);
    snprintf(spec, sizeof spec, "router:%s,exact", path);
    if (code == CLI_OK)
        code = eval_one(s, spec);
    return code;
}

static int difficulty_stage(study *s, const void *arg)
{
    (void)arg;
    int L = s->config.model.n_layers;
    /* Budget 1 goes to difficulty-k1.json; L/2, which the report shows, to
     * difficulty.json. */
    int budgets[2] = {1, L / 2};
    for (int i = 0; i < (budgets[1] != budgets[0] ? 2 : 1); i++) {
        char budget[16], out[1200];
        snprintf(budget, sizeof budget, "%d", budgets[i]);
        snprintf(out, sizeof out, "%s/difficulty%s.json", s->run_dir,
                 i == 0 && budgets[1] != budgets[0] ? "-k1" : "");
        char *argv[] = {"difficulty", s->run_dir, "--budget", budget, "--out", out, NULL};
        int code = run_command(&cli_difficulty_command, 6, argv);
        if (code != CLI_OK)
            return code;
    }
    return CLI_OK;
}

static int report_stage(study *s, const void *arg)
{
    (void)arg;
    char *argv[] = {"report", s->run_dir, NULL};
    return run_command(&cli_report_command, 2, argv);
}

static int run_study(int argc, char **argv)
{
    cli_option o[N_OPTIONS] = {
        {"device", "D", "device selector (default: $DUOCL_DEVICE, else the best device)", NULL},
        {"run-dir", "DIR", "run folder (default runs/<config name>)", NULL},
        {"oracle-tokens", "N", "validation tokens per domain for eval and oracle (default 4096)", NULL},
        {"router-steps", "N", "steps of each router's training (default 100)", NULL},
        {"router-batch", "B", "windows per router training step (default 4)", NULL},
        {"no-tune", NULL, "leave out the tune stage (GEMMs stay as they are)", NULL},
    };
    const char *config_path;
    int code = cli_parse(&cli_study_command, argc, argv, o, N_OPTIONS, &config_path, 1, 1, HELP);
    if (code != CLI_OK)
        return code;
    study s = {.config_path = config_path, .device = cli_device_selector(&o[DEVICE]),
               .oracle_tokens = o[ORACLE_TOKENS].value ? o[ORACLE_TOKENS].value : "4096",
               .router_steps = o[ROUTER_STEPS].value ? o[ROUTER_STEPS].value : "100",
               .router_batch = o[ROUTER_BATCH].value ? o[ROUTER_BATCH].value : "4",
               .start = duo_now_seconds()};
    duo_status st = duo_config_load(config_path, &s.config);
    if (st == DUO_OK)
        st = duo_config_to_json(&s.config, &s.config_json);
    if (st != DUO_OK)
        return cli_report(st);
    if (o[RUN_DIR].value)
        snprintf(s.run_dir, sizeof s.run_dir, "%s", o[RUN_DIR].value);
    else {
        const char *base = strrchr(config_path, '/');
        base = base ? base + 1 : config_path;
        size_t n = strcspn(base, ".");
        snprintf(s.run_dir, sizeof s.run_dir, "runs/%.*s", (int)n, base);
    }
    char study_dir[1100];
    snprintf(study_dir, sizeof study_dir, "%s/study", s.run_dir);
    st = duo_make_directories(study_dir);
    if (st != DUO_OK) {
        free(s.config_json);
        return cli_report(st);
    }
    int L = s.config.model.n_layers;
    int budgets[3] = {(L + 1) / 3, L / 2, (2 * L + 1) / 3};
    int n_budgets = 0;
    for (int i = 0; i < 3; i++)
        if (budgets[i] > 0 && (n_budgets == 0 || budgets[n_budgets - 1] != budgets[i]))
            budgets[n_budgets++] = budgets[i];
    bool tuning = o[NO_TUNE].value == NULL;
    s.stages = 6 + tuning + n_budgets;
    /* Which stage reads which: data -> train -> {eval, oracle, routers};
     * oracle -> difficulty; everything -> report. */
    uint64_t tune = 0, data, train, eval, oracle, router, difficulty, report, all;
    if (tuning)
        code = stage(&s, "tune", "", DUO_FNV_OFFSET, tune_stage, NULL, &tune);
    if (code == CLI_OK)
        code = stage(&s, "data", s.config.data.shards, DUO_FNV_OFFSET, data_stage, NULL,
                     &data);
    if (code == CLI_OK)
        code = stage(&s, "train", "", data, train_stage, NULL, &train);
    if (code == CLI_OK)
        code = stage(&s, "eval", s.oracle_tokens, train, eval_stage, NULL, &eval);
    if (code == CLI_OK)
        code = stage(&s, "oracle", s.oracle_tokens, train, oracle_stage, NULL, &oracle);
    all = eval ^ oracle;
    for (int i = 0; i < n_budgets && code == CLI_OK; i++) {
        char name[32];
        snprintf(name, sizeof name, "router-k%d", budgets[i]);
        char what[64];
        snprintf(what, sizeof what, "%s/%s", s.router_steps, s.router_batch);
        code = stage(&s, name, what, train, router_stage, &budgets[i], &router);
        all = duo_fnv1a_text(all, name) ^ router;
    }
    if (code == CLI_OK)
        code = stage(&s, "difficulty", "", oracle, difficulty_stage, NULL, &difficulty);
    if (code == CLI_OK)
        code = stage(&s, "report", "", all ^ difficulty, report_stage, NULL, &report);
    if (code == CLI_OK)
        fprintf(stderr, "study finished in %.0f s: open %s/report.html\n", duo_now_seconds() - s.start,
                s.run_dir);
    free(s.config_json);
    return code;
}

const cli_command cli_study_command = {
    .name = "study",
    .usage = "duocl study CONFIG [--device D] [--run-dir DIR]",
    .summary = "run the whole study: data, train, eval, oracle, routers, difficulty, report",
    .run = run_study,
};
