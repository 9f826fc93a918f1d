/* Resuming from a checkpoint whose checksum is good but whose state is not
 * one a run can have (issue 14): state.step >= 2^63 passed the resume check
 * as a negative step ("resuming at step -9223372036854775803") and the log
 * trim then emptied log.jsonl. Every u64 of the state is checked before it
 * is cast: the run stops with DUO_ERR_FORMAT naming the file and the field,
 * and the log is left as it was. The same for router training's latest.ckpt,
 * and for router.budget in a router checkpoint. A run killed after its last
 * latest.ckpt but before final.ckpt (router.ckpt) resumes to write it, the
 * same bytes an uninterrupted run writes. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duocl/checkpoint.h"
#include "duocl/router.h"
#include "duocl/runtime.h"
#include "study/router.h"
#include "study/train.h"
#include "testutil.h"
#include "unitcheck.h"

enum { STEPS = 4, ROUTER_STEPS = 4, BUDGET = 1 };

static char work[256], run_dir[512];
static duo_runtime *rt;
static duo_config config;

/* Rewrites the checkpoint at path with the u64 scalar `name` set to value
 * (a damaged file with a good checksum); false after a failed check. */
static bool set_u64(const char *path, const char *name, uint64_t value)
{
    duo_checkpoint *ck;
    if (!unit_ok("open to doctor", duo_checkpoint_open(path, &ck)))
        return false;
    char out[700];
    snprintf(out, sizeof out, "%s.doctored", path);
    duo_checkpoint_writer *w;
    duo_status st = duo_checkpoint_writer_open(out, duo_checkpoint_config_json(ck), &w);
    bool found = false;
    for (size_t i = 0; st == DUO_OK && i < duo_checkpoint_tensor_count(ck); i++) {
        duo_tensor_desc t;
        st = duo_checkpoint_tensor_at(ck, i, &t);
        if (st == DUO_OK && strcmp(t.name, name) == 0) {
            found = true;
            st = duo_checkpoint_writer_add_u64(w, name, value);
        } else if (st == DUO_OK) {
            st = duo_checkpoint_writer_add(w, &t);
        }
    }
    duo_checkpoint_close(ck);
    if (st == DUO_OK)
        st = duo_checkpoint_writer_commit(w);
    else
        duo_checkpoint_writer_abort(w);
    return unit_ok("doctor", st) && unit_check("field found", found, "%s has no %s", path, name) &&
           unit_check("replace", rename(out, path) == 0, "%s", out);
}

static bool copy_file(const char *from, const char *to)
{
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    return unit_check("copy", system(cmd) == 0, "%s", cmd);
}

static bool same_files(const char *name, const char *a, const char *b)
{
    char why[1200];
    return unit_check(name, test_same_files(a, b, why, sizeof why), "%s", why);
}

static duo_status train(int steps, bool resume)
{
    duo_config c = config;
    c.train.steps = steps;
    duo_train_options o = {.run_dir = run_dir, .resume = resume};
    return duo_train(rt, &c, &o);
}

/* state.`field` = value in latest.ckpt, then a resume to more steps must
 * fail naming the file and the field, leaving log.jsonl as it was. */
static void train_resume_refuses(const char *name, const char *field, uint64_t value, const char *needle)
{
    char latest[700], saved[700], log[700], log_copy[700];
    snprintf(latest, sizeof latest, "%s/checkpoints/latest.ckpt", run_dir);
    snprintf(saved, sizeof saved, "%s/latest.good", work);
    snprintf(log, sizeof log, "%s/log.jsonl", run_dir);
    snprintf(log_copy, sizeof log_copy, "%s/log.good", work);
    if (!copy_file(latest, saved) || !copy_file(log, log_copy) || !set_u64(latest, field, value))
        return;
    unit_fails(name, train(STEPS + 4, true), DUO_ERR_FORMAT, needle, "latest.ckpt");
    same_files("log.jsonl is kept", log, log_copy);
    copy_file(saved, latest);
}

static void train_resume_checks_the_state(void)
{
    if (!unit_ok("train", train(STEPS, false)))
        return;
    train_resume_refuses("state.step 2^63 + 5", "state.step", (1ULL << 63) + 5,
                         "state.step is 9223372036854775813");
    train_resume_refuses("state.step past any run", "state.step", 2000000000ULL,
                         "state.step is 2000000000");
    train_resume_refuses("state.loader_next 2^64 - 1", "state.loader_next", UINT64_MAX,
                         "state.loader_next is 18446744073709551615");
    train_resume_refuses("state.loader_seed of another run", "state.loader_seed", 77,
                         "state.loader_seed is 77");
    /* Killed between the last latest.ckpt and final.ckpt. */
    char final[700], kept[700], log[700], log_copy[700];
    snprintf(final, sizeof final, "%s/checkpoints/final.ckpt", run_dir);
    snprintf(kept, sizeof kept, "%s/final.good", work);
    snprintf(log, sizeof log, "%s/log.jsonl", run_dir);
    snprintf(log_copy, sizeof log_copy, "%s/log.good", work);
    if (copy_file(final, kept) && copy_file(log, log_copy) && unit_check("rm final", remove(final) == 0, "%s", final)) {
        unit_ok("resume after the last step writes final.ckpt", train(STEPS, true));
        same_files("final.ckpt as uninterrupted", final, kept);
        same_files("log.jsonl as uninterrupted", log, log_copy);
    }
    unit_fails("with final.ckpt there is nothing to resume", train(STEPS, true), DUO_ERR_CONFIG,
               "nothing to resume", NULL);
    unit_ok("the good checkpoint still resumes", train(STEPS + 2, true));
}

static duo_status train_router(bool resume)
{
    duo_router_train_options o;
    duo_router_train_defaults(&o);
    o.budget = BUDGET;
    o.steps = ROUTER_STEPS + (resume ? 2 : 0);
    o.batch = 2;
    o.checkpoint_every = 2;
    o.resume = resume;
    return duo_router_train(rt, run_dir, &o);
}

static void router_resume_checks_the_state(void)
{
    if (!unit_ok("router train", train_router(false)))
        return;
    char latest[700], log[700], log_copy[700], model[700];
    snprintf(latest, sizeof latest, "%s/router/k%d-SB/latest.ckpt", run_dir, BUDGET);
    snprintf(log, sizeof log, "%s/router/k%d-SB/log.jsonl", run_dir, BUDGET);
    snprintf(log_copy, sizeof log_copy, "%s/router-log.good", work);
    snprintf(model, sizeof model, "%s/router/k%d-SB/router.ckpt", run_dir, BUDGET);
    if (!copy_file(log, log_copy))
        return;
    /* Killed between the last latest.ckpt and router.ckpt. */
    char kept[700], saved_latest[700];
    snprintf(kept, sizeof kept, "%s/router.good", work);
    snprintf(saved_latest, sizeof saved_latest, "%s/router-latest.good", work);
    if (copy_file(model, kept) && copy_file(latest, saved_latest) &&
        unit_check("rm router.ckpt", remove(model) == 0, "%s", model)) {
        duo_router_train_options o;
        duo_router_train_defaults(&o);
        o.budget = BUDGET;
        o.steps = ROUTER_STEPS;
        o.batch = 2;
        o.checkpoint_every = 2;
        o.resume = true;
        unit_ok("router resume after the last step writes router.ckpt", duo_router_train(rt, run_dir, &o));
        same_files("router.ckpt as uninterrupted", model, kept);
        same_files("router log as uninterrupted", log, log_copy);
        copy_file(saved_latest, latest);
    }
    if (set_u64(latest, "state.step", (1ULL << 63) + 5)) {
        unit_fails("router state.step 2^63 + 5", train_router(true), DUO_ERR_FORMAT,
                   "state.step is 9223372036854775813", "latest.ckpt");
        same_files("the router's log.jsonl is kept", log, log_copy);
    }
    if (set_u64(latest, "state.step", 2) && set_u64(latest, "state.loader_next", UINT64_MAX))
        unit_fails("router state.loader_next 2^64 - 1", train_router(true), DUO_ERR_FORMAT,
                   "state.loader_next is 18446744073709551615", "latest.ckpt");
    /* router.budget becomes an int: 2^32 + 1 would be budget 1. */
    if (set_u64(model, "router.budget", (1ULL << 32) + BUDGET)) {
        duo_checkpoint *ck;
        duo_model *m = NULL;
        duo_router *r = NULL;
        int budget = -1;
        if (unit_ok("open the model", duo_checkpoint_open(latest, &ck))) {
            duo_config c;
            if (unit_ok("its config", duo_config_parse(duo_checkpoint_config_json(ck), "latest", &c)) &&
                unit_ok("model", duo_model_create(rt, &c.model, &m)))
                unit_fails("router.budget 2^32 + 1", duo_router_load(m, model, &r, &budget, NULL),
                           DUO_ERR_FORMAT, "router.budget is 4294967297", "router.ckpt");
            duo_checkpoint_close(ck);
        }
        duo_router_destroy(r);
        duo_model_destroy(m);
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!test_temp_dir(work, sizeof work, "resume-guards"))
        return 1;
    char shards[300];
    snprintf(shards, sizeof shards, "%s/shards", work);
    snprintf(run_dir, sizeof run_dir, "%s/run", work);
    if (!unit_ok("shards", test_tiny_shards(shards, 30000, 4000)) ||
        !unit_ok("config", test_tiny_config(shards, STEPS, 0, 2, &config)))
        return unit_summary("test_resume_guards");
    duo_runtime_options ro = {.device = getenv("DUOCL_DEVICE")};
    if (!unit_ok("runtime", duo_runtime_create(&ro, &rt)))
        return unit_summary("test_resume_guards");
    UNIT_RUN(train_resume_checks_the_state);
    UNIT_RUN(router_resume_checks_the_state);
    duo_runtime_destroy(rt);
    if (unit_failed)
        printf("kept %s for inspection\n", work);
    else
        test_remove_dir(work);
    return unit_summary("test_resume_guards");
}
