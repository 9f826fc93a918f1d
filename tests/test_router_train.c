/* Router training (duocl/router.h) on a tiny stage-1 model and generated
 * data: the files and events of a run, that a run killed with SIGKILL or
 * stopped on request and then resumed writes each step once and gives the
 * uninterrupted run's log and router.ckpt byte for byte, and the errors of
 * bad options and of resume.
 *
 * The SIGKILL run is a forked child that kills itself from the progress
 * callback at a fixed step (after a checkpoint, before the next), so its log
 * runs past its checkpoint as after a crash; it is forked before this process
 * touches OpenCL. The child also trains the stage-1 model all runs share. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "duocl/checkpoint.h"
#include "duocl/router.h"
#include "duocl/runtime.h"
#include "study/train.h"
#include "testutil.h"
#include "unitcheck.h"

/* Checkpoints at 5 and 10; the kill after 8 leaves records 6..8 past the
 * checkpoint; the stop after 7 writes one at 7. */
enum { STEPS = 12, EVERY = 5, KILL_AT = 8, STOP_AT = 7, BUDGET = 2 };

static char work[256], model[512];
static duo_runtime *rt;

/* ---- the stage-1 model (on test_tiny_shards' data, made in main) ---- */

/* A 4-layer model trained for 4 steps: the router needs a model, not a good one. */
static bool train_model(void)
{
    char shards[300], dir[512];
    snprintf(shards, sizeof shards, "%s/shards", work);
    snprintf(dir, sizeof dir, "%s/model", work);
    duo_config c;
    duo_train_options o = {.run_dir = dir};
    return unit_ok("config", test_tiny_config(shards, 4, 4, 4, &c)) &&
           unit_ok("stage-1 training", duo_train(rt, &c, &o));
}

/* ---- router runs ---- */

typedef struct hooks {
    long kill_at, stop_at;
    volatile sig_atomic_t stop;
    int starts, steps, checkpoints, dones;
    long start_step, last_step, checkpoint_steps[8];
    bool in_order;
    char done_path[600];
} hooks;

static void callback(const duo_router_event *e, void *user)
{
    hooks *h = user;
    switch (e->kind) {
    case DUO_ROUTER_EVENT_START:
        h->starts++;
        h->start_step = h->last_step = e->step;
        h->in_order = true;
        break;
    case DUO_ROUTER_EVENT_STEP:
        h->steps++;
        h->in_order = h->in_order && e->step == h->last_step + 1 && e->target == 0.5;
        h->last_step = e->step;
        if (e->step == h->kill_at)
            raise(SIGKILL); /* as a crash or `kill -9` would: no cleanup at all */
        if (e->step == h->stop_at)
            h->stop = 1; /* as the CLI's SIGINT handler does */
        break;
    case DUO_ROUTER_EVENT_CHECKPOINT:
        if (h->checkpoints < 8)
            h->checkpoint_steps[h->checkpoints] = e->step;
        h->checkpoints++;
        break;
    case DUO_ROUTER_EVENT_DONE:
        h->dones++;
        snprintf(h->done_path, sizeof h->done_path, "%s", e->path);
        break;
    }
}

static void run_path(char *buf, size_t size, const char *run, const char *file)
{
    snprintf(buf, size, "%s/%s%s%s", work, run, file ? "/router/k2-SB/" : "", file ? file : "");
}

static duo_status train_router(const char *run, bool resume, hooks *h,
                               void (*change)(duo_router_train_options *))
{
    char dir[512];
    run_path(dir, sizeof dir, run, NULL);
    duo_router_train_options o;
    duo_router_train_defaults(&o);
    o.budget = BUDGET;
    o.steps = STEPS;
    o.batch = 2;
    o.checkpoint_every = EVERY;
    o.checkpoint = model;
    o.resume = resume;
    o.stop = h ? &h->stop : NULL;
    o.callback = h ? callback : NULL;
    o.user = h;
    if (change)
        change(&o);
    return duo_router_train(rt, dir, &o);
}

/* ---- reading what a run wrote ---- */

static test_log *read_log(const char *run)
{
    char path[600];
    run_path(path, sizeof path, run, "log.jsonl");
    return test_read_log(path);
}

static long record_step(const char *line)
{
    const char *p = strstr(line, "\"step\":");
    return p ? atol(p + strlen("\"step\":")) : -1;
}

/* Steps 1..n, each once and in order. */
static bool steps_once_in_order(const char *name, const test_log *log, int n)
{
    bool ok = log->n == n;
    for (int i = 0; i < log->n && ok; i++)
        ok = record_step(log->line[i]) == i + 1;
    char seen[256] = "";
    for (int i = 0; i < log->n; i++) {
        char step[16];
        snprintf(step, sizeof step, "%s%ld", i ? "," : "", record_step(log->line[i]));
        strncat(seen, step, sizeof seen - strlen(seen) - 1);
    }
    return unit_check(name, ok, "want steps 1..%d once each, the log has [%s]", n, seen);
}

static void same_logs(const char *name, const test_log *a, const test_log *b)
{
    char why[1200];
    unit_check(name, test_same_logs(a, b, why, sizeof why), "%s", why);
}

static void same_files(const char *name, const char *run_a, const char *run_b, const char *file)
{
    char a[600], b[600], why[1400];
    run_path(a, sizeof a, run_a, file);
    run_path(b, sizeof b, run_b, file);
    unit_check(name, test_same_files(a, b, why, sizeof why), "%s", why);
}

static uint64_t checkpoint_step(const char *run)
{
    char path[600];
    run_path(path, sizeof path, run, "latest.ckpt");
    return test_checkpoint_step(path);
}

static bool exists(const char *run, const char *file)
{
    char path[600];
    run_path(path, sizeof path, run, file);
    return access(path, R_OK) == 0;
}

/* ---- tests ---- */

static test_log *full; /* the uninterrupted run "full" */

static void router_run_writes_log_checkpoints_and_events(void)
{
    hooks h = {.kill_at = -1, .stop_at = -1};
    if (!unit_ok("router training", train_router("full", false, &h, NULL)))
        return;
    full = read_log("full");
    steps_once_in_order("one record per step", full, STEPS);
    const char *fields[] = {"\"ce\":", "\"penalty\":", "\"big_fraction\":", "\"target\":0.5,",
                            "\"beta\":", "\"grad_norm\":"};
    for (int i = 0; i < 6 && full->n; i++)
        unit_check("record fields", strstr(full->line[0], fields[i]) != NULL, "'%s' lacks %s",
                   full->line[0], fields[i]);
    unit_check("beta starts at beta_start", full->n && strstr(full->line[0], "\"beta\":1,"),
               "first record %s", full->n ? full->line[0] : "(none)");
    unit_check("beta ends at beta_end", full->n == STEPS && strstr(full->line[STEPS - 1], "\"beta\":20,"),
               "last record %s", full->n ? full->line[full->n - 1] : "(none)");
    unit_check("latest checkpoint at the end", checkpoint_step("full") == STEPS, "step %llu",
               (unsigned long long)checkpoint_step("full"));
    unit_check("router.ckpt", exists("full", "router.ckpt"), "missing");
    unit_check("events", h.starts == 1 && h.start_step == 0 && h.steps == STEPS && h.in_order &&
               h.dones == 1 && strstr(h.done_path, "k2-SB/router.ckpt"),
               "%d starts (at %ld), %d steps (in order, target 0.5: %d), %d dones (%s)", h.starts,
               h.start_step, h.steps, h.in_order, h.dones, h.done_path);
    /* latest at 5 and 10, then latest and router.ckpt at 12. */
    unit_check("checkpoint events", h.checkpoints == 4 && h.checkpoint_steps[0] == 5 &&
               h.checkpoint_steps[1] == 10 && h.checkpoint_steps[2] == STEPS &&
               h.checkpoint_steps[3] == STEPS, "%d checkpoints, at %ld, %ld, %ld, %ld",
               h.checkpoints, h.checkpoint_steps[0], h.checkpoint_steps[1],
               h.checkpoint_steps[2], h.checkpoint_steps[3]);
}

/* The forked child of main() was killed after step KILL_AT; its latest
 * checkpoint is from step 5 and its log runs to KILL_AT. */
static void sigkill_then_resume_writes_each_step_once(void)
{
    test_log *killed = read_log("killed");
    unit_check("the kill came after the checkpoint", killed->n == KILL_AT &&
               checkpoint_step("killed") == EVERY, "%d records, checkpoint at step %llu",
               killed->n, (unsigned long long)checkpoint_step("killed"));
    free(killed);
    hooks h = {.kill_at = -1, .stop_at = -1};
    if (unit_ok("resume", train_router("killed", true, &h, NULL))) {
        unit_check("resume starts at the checkpoint", h.start_step == EVERY &&
                   h.steps == STEPS - EVERY, "start %ld, %d steps", h.start_step, h.steps);
        killed = read_log("killed");
        steps_once_in_order("resumed log has each step once", killed, STEPS);
        same_logs("resumed log equals the uninterrupted one", killed, full);
        free(killed);
        same_files("router.ckpt equals the uninterrupted one", "killed", "full", "router.ckpt");
        same_files("latest.ckpt equals the uninterrupted one", "killed", "full", "latest.ckpt");
    }
}

static void stop_then_resume_writes_each_step_once(void)
{
    hooks h = {.kill_at = -1, .stop_at = STOP_AT};
    unit_fails("stop gives DUO_ERR_INTERRUPTED", train_router("stopped", false, &h, NULL),
               DUO_ERR_INTERRUPTED, "step 7 of 12", "--resume");
    unit_check("checkpoint at the stop", checkpoint_step("stopped") == STOP_AT, "step %llu",
               (unsigned long long)checkpoint_step("stopped"));
    unit_check("no router.ckpt after a stop", !exists("stopped", "router.ckpt"), "it exists");
    test_log *stopped = read_log("stopped");
    steps_once_in_order("log up to the stop", stopped, STOP_AT);
    free(stopped);
    h = (hooks){.kill_at = -1, .stop_at = -1};
    if (unit_ok("resume", train_router("stopped", true, &h, NULL))) {
        stopped = read_log("stopped");
        steps_once_in_order("stopped and resumed log has each step once", stopped, STEPS);
        same_logs("stopped and resumed log equals the uninterrupted one", stopped, full);
        free(stopped);
        same_files("stopped and resumed router.ckpt equals the uninterrupted one", "stopped",
                   "full", "router.ckpt");
    }
}

static void no_budget(duo_router_train_options *o) { o->budget = -1; }
static void big_budget(duo_router_train_options *o) { o->budget = 5; }
static void kb(duo_router_train_options *o) { o->alphabet = "KB"; }
static void no_steps(duo_router_train_options *o) { o->steps = 0; }
static void big_lr(duo_router_train_options *o) { o->lr = 2; }
static void bad_beta(duo_router_train_options *o) { o->beta_end = 0; }
static void no_model(duo_router_train_options *o) { o->checkpoint = NULL; }

static void errors_name_the_option_and_what_is_allowed(void)
{
    static const struct {
        const char *name;
        void (*change)(duo_router_train_options *);
        duo_status want;
        const char *needle1, *needle2;
    } cases[] = {
        {"budget is required", no_budget, DUO_ERR_INVALID_ARGUMENT, "--budget K is required", NULL},
        {"budget above L", big_budget, DUO_ERR_INVALID_ARGUMENT, "--budget 5", "4 layers"},
        {"alphabet KB", kb, DUO_ERR_INVALID_ARGUMENT, "--alphabet 'KB'", "SB or KSB"},
        {"steps 0", no_steps, DUO_ERR_INVALID_ARGUMENT, "--steps 0", "from 1"},
        {"lr 2", big_lr, DUO_ERR_INVALID_ARGUMENT, "--lr 2", "[0, 1]"},
        {"beta-end 0", bad_beta, DUO_ERR_INVALID_ARGUMENT, "--beta-end 0", "[0.001, 10000]"},
        {"a run without a model", no_model, DUO_ERR_IO, "no checkpoint", "--checkpoint"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        unit_fails(cases[i].name, train_router("errors", false, NULL, cases[i].change),
                   cases[i].want, cases[i].needle1, cases[i].needle2);
    unit_fails("resume needs latest.ckpt", train_router("errors", true, NULL, NULL), DUO_ERR_IO,
               "latest.ckpt", "does not exist");
    unit_fails("a finished router has nothing to resume", train_router("full", true, NULL, NULL),
               DUO_ERR_CONFIG, "nothing to resume", "--steps");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0); /* nothing buffered is duplicated by fork */
    if (!test_temp_dir(work, sizeof work, "test-router-train"))
        return 1;
    snprintf(model, sizeof model, "%s/model/checkpoints/final.ckpt", work);
    char shards[300];
    snprintf(shards, sizeof shards, "%s/shards", work);
    if (!unit_ok("shards", test_tiny_shards(shards, 30000, 4000)))
        return unit_summary("test_router_train");

    duo_runtime_options ro = {.device = getenv("DUOCL_DEVICE")};
    pid_t child = fork();
    if (child == 0) {
        if (duo_runtime_create(&ro, &rt) != DUO_OK || !train_model())
            _exit(2);
        hooks h = {.kill_at = KILL_AT, .stop_at = -1};
        train_router("killed", false, &h, NULL);
        _exit(3); /* not reached: the callback kills the process */
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (!unit_check("child trained the model and was killed by SIGKILL",
                    WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status 0x%x",
                    status))
        return unit_summary("test_router_train");

    if (!unit_ok("runtime", duo_runtime_create(&ro, &rt)))
        return unit_summary("test_router_train");
    UNIT_RUN(router_run_writes_log_checkpoints_and_events);
    if (full) {
        UNIT_RUN(sigkill_then_resume_writes_each_step_once);
        UNIT_RUN(stop_then_resume_writes_each_step_once);
    }
    UNIT_RUN(errors_name_the_option_and_what_is_allowed);
    free(full);
    duo_runtime_destroy(rt);
    if (unit_failed)
        printf("kept %s for inspection\n", work);
    else
        test_remove_dir(work);
    return unit_summary("test_router_train");
}
