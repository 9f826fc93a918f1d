/* The stage-1 training run: data, routes, steps, validation, checkpoints,
 * resume (see train.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "duocl/schedule.h"
#include "duocl/tokenizer.h"
#include "base/clock.h"
#include "base/comm.h"
#include "base/error.h"
#include "base/fileio.h"
#include "model/model_io.h"
#include "run_folder.h"
#include "spread.h"
#include "train.h"

enum { PATH_CAP = 4096 };

/* With several ranks, every rank's parameters are hashed and compared every
 * PARAMS_CHECK_EVERY steps and after the last step. */
enum { PARAMS_CHECK_EVERY = 10 };

const char *duo_train_eval_mode_name(duo_train_eval_mode mode)
{
    static const char *const names[] = {"big", "random", "small"};
    return mode >= 0 && mode < DUO_TRAIN_EVAL_MODES ? names[mode] : "?";
}

static bool file_exists(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0;
}

/* ---- comparing configs (resume) ---- */

static void describe(const cJSON *item, char *buf, size_t size)
{
    if (!item) {
        snprintf(buf, size, "absent");
        return;
    }
    char *text = cJSON_PrintUnformatted(item);
    snprintf(buf, size, "%s", text ? text : "?");
    free(text);
}

/* Depth first in the checkpoint's key order, then keys only `now` has. */
static bool first_difference(const cJSON *a, const cJSON *b, const char *prefix, char *key,
                             size_t key_size, char *detail, size_t detail_size)
{
    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        for (int pass = 0; pass < 2; pass++) {
            const cJSON *from = pass == 0 ? a : b, *other = pass == 0 ? b : a;
            for (const cJSON *item = from->child; item; item = item->next) {
                char path[256];
                snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", item->string);
                if (strcmp(path, "train.steps") == 0)
                    continue;
                const cJSON *peer = cJSON_GetObjectItemCaseSensitive(other, item->string);
                if (pass == 1 && peer)
                    continue; /* compared in the first pass */
                const cJSON *ck = pass == 0 ? item : peer, *cur = pass == 0 ? peer : item;
                if (first_difference(ck, cur, path, key, key_size, detail, detail_size))
                    return true;
            }
        }
        return false;
    }
    bool same = a && b && cJSON_Compare(a, b, true);
    if (a && b && cJSON_IsNumber(a) && cJSON_IsNumber(b))
        same = a->valuedouble == b->valuedouble;
    if (same)
        return false;
    char va[256], vb[256];
    describe(a, va, sizeof va);
    describe(b, vb, sizeof vb);
    snprintf(key, key_size, "%s", prefix);
    snprintf(detail, detail_size, "%s in the checkpoint, %s now", va, vb);
    return true;
}

duo_status duo_config_first_difference(const duo_config *checkpoint, const duo_config *now,
                                       char *key, size_t key_size, char *detail, size_t detail_size)
{
    key[0] = detail[0] = '\0';
    char *ja, *jb;
    DUO_TRY(duo_config_to_json(checkpoint, &ja));
    duo_status st = duo_config_to_json(now, &jb);
    if (st != DUO_OK) {
        free(ja);
        return st;
    }
    cJSON *a = cJSON_Parse(ja), *b = cJSON_Parse(jb);
    free(ja);
    free(jb);
    if (!a || !b)
        st = duo_fail(DUO_ERR_INTERNAL, "a resolved config did not parse back as JSON");
    else
        first_difference(a, b, "", key, key_size, detail, detail_size);
    cJSON_Delete(a);
    cJSON_Delete(b);
    return st;
}

/* ---- the log ---- */

static duo_status log_flush(FILE *log, const char *path)
{
    if (fflush(log) != 0 || ferror(log))
        return duo_fail(DUO_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    return DUO_OK;
}

/* ---- the run ---- */

typedef struct run {
    duo_runtime *rt;
    const duo_config *config; /* &resolved */
    duo_config resolved;      /* the caller's, train.grad_shards resolved */
    const duo_train_options *options;
    char *config_json;
    char log_path[PATH_CAP], latest[PATH_CAP], final_path[PATH_CAP];
    FILE *log;
    duo_tokenizer *tok;
    duo_loader *loader;
    duo_eval_data *eval_data;
    duo_model *model;
    duo_activations *train_acts, *eval_acts;
    duo_optimizer opt;
    bool have_opt;
    duo_route_thresholds thresholds;
    duo_eval_routing routing[DUO_TRAIN_EVAL_MODES];
    long start_step, saved_step; /* saved_step: -1 if no checkpoint of this run exists */
    double elapsed_offset, t0;
    double first_seconds, train_seconds; /* this process's first step; the others */
    long trained_steps;                  /* by this process, after the first */
    duo_train_eval eval;
    /* Ranks (include/duocl/comm.h): rank 0 alone writes the run folder;
     * every rank validates its share of the batches. The global batch is
     * cut into `shards` gradient shards of batch_local sequences
     * (train.grad_shards); rank r computes shards
     * r * local .. r * local + local - 1, one after another. One shard on
     * one rank (sharded false) is the plain single-device step. */
    int rank, ranks, shards, local;
    bool sharded;
    size_t batch_local;
    uint8_t *routes; /* host routes of one shard (sharded) */
} run;

static void emit(run *r, duo_train_event *e)
{
    e->steps = r->config->train.steps;
    e->resumed = r->options->resume;
    e->n_params = r->model ? r->model->n_params : 0;
    e->elapsed_s = r->elapsed_offset + (duo_now_seconds() - r->t0);
    /* The first step of a process compiles the kernels: leave it out when
     * there are others. */
    double tokens = (double)r->config->train.batch * r->config->model.ctx;
    if (r->train_seconds > 0)
        e->train_tokens_per_s = (double)r->trained_steps * tokens / r->train_seconds;
    else
        e->train_tokens_per_s = r->first_seconds > 0 ? tokens / r->first_seconds : 0.0;
    if (r->options->callback)
        r->options->callback(e, r->options->user);
}

static duo_status check_shards(const duo_config *c)
{
    for (int d = 0; d < c->train.n_domains; d++) {
        if (c->train.domains[d].weight == 0)
            continue;
        char path[PATH_CAP];
        DUO_TRY(duo_shard_filename(c->data.shards, c->train.domains[d].name, "train", path,
                                   sizeof path));
        if (!file_exists(path))
            return duo_fail(DUO_ERR_IO, "training shard '%s' not found (data.shards is '%s'; make "
                            "the shards with 'duocl prepare')", path, c->data.shards);
    }
    return DUO_OK;
}

/* The u64 state of a checkpoint, checked in u64 before anything becomes a
 * long: a step beyond any run (a damaged file with a good checksum) would
 * otherwise turn negative and have the log trimmed to nothing. */
static duo_status check_state(const run *r, const duo_train_state *state)
{
    const duo_train_config *tc = &r->config->train;
    if (state->step > DUO_CONFIG_MAX_STEPS)
        return duo_fail(DUO_ERR_FORMAT, "'%s': state.step is %llu, more than any run has (train.steps "
                        "is at most %d): the checkpoint is damaged", r->latest,
                        (unsigned long long)state->step, DUO_CONFIG_MAX_STEPS);
    /* A run killed after its last latest.ckpt but before final.ckpt resumes
     * to write final.ckpt (train_loop); one with final.ckpt is done. */
    bool unfinished = state->step == (uint64_t)tc->steps && !file_exists(r->final_path);
    if (state->step >= (uint64_t)tc->steps && !unfinished)
        return duo_fail(DUO_ERR_CONFIG, "'%s' has already done %llu steps and train.steps is %d: "
                        "nothing to resume (raise train.steps to train longer)", r->latest,
                        (unsigned long long)state->step, tc->steps);
    /* Each step takes one batch of windows from the loader, seeded with train.seed. */
    uint64_t windows = state->step * (uint64_t)tc->batch;
    if (state->loader_next != windows)
        return duo_fail(DUO_ERR_FORMAT, "'%s': state.loader_next is %llu; after %llu steps of batch "
                        "%d it must be %llu: the checkpoint is damaged", r->latest,
                        (unsigned long long)state->loader_next, (unsigned long long)state->step,
                        tc->batch, (unsigned long long)windows);
    if (state->loader_seed != tc->seed)
        return duo_fail(DUO_ERR_FORMAT, "'%s': state.loader_seed is %llu; the run's train.seed is "
                        "%llu: the checkpoint is damaged", r->latest,
                        (unsigned long long)state->loader_seed, (unsigned long long)tc->seed);
    return DUO_OK;
}

/* Opens the checkpoint to resume, checks its config and loads it. */
static duo_status resume_from(run *r, duo_train_state *state)
{
    if (!file_exists(r->latest))
        return duo_fail(DUO_ERR_IO, "cannot resume: '%s' does not exist (start without --resume)",
                        r->latest);
    duo_checkpoint *ck;
    DUO_TRY(duo_checkpoint_open(r->latest, &ck));
    char source[PATH_CAP + 32], key[256], detail[600];
    snprintf(source, sizeof source, "%s (config block)", r->latest);
    duo_config stored;
    duo_status st = duo_config_parse(duo_checkpoint_config_json(ck), source, &stored);
    if (st == DUO_OK) {
        /* A checkpoint from before train.grad_shards summed one shard per
         * rank of a one-rank run; 0 now means "the run's own". */
        if (stored.train.grad_shards == 0)
            stored.train.grad_shards = 1;
        if (r->resolved.train.grad_shards == 0)
            r->resolved.train.grad_shards = stored.train.grad_shards;
    }
    if (st == DUO_OK)
        st = duo_config_first_difference(&stored, r->config, key, sizeof key, detail, sizeof detail);
    if (st == DUO_OK && key[0])
        st = duo_fail(DUO_ERR_CONFIG, "cannot resume '%s': %s differs (%s); only train.steps may "
                      "change when resuming", r->latest, key, detail);
    if (st == DUO_OK)
        st = duo_model_load(r->model, ck, state);
    duo_checkpoint_close(ck);
    DUO_TRY(st);
    return check_state(r, state);
}

/* The run's gradient shards over this number of ranks. */
static duo_status check_shard_count(run *r)
{
    int S = r->resolved.train.grad_shards;
    if (S % r->ranks != 0) {
        if (r->ranks > 1)
            duo_comm_mark_failed_together();
        return duo_fail(DUO_ERR_CONFIG, "train.grad_shards is %d%s: with %d ranks it must be a "
                        "multiple of %d (each rank computes grad_shards / ranks of the step's "
                        "gradient shards); run with a number of ranks that divides %d", S,
                        r->options->resume ? " (the run's, from its checkpoint)" : "", r->ranks,
                        r->ranks, S);
    }
    r->shards = S;
    r->local = S / r->ranks;
    r->sharded = !(S == 1 && r->ranks == 1);
    r->batch_local = (size_t)r->config->train.batch / (size_t)S;
    return DUO_OK;
}

static duo_status setup(run *r)
{
    const duo_config *c = r->config;
    const char *dir = r->options->run_dir;
    char ckdir[PATH_CAP], path[PATH_CAP];
    DUO_TRY(duo_run_path(dir, DUO_RUN_CHECKPOINTS, ckdir, sizeof ckdir));
    DUO_TRY(duo_run_path(dir, DUO_RUN_LOG, r->log_path, sizeof r->log_path));
    DUO_TRY(duo_run_path(dir, DUO_RUN_LATEST_CHECKPOINT, r->latest, sizeof r->latest));
    DUO_TRY(duo_run_path(dir, DUO_RUN_FINAL_CHECKPOINT, r->final_path, sizeof r->final_path));
    if (!r->options->resume && file_exists(r->latest))
        return duo_fail(DUO_ERR_IO, "'%s' already holds a run (%s): pass --resume to continue it, "
                        "or choose another run folder", dir, r->latest);
    r->rank = duo_comm_rank();
    r->ranks = duo_comm_size();
    if (c->train.batch % r->ranks != 0)
        return duo_comm_mark_failed_together(), duo_fail(DUO_ERR_CONFIG, "train.batch is %d: with %d ranks it must be a multiple "
                        "of %d (each rank takes train.batch / ranks sequences of the global batch)",
                        c->train.batch, r->ranks, r->ranks);
    if (!r->options->resume) {
        if (r->resolved.train.grad_shards == 0)
            r->resolved.train.grad_shards = r->ranks;
        DUO_TRY(check_shard_count(r));
    }
    bool writer = r->rank == 0;

    /* Everything that can be checked cheaply comes before the device work. */
    DUO_TRY(check_shards(c));
    DUO_TRY(duo_run_open_tokenizer(c, &r->tok));
    /* Every rank validates its share of the batches (evaluate_modes). */
    DUO_TRY(duo_eval_data_open(c->data.shards, &c->train, (uint32_t)c->model.vocab, c->model.ctx,
                               (size_t)c->train.eval_tokens, r->tok, &r->eval_data));
    for (int d = 0; d < c->train.n_domains; d++)
        r->eval.domain[d] = c->train.domains[d].name;
    r->eval.n_domains = c->train.n_domains;
    DUO_TRY(duo_run_open_loader(c, c->train.seed, &r->loader));
    DUO_TRY(duo_route_thresholds_make(c->train.p_big, c->train.p_small, c->train.p_skip,
                                      &r->thresholds));
    r->routing[DUO_TRAIN_EVAL_BIG] = duo_eval_routing_uniform(DUO_ROUTE_BIG);
    r->routing[DUO_TRAIN_EVAL_SMALL] = duo_eval_routing_uniform(DUO_ROUTE_SMALL);
    DUO_TRY(duo_eval_routing_random(c->train.p_big, c->train.p_small, c->train.p_skip,
                                    DUO_EVAL_ROUTE_SEED, &r->routing[DUO_TRAIN_EVAL_RANDOM]));

    DUO_TRY(duo_model_create(r->rt, &c->model, &r->model));
    DUO_TRY(duo_optimizer_create(r->model, &r->opt));
    r->have_opt = true;

    r->saved_step = -1;
    if (r->options->resume) {
        duo_train_state state;
        DUO_TRY(resume_from(r, &state));
        r->start_step = r->saved_step = (long)state.step;
        duo_loader_state ls = {state.loader_seed, state.loader_next};
        duo_loader_set_state(r->loader, &ls);
        if (writer)
            DUO_TRY(duo_run_log_trim(r->log_path, r->start_step, &r->elapsed_offset));
    } else {
        DUO_TRY(duo_model_init(r->model, c->train.seed));
    }
    if (r->options->resume)
        DUO_TRY(check_shard_count(r)); /* the run's grad_shards, known now */
    /* The resolved config (train.grad_shards) goes into config.json and the
     * checkpoints. */
    DUO_TRY(duo_config_to_json(c, &r->config_json));
    size_t B = (size_t)c->train.batch, T = (size_t)c->model.ctx;
    DUO_TRY(duo_activations_create(r->model, r->batch_local, T, true, &r->train_acts));
    DUO_TRY(duo_activations_create(r->model, B, T, false, &r->eval_acts));
    if (r->sharded) {
        r->routes = malloc((size_t)c->model.n_layers * r->batch_local * T);
        if (!r->routes)
            return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the routes");
    }
    if (!writer)
        return DUO_OK;
    DUO_TRY(duo_make_directories(ckdir));
    DUO_TRY(duo_run_path(dir, DUO_RUN_CONFIG, path, sizeof path));
    DUO_TRY(duo_config_save(c, path));
    DUO_TRY(duo_open_log(r->log_path, "training log", !r->options->resume, &r->log));
    return DUO_OK;
}

static duo_status save(run *r, long step, const char *path)
{
    duo_loader_state ls;
    duo_loader_get_state(r->loader, &ls);
    duo_train_state state = {(uint64_t)step, ls.seed, ls.next_window};
    DUO_TRY(duo_model_save(r->model, path, r->config_json, &state));
    if (strcmp(path, r->latest) == 0)
        r->saved_step = step;
    duo_train_event e = {.kind = DUO_TRAIN_EVENT_CHECKPOINT, .step = step, .path = path};
    emit(r, &e);
    return DUO_OK;
}

/* Every evaluation mode on the validation data, into r->eval (collective
 * with several ranks: every domain's batches are cut into one range per
 * rank, and rank 0 gets the same numbers as one process;
 * the other ranks' r->eval is not complete). An error there is one on
 * every rank. */
static duo_status evaluate_modes(run *r, long step)
{
    r->eval.step = step;
    if (r->ranks <= 1) {
        for (int mode = 0; mode < DUO_TRAIN_EVAL_MODES; mode++)
            DUO_TRY(duo_evaluate(r->model, r->eval_acts, r->eval_data, &r->routing[mode],
                                 r->eval.result[mode]));
        return DUO_OK;
    }
    /* Each domain's batches are cut over the ranks (not the list of every
     * domain's batches: duo_evaluate_spread ends each domain with a gather
     * on rank 0, so ranks holding different domains would take turns). */
    const duo_eval_data *data = r->eval_data;
    size_t B = (size_t)r->config->train.batch;
    for (int mode = 0; mode < DUO_TRAIN_EVAL_MODES; mode++)
        for (int d = 0; d < data->n_domains; d++) {
            const duo_eval_domain *dom = &data->domain[d];
            size_t n = duo_eval_batches(dom, B);
            duo_status st = duo_evaluate_spread(r->model, r->eval_acts, dom, data->ctx,
                                                &r->routing[mode], duo_spread_part(0, n, n),
                                                &r->eval.result[mode][d]);
            if (st != DUO_OK)
                return duo_comm_mark_failed_together(), st;
        }
    return DUO_OK;
}

/* Writes the evaluation of step (evaluate_modes, already run) to the log
 * and emits it; rank 0. */
static duo_status validate(run *r, long step)
{
    double elapsed = r->elapsed_offset + (duo_now_seconds() - r->t0);
    for (int d = 0; d < r->eval.n_domains; d++)
        for (int mode = 0; mode < DUO_TRAIN_EVAL_MODES; mode++) {
            const duo_eval_result *x = &r->eval.result[mode][d];
            fprintf(r->log, "{\"type\":\"eval\",\"step\":%ld,\"domain\":\"%s\",\"routes\":\"%s\","
                    "\"loss\":%.9g,\"bits_per_byte\":%.9g,\"tokens\":%llu,\"bytes\":%llu,"
                    "\"budget\":%.9g,\"elapsed_s\":%.3f}\n",
                    step, r->eval.domain[d], duo_train_eval_mode_name(mode), x->loss,
                    x->bits_per_byte, (unsigned long long)x->targets, (unsigned long long)x->bytes,
                    x->budget, elapsed);
        }
    DUO_TRY(log_flush(r->log, r->log_path));
    duo_train_event e = {.kind = DUO_TRAIN_EVENT_EVAL, .step = step, .eval = &r->eval};
    emit(r, &e);
    return DUO_OK;
}

/* Shard k of the step's global batch: sequences [k * b, (k + 1) * b) of
 * it, into inputs and targets; *valid = its unmasked targets. */
static void split_shard(const run *r, int k, const int32_t *windows, int32_t *inputs,
                        int32_t *targets, uint64_t *valid)
{
    size_t T = (size_t)r->config->model.ctx, b = r->batch_local, n = b * T;
    duo_split_windows(windows + (size_t)k * b * (T + 1), (int)b, (int)T, inputs, targets);
    *valid = 0;
    for (size_t i = 0; i < n; i++)
        *valid += targets[i] >= 0;
}

/* Shard k of the step's global batch set in the activations, routes drawn
 * on the host for its global token indices (the routes a one-shard run
 * gives the same tokens). One shard on one rank: the whole batch, routes on
 * the device. */
static duo_status set_batch(run *r, long s, int k, const int32_t *windows, int32_t *inputs,
                            int32_t *targets, uint64_t *valid)
{
    const duo_train_config *tc = &r->config->train;
    size_t n = r->batch_local * (size_t)r->config->model.ctx;
    split_shard(r, k, windows, inputs, targets, valid);
    if (!r->sharded)
        return duo_model_set_batch_random_routes(r->model, r->train_acts, inputs, targets,
                                                 &r->thresholds, tc->seed, (uint64_t)s);
    size_t first = (size_t)k * n;
    for (int l = 0; l < r->config->model.n_layers; l++)
        for (size_t t = 0; t < n; t++)
            r->routes[(size_t)l * n + t] = (uint8_t)duo_route_pick(
                &r->thresholds, tc->seed, (uint64_t)s, (uint32_t)l, (uint32_t)(first + t));
    return duo_model_set_batch(r->model, r->train_acts, inputs, targets, r->routes);
}

/* Every rank's parameters hashed; a rank whose hash differs from rank 0's
 * stops every rank. With $DUOCL_PARAM_HASHES set to a folder, each rank
 * appends "step hash" to rank-R.txt there (for tests). */
static duo_status check_params(run *r, long step)
{
    uint64_t mine = 0, zero = 0;
    DUO_TRY(duo_model_params_hash(r->model, &mine));
    const char *dir = getenv("DUOCL_PARAM_HASHES");
    if (dir && *dir) {
        char path[PATH_CAP];
        snprintf(path, sizeof path, "%s/rank-%d.txt", dir, r->rank);
        FILE *f = fopen(path, "a");
        if (f) {
            fprintf(f, "%ld %016llx\n", step, (unsigned long long)mine);
            fclose(f);
        }
    }
    if (r->ranks == 1)
        return DUO_OK;
    zero = mine;
    DUO_TRY(duo_comm_broadcast(&zero, sizeof zero, 0));
    bool differs = false;
    DUO_TRY(duo_comm_any(zero != mine, &differs));
    if (!differs)
        return DUO_OK;
    duo_comm_mark_failed_together();
    char whose[96];
    if (zero != mine)
        snprintf(whose, sizeof whose, "rank %d: %016llx, rank 0: %016llx", r->rank,
                 (unsigned long long)mine, (unsigned long long)zero);
    else
        snprintf(whose, sizeof whose, "rank %d: %016llx, as rank 0; another rank differs",
                 r->rank, (unsigned long long)mine);
    return duo_fail(DUO_ERR_INTERNAL, "after step %ld the ranks' parameters differ (%s): the "
                    "gradient sum is not the same on every rank; the last checkpoint (step %ld) "
                    "is intact", step, whose, r->saved_step);
}

static duo_status train_loop(run *r)
{
    const duo_train_config *tc = &r->config->train;
    /* Resumed after the last step's latest.ckpt: the log already holds its
     * validation; evaluate again only for the closing event, and write
     * final.ckpt, the same bytes as latest.ckpt. */
    bool writer = r->rank == 0;
    if (r->start_step == tc->steps) {
        DUO_TRY(evaluate_modes(r, r->start_step));
        return writer ? save(r, r->start_step, r->final_path) : DUO_OK;
    }
    size_t B = (size_t)tc->batch, T = (size_t)r->config->model.ctx, N = B * T;
    size_t n_local = r->batch_local * T;
    int32_t *windows = malloc(B * (T + 1) * sizeof *windows);
    int32_t *inputs = malloc(n_local * sizeof *inputs), *targets = malloc(n_local * sizeof *targets);
    uint64_t *valid = malloc((size_t)r->shards * sizeof *valid);
    float *loss = malloc((size_t)r->local * sizeof *loss);
    duo_status st = DUO_OK;
    if (!windows || !inputs || !targets || !valid || !loss)
        st = duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the batch");
    for (long s = r->start_step; s < tc->steps && st == DUO_OK; s++) {
        long done = s + 1;
        double t_start = duo_now_seconds();
        /* Every rank reads the whole global batch (so the loader's state is
         * the same whatever the number of ranks) and trains on its share. */
        st = duo_loader_next(r->loader, (int)B, windows, NULL);
        duo_step_result result;
        if (st == DUO_OK && !r->sharded) {
            st = set_batch(r, s, 0, windows, inputs, targets, &valid[0]);
            if (st == DUO_OK)
                st = duo_train_step(r->model, r->train_acts, &r->opt, tc, s, &result);
        } else if (st == DUO_OK) {
            /* Every shard's valid targets (for the weights), then this
             * rank's shards one by one. */
            for (int k = 0; k < r->shards; k++)
                split_shard(r, k, windows, inputs, targets, &valid[k]);
            for (int j = 0; j < r->local && st == DUO_OK; j++) {
                int k = r->rank * r->local + j;
                st = set_batch(r, s, k, windows, inputs, targets, &valid[k]);
                if (st == DUO_OK)
                    st = duo_train_shard_pass(r->model, r->train_acts, &r->opt, j, r->local,
                                              &loss[j]);
            }
            if (st == DUO_OK)
                st = duo_train_step_shards(r->model, &r->opt, tc, s, r->shards, loss, valid,
                                           &result);
        }
        bool last = done == tc->steps;
        if (st == DUO_OK && r->ranks > 1 && (last || done % PARAMS_CHECK_EVERY == 0))
            st = check_params(r, done);
        if (st != DUO_OK) {
            st = duo_run_step_failed(st, "training", done, r->config->train.steps, r->latest,
                                     r->saved_step);
            break;
        }
        double dt = duo_now_seconds() - t_start;
        if (s == r->start_step) {
            r->first_seconds = dt;
        } else {
            r->train_seconds += dt;
            r->trained_steps++;
        }
        double tps = dt > 0 ? (double)N / dt : 0.0;
        double elapsed = r->elapsed_offset + (duo_now_seconds() - r->t0);
        bool eval_due = last || (tc->eval_every > 0 && done % tc->eval_every == 0);
        /* With several ranks every rank evaluates its share here, before rank
         * 0 logs the step (one process: after, as always). */
        if (r->ranks > 1 && eval_due && (st = evaluate_modes(r, done)) != DUO_OK)
            break;
        if (writer) {
            fprintf(r->log, "{\"type\":\"train\",\"step\":%ld,\"loss\":%.9g,\"lr\":%.9g,"
                    "\"grad_norm\":%.9g,\"tokens_per_s\":%.1f,\"elapsed_s\":%.3f}\n",
                    done, (double)result.loss, result.lr, (double)result.grad_norm, tps, elapsed);
            st = log_flush(r->log, r->log_path);
            duo_train_event e = {.kind = DUO_TRAIN_EVENT_STEP, .step = done, .result = result,
                                 .tokens_per_s = tps};
            emit(r, &e);
            if (st == DUO_OK && eval_due && r->ranks <= 1)
                st = evaluate_modes(r, done);
            if (st == DUO_OK && eval_due)
                st = validate(r, done);
            if (st == DUO_OK && (last || (tc->ckpt_every > 0 && done % tc->ckpt_every == 0)))
                st = save(r, done, r->latest);
            if (st == DUO_OK && last)
                st = save(r, done, r->final_path);
        } else if (last || (tc->ckpt_every > 0 && done % tc->ckpt_every == 0)) {
            r->saved_step = done; /* rank 0 writes it */
        }
        if (st != DUO_OK || last)
            break;
        /* A stop request on any rank stops every rank after this step. */
        bool stop = r->options->stop && *r->options->stop;
        if (r->ranks > 1 && (st = duo_comm_any(stop, &stop)) != DUO_OK)
            break;
        if (!stop)
            continue;
        if (writer && r->saved_step != done)
            st = save(r, done, r->latest);
        if (st != DUO_OK)
            break;
        if (r->ranks > 1)
            duo_comm_mark_failed_together();
        st = writer ? duo_fail(DUO_ERR_INTERRUPTED, "interrupted after step %ld of %d; checkpoint "
                               "%s written (continue with --resume)", done, tc->steps, r->latest)
                    : duo_fail(DUO_ERR_INTERRUPTED, "interrupted after step %ld of %d; rank 0 "
                               "writes the checkpoint", done, tc->steps);
    }
    free(windows);
    free(inputs);
    free(targets);
    free(valid);
    free(loss);
    return st;
}

duo_status duo_train(duo_runtime *rt, const duo_config *config, const duo_train_options *options)
{
    if (!options || !options->run_dir || !*options->run_dir)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_train needs a run folder");
    DUO_TRY(duo_config_validate(config, "the training config"));
    run r = {.rt = rt, .resolved = *config, .options = options, .t0 = duo_now_seconds()};
    r.config = &r.resolved;
    duo_status st = setup(&r);
    if (st == DUO_OK) {
        duo_train_event e = {.kind = DUO_TRAIN_EVENT_START, .step = r.start_step};
        emit(&r, &e);
        st = train_loop(&r);
    }
    if (st == DUO_OK) {
        duo_train_event e = {.kind = DUO_TRAIN_EVENT_DONE, .step = config->train.steps,
                             .eval = &r.eval, .grad_read_s = r.opt.sync.read_s,
                             .grad_sum_s = r.opt.sync.sum_s, .grad_write_s = r.opt.sync.write_s};
        emit(&r, &e);
    }
    if (r.log && fclose(r.log) != 0 && st == DUO_OK)
        st = duo_fail(DUO_ERR_IO, "cannot write '%s': %s", r.log_path, strerror(errno));
    duo_activations_destroy(r.train_acts);
    duo_activations_destroy(r.eval_acts);
    if (r.have_opt)
        duo_optimizer_destroy(&r.opt);
    duo_model_destroy(r.model);
    duo_eval_data_free(r.eval_data);
    duo_loader_destroy(r.loader);
    duo_tokenizer_destroy(r.tok);
    free(r.config_json);
    free(r.routes);
    return st;
}
