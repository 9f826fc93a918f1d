/* The run folder: file names, checkpoint choice, opening a run. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/error.h"
#include "base/fileio.h"
#include "model/model_io.h"
#include "run_folder.h"

duo_status duo_run_path(const char *dir, const char *name, char *out, size_t cap)
{
    if ((size_t)snprintf(out, cap, "%s/%s", dir, name) >= cap)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "path '%s/%s' is too long", dir, name);
    return DUO_OK;
}

duo_status duo_run_router_dir(const char *dir, int budget, const char *alphabet, char *out,
                              size_t cap)
{
    if ((size_t)snprintf(out, cap, "%s/%s/k%d-%s", dir, DUO_RUN_ROUTERS, budget, alphabet) >= cap)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "run folder path '%s' is too long", dir);
    return DUO_OK;
}

static bool exists(const char *path) { return access(path, R_OK) == 0; }

duo_status duo_run_find_checkpoint(const char *dir, const char *given, char *out, size_t cap)
{
    if (given) {
        snprintf(out, cap, "%s", given);
        return DUO_OK;
    }
    static const char *const names[] = {DUO_RUN_FINAL_CHECKPOINT, DUO_RUN_LATEST_CHECKPOINT};
    for (int i = 0; i < 2; i++) {
        DUO_TRY(duo_run_path(dir, names[i], out, cap));
        if (exists(out))
            return DUO_OK;
    }
    return duo_fail(DUO_ERR_IO,
                    "run '%s' has no checkpoint (looked for checkpoints/final.ckpt and "
                    "checkpoints/latest.ckpt); train it with 'duocl train' or pass --checkpoint",
                    dir);
}

/* Keeps only the domains named in a comma-separated list. */
static duo_status filter_domains(duo_train_config *train, const char *list)
{
    if (!list)
        return DUO_OK;
    duo_train_config kept = *train;
    kept.n_domains = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *name = strtok(buf, ","); name; name = strtok(NULL, ",")) {
        int found = -1;
        for (int i = 0; i < train->n_domains; i++)
            if (strcmp(train->domains[i].name, name) == 0)
                found = i;
        if (found < 0) {
            char known[256] = "";
            for (int i = 0; i < train->n_domains; i++) {
                strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
                strncat(known, train->domains[i].name, sizeof known - strlen(known) - 1);
            }
            return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                            "--domains: '%s' is not a domain of this run (its domains: %s)", name,
                            known);
        }
        kept.domains[kept.n_domains++] = train->domains[found];
    }
    *train = kept;
    return DUO_OK;
}

duo_status duo_run_open(const char *dir, const char *checkpoint, const char *device,
                        size_t eval_tokens, const char *domains, duo_run *run)
{
    memset(run, 0, sizeof *run);
    char found[1200];
    /* A missing checkpoint is reported before the device starts. */
    DUO_TRY(duo_run_find_checkpoint(dir, checkpoint, found, sizeof found));
    duo_runtime *rt;
    DUO_TRY(duo_runtime_create(&(duo_runtime_options){.device = device}, &rt));
    duo_status st = duo_run_open_on(rt, dir, checkpoint, eval_tokens, domains, run);
    run->rt = rt; /* this run's own: duo_run_close destroys it */
    return st;
}

void duo_run_close(duo_run *run)
{
    if (run->data)
        duo_eval_data_free(run->data);
    if (run->tokenizer)
        duo_tokenizer_destroy(run->tokenizer);
    duo_model_destroy(run->model);
    duo_runtime_destroy(run->rt);
    memset(run, 0, sizeof *run);
}

duo_status duo_run_open_tokenizer(const duo_config *config, duo_tokenizer **out)
{
    if (strcmp(config->data.tokenizer, "byte") == 0)
        DUO_TRY(duo_tokenizer_byte_level(out));
    else
        DUO_TRY(duo_tokenizer_load(config->data.tokenizer, out));
    if (duo_tokenizer_vocab_size(*out) != config->model.vocab) {
        int ids = duo_tokenizer_vocab_size(*out);
        duo_tokenizer_destroy(*out);
        *out = NULL;
        return duo_fail(DUO_ERR_CONFIG, "model.vocab is %d but the tokenizer '%s' has %d ids",
                        config->model.vocab, config->data.tokenizer, ids);
    }
    return DUO_OK;
}

duo_status duo_run_open_loader(const duo_config *config, uint64_t seed, duo_loader **out)
{
    const duo_train_config *tc = &config->train;
    const char *names[DUO_CONFIG_MAX_DOMAINS];
    double weights[DUO_CONFIG_MAX_DOMAINS];
    for (int d = 0; d < tc->n_domains; d++) {
        names[d] = tc->domains[d].name;
        weights[d] = tc->domains[d].weight;
    }
    return duo_loader_create(config->data.shards, names, weights, tc->n_domains,
                             (uint32_t)config->model.vocab, config->model.ctx, seed, out);
}

void duo_split_windows(const int32_t *windows, int B, int T, int32_t *inputs, int32_t *targets)
{
    for (size_t b = 0; b < (size_t)B; b++) {
        memcpy(inputs + b * (size_t)T, windows + b * (size_t)(T + 1), (size_t)T * sizeof *inputs);
        memcpy(targets + b * (size_t)T, windows + b * (size_t)(T + 1) + 1,
               (size_t)T * sizeof *targets);
    }
}

duo_status duo_run_log_trim(const char *path, long step, double *elapsed)
{
    *elapsed = 0.0;
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return DUO_OK; /* no log yet: nothing to keep */
    uint8_t *text;
    size_t n;
    DUO_TRY(duo_read_file(path, "run log", DUO_MAX_LOG_BYTES, &text, &n));
    char *kept = malloc(n + 1);
    if (!kept) {
        free(text);
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "run log '%s': out of memory for %zu bytes", path, n);
    }
    size_t used = 0;
    for (size_t at = 0; at < n;) {
        const uint8_t *end = memchr(text + at, '\n', n - at);
        if (!end)
            break; /* cut short by the crash */
        size_t length = (size_t)(end - (text + at)) + 1;
        cJSON *record = cJSON_ParseWithLength((const char *)text + at, length);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(record, "step");
        if (cJSON_IsNumber(s) && s->valuedouble <= (double)step) {
            memcpy(kept + used, text + at, length);
            used += length;
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(record, "elapsed_s");
            if (cJSON_IsNumber(e))
                *elapsed = e->valuedouble;
        }
        cJSON_Delete(record);
        at += length;
    }
    free(text);
    const void *parts[] = {kept};
    size_t sizes[] = {used};
    duo_status st = duo_write_file_atomic(path, "run log", parts, sizes, 1);
    free(kept);
    return st;
}

double duo_pattern_flop_fraction(const char *pattern, int ffn_big, int ffn_small)
{
    size_t L = strlen(pattern);
    double used = 0;
    for (size_t l = 0; l < L; l++)
        used += pattern[l] == 'B' ? ffn_big : pattern[l] == 'S' ? ffn_small : 0;
    return L ? used / ((double)L * ffn_big) : 0;
}

duo_status duo_run_open_on(duo_runtime *rt, const char *dir, const char *checkpoint,
                           size_t eval_tokens, const char *domains, duo_run *run)
{
    memset(run, 0, sizeof *run);
    snprintf(run->dir, sizeof run->dir, "%s", dir);
    DUO_TRY(duo_run_find_checkpoint(dir, checkpoint, run->checkpoint, sizeof run->checkpoint));
    DUO_TRY(duo_model_open(rt, run->checkpoint, &run->config, &run->model));
    DUO_TRY(filter_domains(&run->config.train, domains));
    DUO_TRY(duo_run_open_tokenizer(&run->config, &run->tokenizer));
    if (eval_tokens == 0)
        eval_tokens = (size_t)run->config.train.eval_tokens;
    return duo_eval_data_open(run->config.data.shards, &run->config.train,
                              (uint32_t)run->config.model.vocab, run->config.model.ctx,
                              eval_tokens, run->tokenizer, &run->data);
}

duo_status duo_run_step_failed(duo_status status, const char *what, long done, long steps,
                               const char *latest, long saved_step)
{
    if (status != DUO_ERR_NUMERIC)
        return status;
    char message[2048];
    snprintf(message, sizeof message, "%s", duo_last_error());
    if (saved_step >= 0)
        return duo_fail(status, "%s stopped at step %ld of %ld (%s; that index counts from 0); "
                        "nothing was saved: the last good checkpoint is %s (step %ld)", what, done,
                        steps, message, latest, saved_step);
    return duo_fail(status, "%s stopped at step %ld of %ld (%s; that index counts from 0), "
                    "before any checkpoint was written", what, done, steps, message);
}
