/* The oracle-taught router (duocl router train --teacher oracle, issue 16)
 * on a tiny stage-1 model: its imitation loss falls, it writes
 * RUN/router/k<K>-SB-oracle/, evaluated with exact routing its realized
 * budget is K (argmax: within 0.3); the seed picks
 * the folder and changes the router; bad teacher options are refused. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duocl/eval.h"
#include "duocl/router.h"
#include "duocl/runtime.h"
#include "study/train.h"
#include "testutil.h"
#include "unitcheck.h"

enum { BUDGET = 2, STEPS = 100 };

static char work[256], run[512];
static duo_runtime *rt;

static duo_status train_router(uint64_t seed, const char *teacher, int steps)
{
    duo_router_train_options o;
    duo_router_train_defaults(&o);
    o.budget = BUDGET;
    o.steps = steps;
    o.batch = 4;
    o.seed = seed;
    o.teacher = teacher;
    o.teacher_windows = 64;
    o.alpha = 3; /* the study's and the CLI's default with --teacher oracle */
    return duo_router_train(rt, run, &o);
}

/* The "ce" of each record of a router log. */
static int read_ce(const char *path, double *ce, int cap, int *agreements)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[1024];
    int n = 0;
    *agreements = 0;
    while (n < cap && fgets(line, sizeof line, f)) {
        const char *c = strstr(line, "\"ce\":");
        if (c)
            ce[n++] = atof(c + 5);
        *agreements += strstr(line, "\"agreement\":") != NULL;
    }
    fclose(f);
    return n;
}

static double mean(const double *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += x[i];
    return s / n;
}

static double eval_budget(const char *spec, double *loss)
{
    duo_eval_options eo = {.run_dir = run, .routes = spec};
    duo_eval_summary *s = calloc(1, sizeof *s);
    double budget = NAN;
    if (s && unit_ok(spec, duo_eval_run(rt, &eo, s))) {
        double b = 0, l = 0;
        for (int d = 0; d < s->n_domains; d++) {
            b += s->domain[d].budget;
            l += s->domain[d].loss;
        }
        budget = b / s->n_domains;
        *loss = l / s->n_domains;
    }
    free(s);
    return budget;
}

static void oracle_taught_router_learns_and_keeps_the_budget(void)
{
    if (!unit_ok("oracle-taught router", train_router(1, "oracle", STEPS)))
        return;
    char path[700], ckpt[700], spec[800];
    snprintf(path, sizeof path, "%s/router/k%d-SB-oracle/log.jsonl", run, BUDGET);
    snprintf(ckpt, sizeof ckpt, "%s/router/k%d-SB-oracle/router.ckpt", run, BUDGET);
    double ce[STEPS];
    int agreements = 0, n = read_ce(path, ce, STEPS, &agreements);
    unit_check("log has a record per step, each with the teacher's agreement",
               n == STEPS && agreements == STEPS, "%d records, %d with agreement", n, agreements);
    if (n == STEPS) {
        /* Each step is another batch of the pool: means over 10 steps. */
        double first = mean(ce, 10), last = mean(ce + STEPS - 10, 10);
        unit_check("the imitation loss falls", last < first - 0.01,
                   "mean ce of the first 10 steps %.4f, of the last 10 %.4f", first, last);
    }
    double loss;
    snprintf(spec, sizeof spec, "router:%s", ckpt);
    double argmax = eval_budget(spec, &loss);
    /* Argmax decides each layer alone: its budget follows the budget term
     * only roughly on held-out windows (the exact routing below keeps it). */
    unit_check("argmax routing realizes the budget within 0.3", fabs(argmax - BUDGET) <= 0.3,
               "realized %.4f BIG layers per token, target %d", argmax, BUDGET);
    snprintf(spec, sizeof spec, "router:%s,exact", ckpt);
    double exact = eval_budget(spec, &loss);
    unit_check("exact routing realizes the budget", fabs(exact - BUDGET) < 1e-9,
               "realized %.6f, target %d", exact, BUDGET);
}

/* The pool's search is kept in RUN/router/oracle-pool-k<K>-w<P>.bin: a
 * second run reads it and trains the same router; a file that does not
 * match (here: truncated) is searched again and rewritten. */
static void the_pool_file_is_reused_and_checked(void)
{
    char pool[700], ckpt[700], first[700], why[300];
    snprintf(pool, sizeof pool, "%s/router/oracle-pool-k%d-w64.bin", run, BUDGET);
    snprintf(ckpt, sizeof ckpt, "%s/router/k%d-SB-oracle/router.ckpt", run, BUDGET);
    snprintf(first, sizeof first, "%s/first.ckpt", work);
    if (!unit_check("the pool file is written", access(pool, R_OK) == 0, "%s", pool) ||
        !unit_check("router kept", rename(ckpt, first) == 0, "%s", ckpt))
        return;
    FILE *f = fopen(pool, "r+b");
    long size = -1;
    if (f && fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (f)
        fclose(f);
    if (unit_ok("again, from the pool file", train_router(1, "oracle", STEPS)))
        unit_check("the same router from the pool file", test_same_files(first, ckpt, why, sizeof why),
                   "%s", why);
    if (!unit_check("pool file truncated", size > 64 && truncate(pool, size - 4) == 0, "size %ld",
                    size))
        return;
    if (unit_ok("again, from a truncated pool file", train_router(1, "oracle", STEPS)))
        unit_check("the same router after searching again",
                   test_same_files(first, ckpt, why, sizeof why), "%s", why);
    f = fopen(pool, "rb");
    long now = -1;
    if (f && fseek(f, 0, SEEK_END) == 0)
        now = ftell(f);
    if (f)
        fclose(f);
    unit_check("the pool file is written again", now == size, "%ld bytes, was %ld", now, size);
}

static void seed_names_the_folder_and_changes_the_router(void)
{
    if (!unit_ok("seed 2", train_router(2, "oracle", 3)))
        return;
    char a[700], b[700], why[300];
    snprintf(a, sizeof a, "%s/router/k%d-SB-oracle-s2/router.ckpt", run, BUDGET);
    unit_check("seed 2 writes k2-SB-oracle-s2", access(a, R_OK) == 0, "%s", a);
    if (!unit_ok("seed 1, 3 steps", train_router(1, "oracle", 3)))
        return;
    snprintf(b, sizeof b, "%s/router/k%d-SB-oracle/router.ckpt", run, BUDGET);
    unit_check("seeds 1 and 2 give different routers", !test_same_files(a, b, why, sizeof why),
               "%s and %s are the same", a, b);
    if (!unit_ok("budget teacher, seed 2", train_router(2, NULL, 2)))
        return;
    snprintf(a, sizeof a, "%s/router/k%d-SB-s2/router.ckpt", run, BUDGET);
    unit_check("budget teacher, seed 2 writes k2-SB-s2", access(a, R_OK) == 0, "%s", a);
}

static void bad_teacher_options_are_refused(void)
{
    unit_fails("unknown teacher", train_router(1, "label", 2), DUO_ERR_INVALID_ARGUMENT,
               "--teacher 'label'", "budget or oracle");
    duo_router_train_options o;
    duo_router_train_defaults(&o);
    o.budget = BUDGET;
    o.teacher = "oracle";
    o.alphabet = "KSB";
    unit_fails("oracle teacher with KSB", duo_router_train(rt, run, &o), DUO_ERR_INVALID_ARGUMENT,
               "--teacher oracle", "SB only");
    o.alphabet = "SB";
    o.teacher_windows = -3;
    unit_fails("negative teacher windows", duo_router_train(rt, run, &o),
               DUO_ERR_INVALID_ARGUMENT, "--teacher-windows -3", "1 to");
}

int main(void)
{
    if (!test_temp_dir(work, sizeof work, "test-router-teacher"))
        return 1;
    char shards[300];
    snprintf(shards, sizeof shards, "%s/shards", work);
    snprintf(run, sizeof run, "%s/run", work);
    duo_runtime_options ro = {.device = getenv("DUOCL_DEVICE")};
    duo_config c;
    duo_train_options to = {.run_dir = run};
    if (!unit_ok("shards", test_tiny_shards(shards, 30000, 4000)) ||
        !unit_ok("runtime", duo_runtime_create(&ro, &rt)) ||
        !unit_ok("config", test_tiny_config(shards, 30, 30, 30, &c)) ||
        !unit_ok("stage-1 training", duo_train(rt, &c, &to)))
        return unit_summary("test_router_teacher");
    UNIT_RUN(oracle_taught_router_learns_and_keeps_the_budget);
    UNIT_RUN(the_pool_file_is_reused_and_checked);
    UNIT_RUN(seed_names_the_folder_and_changes_the_router);
    UNIT_RUN(bad_teacher_options_are_refused);
    duo_runtime_destroy(rt);
    if (unit_failed)
        printf("kept %s for inspection\n", work);
    else
        test_remove_dir(work);
    return unit_summary("test_router_teacher");
}
