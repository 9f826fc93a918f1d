/* Opening run directories for the analysis commands. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/clock.h"
#include "cli.h"
#include "base/fileio.h"
#include "base/json_file.h"
#include "base/measures.h"
#include "model/model_io.h"
#include "run.h"

static bool exists(const char *path) { return access(path, R_OK) == 0; }

static duo_status find_checkpoint(const char *dir, const char *given, char *out, size_t cap)
{
    if (given) {
        snprintf(out, cap, "%s", given);
        return DUO_OK;
    }
    static const char *const names[] = {"final.ckpt", "latest.ckpt"};
    for (int i = 0; i < 2; i++) {
        snprintf(out, cap, "%s/checkpoints/%s", dir, names[i]);
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

duo_status cli_run_open(const char *dir, const char *checkpoint, const char *device,
                        size_t eval_tokens, const char *domains, cli_run *run)
{
    memset(run, 0, sizeof *run);
    snprintf(run->dir, sizeof run->dir, "%s", dir);
    DUO_TRY(find_checkpoint(dir, checkpoint, run->checkpoint, sizeof run->checkpoint));
    duo_runtime_options ro = {.device = device};
    DUO_TRY(duo_runtime_create(&ro, &run->rt));
    DUO_TRY(duo_model_open(run->rt, run->checkpoint, &run->config, &run->model));
    DUO_TRY(filter_domains(&run->config.train, domains));
    const char *tok = run->config.data.tokenizer;
    DUO_TRY(strcmp(tok, "byte") == 0 ? duo_tokenizer_byte_level(&run->tokenizer)
                                     : duo_tokenizer_load(tok, &run->tokenizer));
    if (eval_tokens == 0)
        eval_tokens = (size_t)run->config.train.eval_tokens;
    return duo_eval_data_open(run->config.data.shards, &run->config.train,
                              (uint32_t)run->config.model.vocab, run->config.model.ctx,
                              eval_tokens, run->tokenizer, &run->data);
}

void cli_run_close(cli_run *run)
{
    if (run->data)
        duo_eval_data_free(run->data);
    if (run->tokenizer)
        duo_tokenizer_destroy(run->tokenizer);
    duo_model_destroy(run->model);
    duo_runtime_destroy(run->rt);
    memset(run, 0, sizeof *run);
}

duo_status cli_write_json(const char *path, void *cjson_document)
{
    return duo_write_json_file(path, "result file", cjson_document, false);
}

double cli_bits_per_byte(double nats_per_token, uint64_t tokens, uint64_t bytes)
{
    return duo_bits_per_byte(nats_per_token * (double)tokens, (double)bytes);
}

double cli_flop_fraction(const char *pattern, int ffn_big, int ffn_small)
{
    size_t L = strlen(pattern);
    double used = 0;
    for (size_t l = 0; l < L; l++)
        used += pattern[l] == 'B' ? ffn_big : pattern[l] == 'S' ? ffn_small : 0;
    return L ? used / ((double)L * ffn_big) : 0;
}

void cli_progress_update(cli_progress *p, uint64_t done, uint64_t total)
{
    double now = duo_now_seconds();
    if (p->start == 0)
        p->start = now;
    if (now - p->last < 0.25 && done < total)
        return;
    p->last = now;
    double rate = done ? (now - p->start) / (double)done : 0;
    fprintf(stderr, "\r%s %llu/%llu  %.0f s elapsed, ETA %.0f s   ", p->label,
            (unsigned long long)done, (unsigned long long)total, now - p->start,
            rate * (double)(total - done));
    fflush(stderr);
}

void cli_progress_end(cli_progress *p)
{
    if (p->start != 0)
        fprintf(stderr, "\n");
    p->start = 0;
}
