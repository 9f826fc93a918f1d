/* The training run (host/train.c) on the tiny model and small generated data:
 * what a run writes, that the loss falls, that a run killed with SIGKILL and
 * resumed gives the uninterrupted run's losses and checkpoint bit for bit,
 * stopping on request, NaN losses, and the errors of resume and missing data.
 *
 * The SIGKILL run is a forked child that kills itself from the progress
 * callback at a fixed step (after a checkpoint, before the next), so the
 * test is deterministic; it is forked before this process touches OpenCL. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "duocl/runtime.h"
#include "model/model_io.h"
#include "study/train.h"
#include "testutil.h"
#include "unitcheck.h"

enum { STEPS = 24, KILL_AT = 13, STOP_AT = 5 };

static char work[256];
static duo_runtime *rt;

/* ---- configs and runs (the data: test_tiny_shards, in main) ---- */

static void run_path(char *buf, size_t size, const char *run, const char *file)
{
    snprintf(buf, size, "%s/%s%s%s", work, run, file ? "/" : "", file ? file : "");
}

/* The tiny model trained for `steps` steps on `shards` (default: the test's
 * own), validated every 12 steps, a checkpoint every 8. */
static duo_config make_config(int steps, const char *shards)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/shards", work);
    duo_config c;
    if (!unit_ok("config", test_tiny_config(shards ? shards : dir, steps, 12, 8, &c)))
        exit(1);
    return c;
}

typedef struct hooks {
    long kill_at, stop_at;
    volatile sig_atomic_t stop;
} hooks;

static void callback(const duo_train_event *e, void *user)
{
    hooks *h = user;
    if (e->kind != DUO_TRAIN_EVENT_STEP)
        return;
    if (e->step == h->kill_at)
        raise(SIGKILL); /* as a crash or `kill -9` would: no cleanup at all */
    if (e->step == h->stop_at)
        h->stop = 1; /* as the CLI's SIGINT handler does */
}

static duo_status train(const duo_config *c, const char *run, bool resume, hooks *h)
{
    char dir[512];
    run_path(dir, sizeof dir, run, NULL);
    duo_train_options o = {.run_dir = dir, .resume = resume, .stop = h ? &h->stop : NULL,
                           .callback = h ? callback : NULL, .user = h};
    return duo_train(rt, c, &o);
}

/* ---- reading what a run wrote ---- */

static test_log *read_log(const char *run)
{
    char path[512];
    run_path(path, sizeof path, run, "log.jsonl");
    return test_read_log(path);
}

static int train_records(const test_log *log) { return test_log_count(log, "\"type\":\"train\""); }

static double loss_of(const char *line)
{
    const char *p = strstr(line, "\"loss\":");
    return p ? atof(p + 7) : NAN;
}

/* The checkpoint `file` of `run` must hold step `want`. */
static void checkpoint_at(const char *name, const char *run, const char *file, uint64_t want)
{
    char path[512];
    run_path(path, sizeof path, run, file);
    uint64_t step = test_checkpoint_step(path);
    unit_check(name, step == want, "%s holds step %llu, want %llu", path, (unsigned long long)step,
               (unsigned long long)want);
}

static bool same_files(const char *name, const char *a, const char *b)
{
    char why[1200];
    return unit_check(name, test_same_files(a, b, why, sizeof why), "%s", why);
}

/* ---- tests ---- */

static test_log *full; /* the uninterrupted run "full" */

static void train_writes_config_log_and_checkpoints(void)
{
    duo_config c = make_config(STEPS, NULL);
    duo_status st = train(&c, "full", false, NULL);
    full = read_log("full"); /* empty if the run failed: what compares with it fails too */
    if (!unit_ok("train", st))
        return;
    char path[512], key[128], detail[256];
    run_path(path, sizeof path, "full", "config.json");
    duo_config back;
    if (unit_ok("config.json loads", duo_config_load(path, &back))) {
        /* train.grad_shards 0 resolves to the number of ranks: 1 here. */
        unit_check("config.json resolves train.grad_shards", back.train.grad_shards == 1,
                   "grad_shards %d, expected 1", back.train.grad_shards);
        c.train.grad_shards = 1;
        unit_ok("compare", duo_config_first_difference(&back, &c, key, sizeof key, detail, sizeof detail));
        unit_check("config.json is the resolved config", key[0] == '\0' && back.train.steps == STEPS,
                   "differs at '%s' (%s)", key, detail);
    }
    unit_check("log read", full->found, "no log");
    int trains = train_records(full), evals = test_log_count(full, "\"type\":\"eval\"");
    unit_check("one train record per step", trains == STEPS, "%d train records", trains);
    /* Validation at steps 12 and 24: 2 domains x 3 routings each. */
    unit_check("eval records", evals == 2 * 2 * 3, "%d eval records", evals);
    const char *fields[] = {"\"step\":1,", "\"loss\":", "\"lr\":", "\"grad_norm\":"};
    for (int i = 0; i < 4; i++)
        unit_check("train record fields", strstr(full->line[0], fields[i]) != NULL, "'%s' lacks %s",
                   full->line[0], fields[i]);
    bool eval_fields = false;
    for (int i = 0; i < full->n; i++)
        if (strstr(full->line[i], "\"type\":\"eval\"") && strstr(full->line[i], "\"routes\":\"small\"") &&
            strstr(full->line[i], "\"bits_per_byte\":") && strstr(full->line[i], "\"domain\":\"code\""))
            eval_fields = true;
    unit_check("eval record fields", eval_fields, "no eval record of code under small routes");
    checkpoint_at("latest checkpoint at the end", "full", "checkpoints/latest.ckpt", STEPS);
    checkpoint_at("final checkpoint", "full", "checkpoints/final.ckpt", STEPS);
}

static void loss_falls(void)
{
    double first = 0, last = 0;
    int seen = 0;
    for (int i = 0, k = 0; i < full->n; i++)
        if (strstr(full->line[i], "\"type\":\"train\"")) {
            double l = loss_of(full->line[i]);
            if (k < 4)
                first += l / 4;
            if (k >= STEPS - 4)
                last += l / 4;
            k++;
            seen = k;
        }
    unit_check("loss falls", seen == STEPS && last < first - 0.5,
               "mean loss of the first 4 steps %.4f, of the last 4 %.4f", first, last);
}

/* Resumes `run` to step STEPS; its log and final checkpoint must equal the
 * uninterrupted run's. `what` begins the checks' names. */
static void resume_reproduces_the_full_run(const char *run, const char *what)
{
    duo_config c = make_config(STEPS, NULL);
    if (!unit_ok("resume", train(&c, run, true, NULL)))
        return;
    char name[128], why[1200], path[512], want[512];
    test_log *log = read_log(run);
    snprintf(name, sizeof name, "%s log equals the uninterrupted one", what);
    unit_check(name, test_same_logs(log, full, why, sizeof why), "%s", why);
    free(log);
    run_path(path, sizeof path, run, "checkpoints/final.ckpt");
    run_path(want, sizeof want, "full", "checkpoints/final.ckpt");
    snprintf(name, sizeof name, "%s final checkpoint equals the uninterrupted one", what);
    same_files(name, path, want);
}

/* The forked child of main() was killed at step KILL_AT; its latest
 * checkpoint is from step 8 and its log runs to KILL_AT. */
static void sigkill_then_resume_reproduces_the_run(void)
{
    test_log *killed = read_log("killed");
    unit_check("the kill came after the checkpoint", train_records(killed) == KILL_AT,
               "%d train records before the kill", train_records(killed));
    free(killed);
    checkpoint_at("checkpoint before the kill", "killed", "checkpoints/latest.ckpt", 8);
    resume_reproduces_the_full_run("killed", "resumed");
}

static void stop_request_checkpoints_and_resume_reproduces(void)
{
    duo_config c = make_config(STEPS, NULL);
    hooks h = {.kill_at = -1, .stop_at = STOP_AT};
    duo_status st = train(&c, "stopped", false, &h);
    unit_fails("stop gives DUO_ERR_INTERRUPTED", st, DUO_ERR_INTERRUPTED, "step 5 of 24", "--resume");
    checkpoint_at("checkpoint at the stop", "stopped", "checkpoints/latest.ckpt", STOP_AT);
    resume_reproduces_the_full_run("stopped", "stopped and resumed");
}

static void resume_errors_name_the_problem(void)
{
    duo_config c = make_config(STEPS, NULL);
    unit_fails("fresh run refuses a folder with a checkpoint", train(&c, "full", false, NULL),
               DUO_ERR_IO, "already holds a run", "--resume");
    unit_fails("resume needs a checkpoint", train(&c, "nothing-here", true, NULL), DUO_ERR_IO,
               "latest.ckpt", "does not exist");
    unit_fails("a finished run has nothing to resume", train(&c, "full", true, NULL),
               DUO_ERR_CONFIG, "train.steps", NULL);
    duo_config changed = c;
    changed.train.lr = 1e-3;
    unit_fails("resume with another lr names train.lr", train(&changed, "full", true, NULL),
               DUO_ERR_CONFIG, "train.lr", "only train.steps");
    changed = c;
    changed.train.domains[1].weight = 2;
    unit_fails("resume with another domain weight names it", train(&changed, "full", true, NULL),
               DUO_ERR_CONFIG, "train.domain_weights.code", NULL);
    changed = c;
    changed.model.ffn_small = 16;
    unit_fails("resume with another model names the key", train(&changed, "full", true, NULL),
               DUO_ERR_CONFIG, "model.ffn_small", NULL);
}

static void missing_shards_are_named(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/no-shards", work);
    duo_config c = make_config(4, dir);
    unit_fails("missing training shard", train(&c, "missing", false, NULL), DUO_ERR_IO,
               "no-shards/web.train.tok", "duocl prepare");
}

/* A checkpoint whose parameters are NaN: the next step's loss is NaN, the
 * run stops naming the step, and the checkpoint stays as it was. */
static void nan_loss_names_the_step_and_keeps_the_checkpoint(void)
{
    duo_config c = make_config(4, NULL);
    if (!unit_ok("train 4 steps", train(&c, "nan", false, NULL)))
        return;
    char path[512], copy[512];
    run_path(path, sizeof path, "nan", "checkpoints/latest.ckpt");
    duo_checkpoint *ck;
    duo_model *m;
    duo_train_state state;
    if (!unit_ok("open", duo_checkpoint_open(path, &ck)))
        return;
    unit_ok("model", duo_model_create(rt, &c.model, &m));
    unit_ok("load", duo_model_load(m, ck, &state));
    char *json = strdup(duo_checkpoint_config_json(ck));
    duo_checkpoint_close(ck);
    float *p = malloc(m->n_params * sizeof *p);
    duo_model_read_params(m, p);
    for (size_t i = 0; i < m->n_params; i++)
        p[i] = NAN;
    duo_model_write_params(m, p);
    unit_ok("save poisoned", duo_model_save(m, path, json, &state));
    duo_model_destroy(m);
    free(p);
    free(json);
    run_path(copy, sizeof copy, "nan", "before.ckpt");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path, copy);
    unit_check("copy", system(cmd) == 0, "%s", cmd);
    c.train.steps = 8;
    unit_fails("NaN loss stops with the step", train(&c, "nan", true, NULL), DUO_ERR_NUMERIC,
               "step 5 of 8", "last good checkpoint");
    same_files("the checkpoint is kept", path, copy);
    test_log *log = read_log("nan");
    unit_check("no record of the failed step", train_records(log) == 4, "%d train records",
               train_records(log));
    free(log);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0); /* nothing buffered is duplicated by fork */
    if (!test_temp_dir(work, sizeof work, "test-train"))
        return 1;
    char shards[300];
    snprintf(shards, sizeof shards, "%s/shards", work);
    if (!unit_ok("shards", test_tiny_shards(shards, 60000, 8000)))
        return unit_summary("test_train");

    duo_runtime_options ro = {.device = getenv("DUOCL_DEVICE")};
    pid_t child = fork();
    if (child == 0) {
        if (duo_runtime_create(&ro, &rt) != DUO_OK)
            _exit(2);
        duo_config c = make_config(STEPS, NULL);
        hooks h = {.kill_at = KILL_AT, .stop_at = -1};
        train(&c, "killed", false, &h);
        _exit(3); /* not reached: the callback kills the process */
    }
    int status = 0;
    waitpid(child, &status, 0);
    unit_check("child killed by SIGKILL", WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
               "child status 0x%x", status);

    if (!unit_ok("runtime", duo_runtime_create(&ro, &rt)))
        return unit_summary("test_train");
    UNIT_RUN(train_writes_config_log_and_checkpoints);
    UNIT_RUN(loss_falls);
    UNIT_RUN(sigkill_then_resume_reproduces_the_run);
    UNIT_RUN(stop_request_checkpoints_and_resume_reproduces);
    UNIT_RUN(resume_errors_name_the_problem);
    UNIT_RUN(missing_shards_are_named);
    UNIT_RUN(nan_loss_names_the_step_and_keeps_the_checkpoint);
    free(full);
    duo_runtime_destroy(rt);
    if (unit_failed)
        printf("kept %s for inspection\n", work);
    else
        test_remove_dir(work);
    return unit_summary("test_train");
}
