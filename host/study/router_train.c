/* Router training (stage 3): options, the beta schedule, the run folder's
 * router files, resume and the step loop (see duocl/router.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/comm.h"
#include "base/error.h"
#include "base/fileio.h"
#include "model/model_io.h"
#include "router.h"
#include "router_teacher.h"
#include "router_train.h"
#include "run_folder.h"
#include "spread.h"

enum { PATH_CAP = 4096 };

/* Mixed into the seed for the data order, so that it differs from the
 * router's initialisation ("router" in ASCII). */
#define LOADER_SEED_SALT 0x726f75746572ULL

enum { MAX_STEPS = 10000000, MAX_BATCH = 4096 }; /* --steps, --batch */
enum { DEFAULT_TEACHER_WINDOWS = 64, MAX_TEACHER_WINDOWS = 65536 };

static bool oracle_teacher(const duo_router_train_options *o)
{
    return o->teacher && strcmp(o->teacher, "oracle") == 0;
}

duo_status duo_router_train_dir(const char *run_dir, const duo_router_train_options *o, char *out,
                                size_t cap)
{
    char alphabet[32];
    int n = snprintf(alphabet, sizeof alphabet, "%s%s", o->alphabet ? o->alphabet : "SB",
                     oracle_teacher(o) ? "-oracle" : "");
    if (o->seed != 1)
        snprintf(alphabet + n, sizeof alphabet - (size_t)n, "-s%llu", (unsigned long long)o->seed);
    return duo_run_router_dir(run_dir, o->budget, alphabet, out, cap);
}

/* --teacher and --teacher-windows. */
static duo_status check_teacher(const duo_router_train_options *o, duo_alphabet alphabet)
{
    if (o->teacher && strcmp(o->teacher, "budget") != 0 && strcmp(o->teacher, "oracle") != 0)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "--teacher '%s': allowed budget or oracle",
                        o->teacher);
    if (oracle_teacher(o) && alphabet != DUO_ALPHABET_SB)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "--teacher oracle: the oracle's masks are "
                        "searched over small/big patterns; allowed with --alphabet SB only");
    if (o->teacher_windows < 0 || o->teacher_windows > MAX_TEACHER_WINDOWS)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "--teacher-windows %d: allowed 1 to %d",
                        o->teacher_windows, MAX_TEACHER_WINDOWS);
    return DUO_OK;
}

void duo_router_train_defaults(duo_router_train_options *o)
{
    *o = (duo_router_train_options){.budget = -1, .alphabet = "SB", .alpha = 10, .steps = 150,
                                    .beta_start = 1, .beta_end = 20, .lr = 3e-3, .batch = 8,
                                    .seed = 1, .checkpoint_every = 50};
}

double duo_router_beta(double beta_start, double beta_end, long steps, long step)
{
    double f = steps > 1 ? (double)step / (double)(steps - 1) : 1.0;
    return beta_start * pow(beta_end / beta_start, f);
}

/* Everything that can be checked before the model is read; the budget's
 * upper bound (L) is checked once it is. */
static duo_status check_options(const duo_router_train_options *o, duo_alphabet *alphabet)
{
    if (o->budget == -1)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "--budget K is required (0 to L, the model's number of layers)");
    if (o->budget < 0)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "--budget %d: allowed 0 to L (the model's "
                        "number of layers)", o->budget);
    const char *name = o->alphabet ? o->alphabet : "SB";
    if (!duo_alphabet_parse(name, alphabet) || *alphabet == DUO_ALPHABET_KB)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "--alphabet '%s': allowed SB or KSB", name);
    const struct { const char *name; double value, lo, hi; const char *allowed; } checks[] = {
        {"alpha", o->alpha, 0, 1e6, "a number in [0, 1000000]"},
        {"steps", o->steps, 1, MAX_STEPS, "a whole number from 1 to 10000000"},
        {"beta-start", o->beta_start, 1e-3, 1e4, "a number in [0.001, 10000]"},
        {"beta-end", o->beta_end, 1e-3, 1e4, "a number in [0.001, 10000]"},
        {"lr", o->lr, 0, 1, "a number in [0, 1]"},
        {"batch", o->batch, 1, MAX_BATCH, "a whole number from 1 to 4096"},
        {"checkpoint-every", o->checkpoint_every, 0, 1e9, "a whole number >= 0 (0: only on a stop "
                                                           "and at the end)"},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        if (!(checks[i].value >= checks[i].lo && checks[i].value <= checks[i].hi))
            return duo_fail(DUO_ERR_INVALID_ARGUMENT, "--%s %g: allowed %s", checks[i].name,
                            checks[i].value, checks[i].allowed);
    return check_teacher(o, *alphabet);
}

typedef struct session {
    duo_runtime *rt;
    const duo_router_train_options *o;
    duo_alphabet alphabet;
    duo_config config;
    char *config_json;
    duo_model *model;
    duo_router *router;
    duo_loader *loader;
    duo_activations *a;
    duo_router_teacher *teacher; /* --teacher oracle */
    char dir[PATH_CAP], latest[PATH_CAP], final_path[PATH_CAP], log_path[PATH_CAP];
    FILE *log;
    long start_step, saved_step; /* saved_step: of latest.ckpt, -1 before one is written */
    double t0;
    /* Data-parallel under MPI: each rank trains on batch/ranks windows of
     * every step's batch; rank 0 alone writes and reports. */
    bool spread;
    int ranks;
} session;

static void emit(session *x, duo_router_event *e)
{
    e->steps = x->o->steps;
    e->first_step = x->start_step;
    e->resumed = x->o->resume;
    e->budget = x->o->budget;
    e->layers = x->config.model.n_layers;
    e->dir = x->dir;
    e->target = (double)x->o->budget / x->config.model.n_layers;
    e->elapsed_s = duo_now_seconds() - x->t0;
    if (x->o->callback && duo_spread_root())
        x->o->callback(e, x->o->user);
}

/* Loads latest.ckpt of the router folder and puts the data where it was. */
static duo_status resume_from(session *x)
{
    if (access(x->latest, R_OK) != 0)
        return duo_fail(DUO_ERR_IO, "cannot resume: '%s' does not exist (start without --resume)",
                        x->latest);
    int budget;
    duo_router_state state;
    DUO_TRY(duo_router_load(x->model, x->latest, &x->router, &budget, &state));
    if (budget != x->o->budget || x->router->alphabet != x->alphabet)
        return duo_fail(DUO_ERR_CONFIG, "'%s' is a router for budget %d, alphabet %s, not %d, %s",
                        x->latest, budget, duo_alphabet_name(x->router->alphabet), x->o->budget,
                        duo_alphabet_name(x->alphabet));
    /* In u64 before any cast: a step beyond any run (a damaged file with a
     * good checksum) would turn negative and have the log trimmed to nothing. */
    if (state.step > MAX_STEPS)
        return duo_fail(DUO_ERR_FORMAT, "'%s': state.step is %llu, more than any router training "
                        "has (--steps is at most %d): the checkpoint is damaged", x->latest,
                        (unsigned long long)state.step, MAX_STEPS);
    /* Killed after the last latest.ckpt but before router.ckpt: resume to
     * write router.ckpt (train_loop). */
    bool unfinished = state.step == (uint64_t)x->o->steps && access(x->final_path, F_OK) != 0;
    if (state.step >= (uint64_t)x->o->steps && !unfinished)
        return duo_fail(DUO_ERR_CONFIG, "'%s' has already done %llu steps and --steps is %d: "
                        "nothing to resume (raise --steps to train longer)", x->latest,
                        (unsigned long long)state.step, x->o->steps);
    /* Each step takes one batch of windows; the batch may have changed since. */
    if (state.loader_next > state.step * MAX_BATCH)
        return duo_fail(DUO_ERR_FORMAT, "'%s': state.loader_next is %llu; after %llu steps of at most "
                        "%d windows it is at most %llu: the checkpoint is damaged", x->latest,
                        (unsigned long long)state.loader_next, (unsigned long long)state.step,
                        MAX_BATCH, (unsigned long long)(state.step * MAX_BATCH));
    x->start_step = x->saved_step = (long)state.step;
    duo_loader_state ls = {state.loader_seed, state.loader_next};
    duo_loader_set_state(x->loader, &ls);
    double elapsed;
    return duo_spread_root() ? duo_run_log_trim(x->log_path, x->start_step, &elapsed) : DUO_OK;
}

/* The oracle teacher, its search kept in RUN/router/oracle-pool-k<K>-w<P>.bin
 * for the other seeds and the signal router. */
static duo_status create_teacher(session *x, const char *run_dir, const char *model_path)
{
    const duo_router_train_options *o = x->o;
    int windows = o->teacher_windows ? o->teacher_windows : DEFAULT_TEACHER_WINDOWS;
    char cache[PATH_CAP];
    uint64_t key;
    DUO_TRY(duo_router_teacher_cache(run_dir, o->budget, windows, cache, sizeof cache));
    DUO_TRY(duo_router_teacher_model_key(model_path, &key));
    DUO_TRY(duo_make_directories(x->dir));
    return duo_router_teacher_create(x->model, x->a, &x->config, o->budget, windows, o->seed,
                                     cache, key, &x->teacher);
}

static duo_status setup(session *x, const char *run_dir)
{
    const duo_router_train_options *o = x->o;
    char model_path[PATH_CAP];
    DUO_TRY(duo_run_find_checkpoint(run_dir, o->checkpoint, model_path, sizeof model_path));
    DUO_TRY(duo_model_open(x->rt, model_path, &x->config, &x->model));
    int L = x->config.model.n_layers;
    if (o->budget > L)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "--budget %d: the model has %d layers (allowed "
                        "0 to %d)", o->budget, L, L);
    DUO_TRY(duo_config_to_json(&x->config, &x->config_json));
    DUO_TRY(duo_router_train_dir(run_dir, o, x->dir, sizeof x->dir));
    DUO_TRY(duo_run_path(x->dir, DUO_ROUTER_LATEST, x->latest, sizeof x->latest));
    DUO_TRY(duo_run_path(x->dir, DUO_ROUTER_MODEL, x->final_path, sizeof x->final_path));
    DUO_TRY(duo_run_path(x->dir, DUO_ROUTER_LOG, x->log_path, sizeof x->log_path));
    DUO_TRY(duo_run_open_loader(&x->config, o->seed ^ LOADER_SEED_SALT, &x->loader));
    x->saved_step = -1;
    if (o->resume)
        DUO_TRY(resume_from(x));
    else
        DUO_TRY(duo_router_create(x->model, x->alphabet, o->seed, &x->router));
    DUO_TRY(duo_activations_create(x->model, (size_t)(o->batch / x->ranks),
                                   (size_t)x->config.model.ctx, true, &x->a));
    if (oracle_teacher(o))
        DUO_TRY(create_teacher(x, run_dir, model_path));
    if (!duo_spread_root())
        return DUO_OK;
    DUO_TRY(duo_make_directories(x->dir));
    DUO_TRY(duo_open_log(x->log_path, "router log", !o->resume, &x->log));
    return DUO_OK;
}

/* latest.ckpt carries the optimizer and the data position; router.ckpt only
 * the router. */
static duo_status save(session *x, long step, bool latest)
{
    const char *path = latest ? x->latest : x->final_path;
    duo_loader_state ls;
    duo_loader_get_state(x->loader, &ls);
    duo_router_state state = {(uint64_t)step, ls.seed, ls.next_window};
    if (duo_spread_root()) /* every rank holds the same router */
        DUO_TRY(duo_router_save(x->router, path, x->config_json, x->o->budget,
                                latest ? &state : NULL));
    if (latest)
        x->saved_step = step;
    duo_router_event e = {.kind = DUO_ROUTER_EVENT_CHECKPOINT, .step = step, .path = path};
    emit(x, &e);
    return DUO_OK;
}

/* agreement: the oracle teacher's (NaN: none, the record is the budget loss's). */
static duo_status write_record(session *x, long step, const duo_router_step *r, double beta,
                               double agreement)
{
    if (!x->log) /* not rank 0 */
        return DUO_OK;
    fprintf(x->log, "{\"step\":%ld,\"ce\":%.9g,\"penalty\":%.9g,\"big_fraction\":%.9g,"
            "\"target\":%.9g,\"beta\":%.9g,\"grad_norm\":%.9g",
            step, (double)r->ce, (double)r->penalty, (double)r->big_fraction,
            (double)x->o->budget / x->config.model.n_layers, beta, (double)r->grad_norm);
    if (!isnan(agreement))
        fprintf(x->log, ",\"teacher\":\"oracle\",\"agreement\":%.9g", agreement);
    fputs("}\n", x->log);
    if (fflush(x->log) != 0 || ferror(x->log))
        return duo_fail(DUO_ERR_IO, "cannot write '%s': %s", x->log_path, strerror(errno));
    return DUO_OK;
}

static duo_status train_loop(session *x)
{
    const duo_router_train_options *o = x->o;
    if (x->start_step == o->steps) /* resumed after the last latest.ckpt */
        return save(x, o->steps, false);
    /* B windows a step (every rank draws them all: the loader stays the
     * same everywhere), of which this rank trains on its Bl. */
    size_t B = (size_t)o->batch, T = (size_t)x->config.model.ctx, Bl = B / (size_t)x->ranks;
    const int32_t *mine = NULL;
    int32_t *windows = malloc(B * (T + 1) * sizeof *windows);
    int32_t *inputs = malloc(Bl * T * sizeof *inputs), *targets = malloc(Bl * T * sizeof *targets);
    /* Ignored under the router's soft mixture; set_batch wants some. */
    uint8_t *routes = calloc((size_t)x->config.model.n_layers * B * T, 1);
    duo_status st = windows && inputs && targets && routes
                        ? DUO_OK
                        : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for router batches");
    for (long s = x->start_step; s < o->steps && st == DUO_OK; s++) {
        long done = s + 1;
        duo_router_hparams h = {.budget = o->budget, .alpha = o->alpha, .lr = o->lr, .step = s,
                                .beta = duo_router_beta(o->beta_start, o->beta_end, o->steps, s),
                                .sum_over_ranks = x->spread};
        duo_router_step r = {0};
        double agreement = NAN;
        if (x->teacher)
            st = duo_router_teacher_step(x->teacher, x->router, x->a, &h, &r, &agreement);
        else
            st = duo_loader_next(x->loader, (int)B, windows, NULL);
        if (st == DUO_OK && !x->teacher) {
            mine = windows + (size_t)duo_comm_rank() * Bl * (T + 1);
            duo_split_windows(mine, (int)Bl, (int)T, inputs, targets);
            st = duo_model_set_batch(x->model, x->a, inputs, targets, routes);
        }
        if (st == DUO_OK && !x->teacher)
            st = duo_router_train_step(x->router, x->a, &h, &r);
        if (st != DUO_OK) {
            st = duo_run_step_failed(st, "router training", done, x->o->steps, x->latest,
                                     x->saved_step);
            break;
        }
        st = write_record(x, done, &r, h.beta, agreement);
        duo_router_event e = {.kind = DUO_ROUTER_EVENT_STEP, .step = done, .ce = r.ce,
                              .penalty = r.penalty, .big_fraction = r.big_fraction,
                              .beta = h.beta, .grad_norm = r.grad_norm};
        emit(x, &e);
        bool last = done == o->steps;
        if (st == DUO_OK && (last || (o->checkpoint_every > 0 && done % o->checkpoint_every == 0)))
            st = save(x, done, true);
        if (st == DUO_OK && last)
            st = save(x, done, false);
        bool stop = o->stop && *o->stop;
        if (st == DUO_OK && x->spread) /* a stop on any rank stops every rank here */
            st = duo_comm_any(stop, &stop);
        if (st == DUO_OK && !last && stop) {
            if (x->saved_step != done)
                st = save(x, done, true);
            if (st == DUO_OK)
                st = duo_fail(DUO_ERR_INTERRUPTED, "interrupted after step %ld of %d; checkpoint "
                              "%s written (continue with --resume)", done, o->steps, x->latest);
        }
    }
    free(windows);
    free(inputs);
    free(targets);
    free(routes);
    return st;
}

static duo_status train_here(duo_runtime *rt, const char *run_dir,
                             const duo_router_train_options *options, bool spread)
{
    session x = {.rt = rt, .o = options, .spread = spread, .ranks = spread ? duo_comm_size() : 1};
    duo_status st = check_options(options, &x.alphabet);
    if (st == DUO_OK)
        st = setup(&x, run_dir);
    if (spread)
        st = duo_spread_agree(st);
    if (st == DUO_OK) {
        x.t0 = duo_now_seconds();
        duo_router_event e = {.kind = DUO_ROUTER_EVENT_START, .step = x.start_step};
        emit(&x, &e);
        st = train_loop(&x);
    }
    if (st == DUO_OK) {
        duo_router_event e = {.kind = DUO_ROUTER_EVENT_DONE, .step = options->steps,
                              .path = x.final_path};
        emit(&x, &e);
    }
    if (x.log && fclose(x.log) != 0 && st == DUO_OK)
        st = duo_fail(DUO_ERR_IO, "cannot write '%s': %s", x.log_path, strerror(errno));
    duo_router_teacher_destroy(x.teacher);
    duo_activations_destroy(x.a);
    duo_loader_destroy(x.loader);
    duo_router_destroy(x.router);
    free(x.config_json);
    duo_model_destroy(x.model);
    return st;
}

duo_status duo_router_train(duo_runtime *rt, const char *run_dir,
                            const duo_router_train_options *options)
{
    if (!rt || !run_dir || !*run_dir || !options)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_router_train needs a runtime, a run "
                        "folder and options");
    if (duo_comm_size() <= 1)
        return train_here(rt, run_dir, options, false);
    /* Under MPI the budget teacher trains data-parallel when the batch is a
     * multiple of the ranks (each takes batch/ranks windows of a step);
     * otherwise, and with the oracle teacher (its search of training windows
     * and host gradient are not spread), rank 0 trains alone while the
     * others wait. Every rank returns rank 0's status. */
    bool spread = !oracle_teacher(options) && options->batch > 0 &&
                  options->batch % duo_comm_size() == 0;
    duo_status st = spread || duo_spread_root() ? train_here(rt, run_dir, options, spread) : DUO_OK;
    return duo_spread_share_result(st, NULL, 0);
}
