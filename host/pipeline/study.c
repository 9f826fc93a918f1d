/* The whole study from a config, as stages that each call one library
 * function: tune, data, train, evaluation, oracle, routers at three budgets,
 * token difficulty, report. A finished stage leaves a marker holding a key of
 * its inputs (the resolved config, its own settings, the keys of the stages
 * whose results it reads); running the study again skips stages whose marker
 * matches and reruns the rest, so an interrupted study continues where it
 * stopped and a changed setting redoes what depends on it.
 *
 * Under mpirun every rank runs the study: the stages that use the device
 * spread over the ranks (data-parallel training; eval, oracle and difficulty
 * by batches, study/spread.h); the tune, data and report stages run on rank
 * 0 while the others wait; rank 0 alone decides which stages are done,
 * writes the markers and reports. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/comm.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/hash.h"
#include "device/tuning.h"
#include "duocl/study.h"
#include "study/run_folder.h"
#include "study/spread.h"
#include "study/train.h"

typedef struct study {
    const duo_study_options *o;
    duo_config config;
    char *config_json;
    char run_dir[1024];
    duo_runtime *rt; /* made by the first stage that needs the device, after tuning */
    int stage, stages;
    double start;
} study;

static bool readable(const char *path) { return access(path, R_OK) == 0; }

static void emit(study *s, duo_study_event_kind kind, const char *stage, double stage_seconds,
                 const char *note)
{
    if (!s->o->on_stage || !duo_spread_root())
        return;
    duo_study_event e = {.kind = kind, .index = s->stage, .count = s->stages, .stage = stage,
                         .study_seconds = duo_now_seconds() - s->start,
                         .stage_seconds = stage_seconds, .note = note, .run_dir = s->run_dir};
    s->o->on_stage(&e, s->o->user);
}

static void note(study *s, const char *stage, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static void note(study *s, const char *stage, const char *format, ...)
{
    char text[1600];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);
    emit(s, DUO_STUDY_NOTE, stage, 0, text);
}

static duo_status runtime(study *s, duo_runtime **out)
{
    if (!s->rt)
        DUO_TRY(duo_runtime_create(&(duo_runtime_options){.device = s->o->device}, &s->rt));
    *out = s->rt;
    return DUO_OK;
}

/* ---- markers ---- */

/* RUN/study/<name>.done holds the key of the stage's inputs. */
static duo_status marker_path(const study *s, const char *name, char *out, size_t cap)
{
    char file[128];
    snprintf(file, sizeof file, "%s/%s.done", DUO_RUN_STUDY_MARKERS, name);
    return duo_run_path(s->run_dir, file, out, cap);
}

static bool stage_done(const study *s, const char *name, uint64_t key)
{
    char path[1200], text[32] = "";
    if (marker_path(s, name, path, sizeof path) != DUO_OK)
        return false;
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
    DUO_TRY(marker_path(s, name, path, sizeof path));
    snprintf(text, sizeof text, "%016llx\n", (unsigned long long)key);
    const void *parts[] = {text};
    size_t sizes[] = {strlen(text)};
    return duo_write_file_atomic(path, "study marker", parts, sizes, 1);
}

typedef duo_status (*stage_body)(study *s, const void *arg);

/* Runs one stage unless its marker matches. Its key folds in the resolved
 * config, its name, `what` (its own settings) and `after`, the key of the
 * stages whose results it reads; the key is returned through *key_out. */
static duo_status stage(study *s, const char *name, const char *what, uint64_t after,
                        stage_body body, const void *arg, uint64_t *key_out)
{
    s->stage++;
    uint64_t key = duo_fnv1a_text(duo_fnv1a_text(duo_fnv1a_text(after, name), what),
                                  s->config_json);
    *key_out = key;
    /* Rank 0's marker decides for every rank. */
    uint8_t done = duo_spread_root() && stage_done(s, name, key);
    DUO_TRY(duo_comm_broadcast(&done, 1, 0));
    if (done) {
        emit(s, DUO_STUDY_STAGE_SKIPPED, name, 0, NULL);
        return DUO_OK;
    }
    double t0 = duo_now_seconds();
    emit(s, DUO_STUDY_STAGE_RUNNING, name, 0, NULL);
    duo_status st = body(s, arg);
    if (st == DUO_OK && duo_spread_root())
        st = mark_done(s, name, key);
    if (duo_comm_size() > 1) /* every rank fails with rank 0's marker */
        st = duo_spread_share_result(st, NULL, 0);
    if (st != DUO_OK) {
        emit(s, DUO_STUDY_STAGE_FAILED, name, duo_now_seconds() - t0, duo_last_error());
        return st;
    }
    emit(s, DUO_STUDY_STAGE_DONE, name, duo_now_seconds() - t0, NULL);
    return DUO_OK;
}

/* ---- stages ---- */

/* A stage rank 0 runs alone (tune, data, report) while the others wait;
 * every rank returns its status. */
static duo_status on_root(study *s, stage_body body, const void *arg)
{
    duo_status st = duo_spread_root() ? body(s, arg) : DUO_OK;
    return duo_spread_share_result(st, NULL, 0);
}

/* Tunes CLBlast for the device and this model once per machine: skipped when
 * the device has a tuning file, also one that records "built-in parameters
 * kept" (duo_tune_device found the tuned ones no faster), and when the model's
 * products do not run on CLBlast there (duocl's built-in GEMM on PoCL). */
static duo_status tune_stage(study *s, const void *arg)
{
    (void)arg;
    duo_device_list list;
    int index;
    DUO_TRY(duo_devices_list(&list));
    duo_status st = duo_devices_select(&list, s->o->device, &index);
    char path[1200] = "";
    duo_device_info device;
    if (st == DUO_OK) {
        device = list.devices[index];
        duo_tuning_path(&device, path, sizeof path);
    }
    duo_devices_free(&list);
    DUO_TRY(st);
    if (readable(path)) {
        duo_tuning t;
        bool builtin = duo_tuning_load(path, &device, &t) == DUO_OK && t.builtin_kept;
        note(s, "tune", "%s (%s)", builtin ? "tuned before: CLBlast's built-in GEMM parameters kept"
                                           : "GEMM parameters found", path);
        return DUO_OK;
    }
    duo_runtime *rt;
    DUO_TRY(duo_runtime_create(
        &(duo_runtime_options){.device = s->o->device, .gemm = s->config.model.gemm}, &rt));
    bool clblast = duo_runtime_gemm(rt) == DUO_GEMM_CLBLAST;
    char reason[128];
    snprintf(reason, sizeof reason, "%s", duo_runtime_gemm_reason(rt));
    duo_runtime_destroy(rt);
    if (!clblast) {
        note(s, "tune", "not needed: the model's products run on duocl's built-in GEMM here (%s)",
             reason);
        return DUO_OK;
    }
    duo_tune_options to = {.device = s->o->device, .model = &s->config.model,
                           .batch = s->config.train.batch, .seconds = 120,
                           .program = s->o->tune_program, .callback = s->o->on_tune, .user = s->o->user};
    duo_tune_result *r = calloc(1, sizeof *r);
    if (!r)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the tuning result");
    st = duo_tune_device(&to, r);
    if (st == DUO_OK && !r->kept)
        note(s, "tune", "CLBlast's built-in GEMM parameters kept: no tuned set was faster (%s)",
             r->path);
    free(r);
    return st;
}

static bool shards_present(const study *s)
{
    const duo_train_config *tc = &s->config.train;
    for (int d = 0; d < tc->n_domains; d++)
        for (int split = 0; split < 2; split++) {
            char path[2200];
            if (duo_shard_filename(s->config.data.shards, tc->domains[d].name,
                                   split ? "val" : "train", path, sizeof path) != DUO_OK ||
                !readable(path))
                return false;
        }
    return true;
}

/* Corpora (fetched by o->fetch_command when missing), the tokenizer (trained
 * when the config names a file that does not exist), the shards. */
static duo_status data_stage(study *s, const void *arg)
{
    (void)arg;
    if (shards_present(s)) {
        note(s, "data", "shards found in %s", s->config.data.shards);
        return DUO_OK;
    }
    char corpus[1200];
    snprintf(corpus, sizeof corpus, "%s/web.train.txt", DUO_CORPORA_DIR);
    if (!readable(corpus)) {
        if (!s->o->fetch_command)
            return duo_fail(DUO_ERR_IO, "corpora not found in %s (fetch them with "
                            "'python3 scripts/fetch_corpora.py')", DUO_CORPORA_DIR);
        note(s, "data", "fetching corpora: %s", s->o->fetch_command);
        if (system(s->o->fetch_command) != 0)
            return duo_fail(DUO_ERR_IO, "fetching the corpora failed (%s)", s->o->fetch_command);
    }
    const duo_train_config *tc = &s->config.train;
    const char *domains[DUO_CONFIG_MAX_DOMAINS];
    for (int d = 0; d < tc->n_domains; d++)
        domains[d] = tc->domains[d].name;
    const char *tok = s->config.data.tokenizer;
    if (strcmp(tok, "byte") != 0 && !readable(tok)) {
        duo_tokenizer_train_options to = {.vocab = s->config.model.vocab, .out = tok,
                                          .callback = s->o->on_tokenizer, .user = s->o->user};
        DUO_TRY(duo_tokenizer_train_from_corpora(&to, NULL, NULL));
    }
    duo_prepare_options po = {.tokenizer = tok, .out = s->config.data.shards, .domains = domains,
                              .n_domains = tc->n_domains, .callback = s->o->on_prepare,
                              .user = s->o->user};
    return duo_prepare_shards(&po, NULL);
}

static duo_status train_stage(study *s, const void *arg)
{
    (void)arg;
    char latest[1200];
    DUO_TRY(duo_run_path(s->run_dir, DUO_RUN_LATEST_CHECKPOINT, latest, sizeof latest));
    duo_runtime *rt;
    DUO_TRY(runtime(s, &rt));
    /* Under MPI rank 0 reports the training; each rank trains its share. */
    duo_train_options to = {.run_dir = s->run_dir, .resume = readable(latest), .stop = s->o->stop,
                            .callback = duo_spread_root() ? s->o->on_train : NULL,
                            .user = s->o->user};
    return duo_train(rt, &s->config, &to);
}

/* Evaluations score the oracle's tokens, so the report compares them directly. */
static duo_status eval_one(study *s, const char *routes)
{
    duo_runtime *rt;
    DUO_TRY(runtime(s, &rt));
    duo_eval_options eo = {.run_dir = s->run_dir, .routes = routes, .tokens = s->o->oracle_tokens,
                           .stop = s->o->stop, .callback = s->o->on_eval, .user = s->o->user};
    duo_eval_summary *r = calloc(1, sizeof *r);
    if (!r)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for an evaluation");
    duo_status st = duo_eval_run(rt, &eo, r);
    free(r);
    return st;
}

static duo_status eval_stage(study *s, const void *arg)
{
    (void)arg;
    char random[64];
    snprintf(random, sizeof random, "random:%g,%g", s->config.train.p_big, s->config.train.p_skip);
    const char *specs[] = {"all-big", "all-small", random};
    for (int i = 0; i < 3; i++)
        DUO_TRY(eval_one(s, specs[i]));
    return DUO_OK;
}

static duo_status oracle_stage(study *s, const void *arg)
{
    (void)arg;
    duo_runtime *rt;
    DUO_TRY(runtime(s, &rt));
    duo_oracle_options oo = {.run_dir = s->run_dir, .tokens = s->o->oracle_tokens,
                             .alphabet = DUO_ALPHABET_SB, .stop = s->o->stop,
                             .callback = s->o->on_oracle, .user = s->o->user};
    duo_oracle_summary *r = calloc(1, sizeof *r);
    if (!r)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the oracle's results");
    duo_status st = duo_oracle_run(rt, &oo, r);
    free(r);
    return st;
}

/* A router at budget k, then evaluated with argmax routing and exactly k. */
static duo_status router_stage(study *s, const void *arg)
{
    int k = *(const int *)arg;
    duo_runtime *rt;
    DUO_TRY(runtime(s, &rt));
    duo_router_train_options ro;
    duo_router_train_defaults(&ro);
    ro.budget = k;
    ro.steps = s->o->router_steps;
    ro.batch = s->o->router_batch;
    ro.stop = s->o->stop;
    ro.callback = s->o->on_router;
    ro.user = s->o->user;
    DUO_TRY(duo_router_train(rt, s->run_dir, &ro));
    char dir[1200], path[1300], spec[1400];
    DUO_TRY(duo_run_router_dir(s->run_dir, k, "SB", dir, sizeof dir));
    DUO_TRY(duo_run_path(dir, DUO_ROUTER_MODEL, path, sizeof path));
    snprintf(spec, sizeof spec, "router:%s", path);
    DUO_TRY(eval_one(s, spec));
    snprintf(spec, sizeof spec, "router:%s,exact", path);
    return eval_one(s, spec);
}

/* ---- issue 16: more routers per budget ---- */

/* What the routers of a budget stage train: which teacher and seed. */
typedef struct router_kind {
    int budget;
    const char *teacher; /* "budget" or "oracle" */
    uint64_t seed;
} router_kind;

/* A router of another teacher or seed at budget k (the budget-loss router
 * of seed 1 is router_stage's), then evaluated with argmax and exact
 * routing. */
static duo_status more_router_stage(study *s, const void *arg)
{
    const router_kind *kind = arg;
    duo_runtime *rt;
    DUO_TRY(runtime(s, &rt));
    duo_router_train_options ro;
    duo_router_train_defaults(&ro);
    ro.budget = kind->budget;
    ro.steps = s->o->router_steps;
    ro.batch = s->o->router_batch;
    ro.seed = kind->seed;
    ro.teacher = kind->teacher;
    ro.teacher_windows = s->o->teacher_windows;
    if (strcmp(kind->teacher, "oracle") == 0)
        ro.alpha = 3; /* `duocl router train --teacher oracle`'s default */
    ro.stop = s->o->stop;
    ro.callback = s->o->on_router;
    ro.user = s->o->user;
    DUO_TRY(duo_router_train(rt, s->run_dir, &ro));
    char dir[1200], path[1300], spec[1400];
    DUO_TRY(duo_router_train_dir(s->run_dir, &ro, dir, sizeof dir));
    DUO_TRY(duo_run_path(dir, DUO_ROUTER_MODEL, path, sizeof path));
    snprintf(spec, sizeof spec, "router:%s", path);
    DUO_TRY(eval_one(s, spec));
    snprintf(spec, sizeof spec, "router:%s,exact", path);
    return eval_one(s, spec);
}

/* Fits the signal router at budget k (rank 0 alone under MPI). */
static duo_status signal_router_fit(study *s, const void *arg)
{
    int k = *(const int *)arg;
    duo_runtime *rt;
    DUO_TRY(runtime(s, &rt));
    duo_signal_router_options so = {.budget = k, .teacher_windows = s->o->teacher_windows,
                                    .seed = 1};
    duo_signal_router_summary *r = calloc(1, sizeof *r);
    if (!r)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the signal router");
    duo_status st = duo_signal_router_train(rt, s->run_dir, &so, r);
    if (st == DUO_OK)
        note(s, "signal-router", "k=%d: %s%s (Spearman with the benefit %+.3f on training windows)",
             k, r->sign < 0 ? "-" : "", r->signal, r->spearman);
    free(r);
    return st;
}

/* The signal router at budget k, then evaluated. */
static duo_status signal_router_stage(study *s, const void *arg)
{
    int k = *(const int *)arg;
    DUO_TRY(on_root(s, signal_router_fit, arg));
    char dir[1200], path[1300], spec[1400];
    DUO_TRY(duo_run_router_dir(s->run_dir, k, "SB-signal", dir, sizeof dir));
    DUO_TRY(duo_run_path(dir, DUO_ROUTER_SIGNAL, path, sizeof path));
    snprintf(spec, sizeof spec, "signal:%s", path);
    return eval_one(s, spec);
}

/* For budget k: the budget-loss router of seed 2, the oracle-taught routers
 * of seeds 1 and 2, the signal router; each its own stage. *all gets their keys. */
static duo_status more_routers(study *s, int *k, uint64_t train, uint64_t *all)
{
    /* The budget-loss router of seed 2 does not read the teacher's windows. */
    char settings[96], plain[64];
    snprintf(settings, sizeof settings, "%d/%d/%d", s->o->router_steps, s->o->router_batch,
             s->o->teacher_windows);
    snprintf(plain, sizeof plain, "%d/%d", s->o->router_steps, s->o->router_batch);
    const router_kind kinds[3] = {{*k, "budget", 2}, {*k, "oracle", 1}, {*k, "oracle", 2}};
    static const char *const names[3] = {"router-k%d-s2", "oracle-router-k%d",
                                         "oracle-router-k%d-s2"};
    uint64_t key, oracle_router = 0;
    for (int i = 0; i < 3; i++) {
        char name[48];
        snprintf(name, sizeof name, names[i], *k);
        DUO_TRY(stage(s, name, i == 0 ? plain : settings, train, more_router_stage, &kinds[i],
                      &key));
        *all = duo_fnv1a_text(*all, name) ^ key;
        if (i == 1)
            oracle_router = key; /* the pool of the oracle's search is its */
    }
    char name[48];
    snprintf(name, sizeof name, "signal-router-k%d", *k);
    DUO_TRY(stage(s, name, settings, oracle_router, signal_router_stage, k, &key));
    *all = duo_fnv1a_text(*all, name) ^ key;
    return DUO_OK;
}

/* Budget 1 goes to difficulty-k1.json; L/2, which the report shows, to
 * difficulty.json. */
static duo_status difficulty_stage(study *s, const void *arg)
{
    (void)arg;
    int L = s->config.model.n_layers;
    int budgets[2] = {1, L / 2};
    int n = budgets[1] != budgets[0] ? 2 : 1;
    for (int i = 0; i < n; i++) {
        char out[1200];
        DUO_TRY(duo_run_path(s->run_dir, i == 0 && n == 2 ? DUO_RUN_DIFFICULTY_BUDGET1 : DUO_RUN_DIFFICULTY,
                             out, sizeof out));
        duo_difficulty_options d = duo_difficulty_default_options();
        d.run_dir = s->run_dir;
        d.out = out;
        d.budget = budgets[i];
        d.stop = s->o->stop;
        d.callback = s->o->on_difficulty;
        d.user = s->o->user;
        DUO_TRY(runtime(s, &d.runtime)); /* the cheap signals (issue 16) */
        duo_difficulty_summary *r = calloc(1, sizeof *r);
        if (!r)
            return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the difficulty results");
        duo_status st = duo_difficulty_run(&d, r);
        free(r);
        DUO_TRY(st);
    }
    return DUO_OK;
}

static duo_status report_stage(study *s, const void *arg)
{
    (void)arg;
    duo_report_options ro = {.warn = s->o->on_report_warning, .user = s->o->user};
    duo_report_summary r;
    return duo_report_write(s->run_dir, &ro, &r);
}

static duo_status tune_on_root(study *s, const void *arg) { return on_root(s, tune_stage, arg); }
static duo_status data_on_root(study *s, const void *arg) { return on_root(s, data_stage, arg); }
static duo_status report_on_root(study *s, const void *arg) { return on_root(s, report_stage, arg); }

/* ---- the study ---- */

void duo_study_default_run_dir(const char *config_path, char *out, size_t cap)
{
    duo_path_under("runs", config_path, out, cap);
}

void duo_study_defaults(duo_study_options *o)
{
    *o = (duo_study_options){.oracle_tokens = 4096, .router_steps = 100, .router_batch = 4,
                             .teacher_windows = 32, .tune = true};
}

static duo_status run_stages(study *s)
{
    int L = s->config.model.n_layers;
    int budgets[3] = {(L + 1) / 3, L / 2, (2 * L + 1) / 3};
    int n_budgets = 0;
    for (int i = 0; i < 3; i++)
        if (budgets[i] > 0 && (n_budgets == 0 || budgets[n_budgets - 1] != budgets[i]))
            budgets[n_budgets++] = budgets[i];
    bool tuning = s->o->tune;
    s->stages = 6 + tuning + 5 * n_budgets;
    /* Which stage reads which: data -> train -> {eval, oracle, routers};
     * oracle -> difficulty; everything -> report. */
    uint64_t tune, data, train, eval, oracle, router, difficulty, report, all;
    char tokens[32], router_settings[64];
    snprintf(tokens, sizeof tokens, "%zu", s->o->oracle_tokens);
    snprintf(router_settings, sizeof router_settings, "%d/%d", s->o->router_steps,
             s->o->router_batch);
    if (tuning)
        DUO_TRY(stage(s, "tune", "", DUO_FNV_OFFSET, tune_on_root, NULL, &tune));
    DUO_TRY(stage(s, "data", s->config.data.shards, DUO_FNV_OFFSET, data_on_root, NULL, &data));
    DUO_TRY(stage(s, "train", "", data, train_stage, NULL, &train));
    DUO_TRY(stage(s, "eval", tokens, train, eval_stage, NULL, &eval));
    DUO_TRY(stage(s, "oracle", tokens, train, oracle_stage, NULL, &oracle));
    all = eval ^ oracle;
    for (int i = 0; i < n_budgets; i++) {
        char name[32];
        snprintf(name, sizeof name, "router-k%d", budgets[i]);
        DUO_TRY(stage(s, name, router_settings, train, router_stage, &budgets[i], &router));
        all = duo_fnv1a_text(all, name) ^ router;
    }
    /* The signals read the budget-loss router of L/2. */
    uint64_t routers = all;
    for (int i = 0; i < n_budgets; i++)
        DUO_TRY(more_routers(s, &budgets[i], train, &all));
    DUO_TRY(stage(s, "difficulty", "signals", routers, difficulty_stage, NULL, &difficulty));
    return stage(s, "report", "", all ^ difficulty, report_on_root, NULL, &report);
}

duo_status duo_study(const char *config_path, const duo_study_options *options)
{
    study s = {.o = options, .start = duo_now_seconds()};
    DUO_TRY(duo_config_load(config_path, &s.config));
    DUO_TRY(duo_config_to_json(&s.config, &s.config_json));
    if (options->run_dir)
        snprintf(s.run_dir, sizeof s.run_dir, "%s", options->run_dir);
    else
        duo_study_default_run_dir(config_path, s.run_dir, sizeof s.run_dir);
    char markers[1100];
    duo_status st = duo_run_path(s.run_dir, DUO_RUN_STUDY_MARKERS, markers, sizeof markers);
    if (st == DUO_OK)
        st = duo_make_directories(markers);
    if (st == DUO_OK)
        st = run_stages(&s);
    if (st == DUO_OK) {
        emit(&s, DUO_STUDY_FINISHED, NULL, 0, NULL);
    }
    duo_runtime_destroy(s.rt);
    free(s.config_json);
    return st;
}
