/* duocl prepare: encode each domain's train and validation text into token
 * shards, with a copy of the tokenizer beside them. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "commands.h"
#include "data/corpus.h"
#include "duocl/data.h"
#include "duocl/tokenizer.h"
#include "base/error.h"
#include "base/fileio.h"

/* "data/shards/<stem of the tokenizer file>" or "data/shards/byte". */
static void default_out(const char *tokenizer, char *buf, size_t size)
{
    if (!tokenizer || strcmp(tokenizer, "byte") == 0) {
        snprintf(buf, size, "data/shards/byte");
        return;
    }
    const char *base = strrchr(tokenizer, '/');
    base = base ? base + 1 : tokenizer;
    size_t len = strlen(base);
    if (len > 5 && strcmp(base + len - 5, ".json") == 0)
        len -= 5;
    snprintf(buf, size, "data/shards/%.*s", (int)len, base);
}

static duo_status prepare_one(duo_tokenizer *tok, const char *corpora, const char *out,
                              const char *domain, const char *split, int check, double *bytes_per_token)
{
    uint8_t *text;
    size_t size;
    DUO_TRY(corpus_read(corpora, domain, split, &text, &size));
    double t0 = duo_now_seconds();
    int32_t *ids;
    size_t count;
    duo_status st = duo_tokenizer_encode(tok, text, size, &ids, &count);
    const char *verdict = "";
    if (st == DUO_OK && check) {
        uint8_t *back;
        size_t back_n;
        st = duo_tokenizer_decode(tok, ids, count, &back, &back_n);
        if (st == DUO_OK) {
            bool same = back_n == size && memcmp(back, text, size) == 0;
            verdict = same ? "  round-trip exact" : "";
            free(back);
            if (!same)
                st = duo_fail(DUO_ERR_NUMERIC, "round-trip of %s/%s.%s.txt did not give back the same bytes",
                              corpora, domain, split);
        }
    }
    free(text);
    if (st != DUO_OK)
        return st;
    char path[4096];
    st = duo_shard_filename(out, domain, split, path, sizeof path);
    if (st == DUO_OK)
        st = duo_shard_write(path, ids, count, (uint32_t)duo_tokenizer_vocab_size(tok), size,
                             duo_tokenizer_fingerprint(tok));
    free(ids);
    if (st != DUO_OK)
        return st;
    *bytes_per_token = count ? (double)size / (double)count : 0.0;
    printf("%-10s %-6s %12zu %12zu %12.3f%s\n", domain, split, count, size, *bytes_per_token, verdict);
    fflush(stdout);
    fprintf(stderr, "  %s (%.2f s)\n", path, duo_now_seconds() - t0);
    return DUO_OK;
}

static int run_prepare(int argc, char **argv)
{
    cli_option options[] = {
        {"tokenizer", "FILE", "tokenizer file, or 'byte' (default byte)", NULL},
        {"corpora", "DIR", "folder of <domain>.{train,val}.txt (default data/corpora)", NULL},
        {"out", "DIR", "folder for the shards (default data/shards/byte or data/shards/<tokenizer name>)", NULL},
        {"domains", "LIST", "comma-separated domains (default web,wiki,instruct,code)", NULL},
        {"check", NULL, "also decode every file and check the round-trip is exact", NULL},
    };
    int code = cli_parse(&cli_prepare_command, argc, argv, options, 5, NULL, 0, 0, NULL);
    if (code != CLI_OK)
        return code;
    char *domains[16];
    char list[512];
    int n = corpus_split_list(options[3].value ? options[3].value : "web,wiki,instruct,code", list,
                              sizeof list, domains, 16);
    if (n <= 0) {
        fprintf(stderr, "duocl prepare: --domains must list 1 to 16 names separated by commas\n");
        return CLI_USER_ERROR;
    }
    const char *corpora = options[1].value ? options[1].value : "data/corpora";
    char out[4096];
    if (options[2].value)
        snprintf(out, sizeof out, "%s", options[2].value);
    else
        default_out(options[0].value, out, sizeof out);

    /* Every input must be there before anything is written. */
    for (int d = 0; d < n; d++)
        for (int s = 0; s < 2; s++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s.%s.txt", corpora, domains[d], s ? "val" : "train");
            struct stat info;
            if (stat(path, &info) != 0)
                return cli_report(duo_fail(DUO_ERR_IO,
                                           "corpus file '%s' not found (run '/usr/bin/python3 "
                                           "scripts/fetch_corpora.py' first, or pass --corpora DIR)",
                                           path));
        }
    duo_tokenizer *tok;
    duo_status st = corpus_tokenizer_open(options[0].value, &tok);
    if (st != DUO_OK)
        return cli_report(st);
    st = duo_make_directories(out);
    char copy[4200];
    if (st == DUO_OK) {
        snprintf(copy, sizeof copy, "%s/tokenizer.json", out);
        st = duo_tokenizer_save(tok, copy, NULL);
    }
    if (st == DUO_OK) {
        fprintf(stderr, "tokenizer %s (vocab %d, fingerprint %016llx) -> %s\n",
                options[0].value ? options[0].value : "byte", duo_tokenizer_vocab_size(tok),
                (unsigned long long)duo_tokenizer_fingerprint(tok), out);
        printf("%-10s %-6s %12s %12s %12s\n", "domain", "split", "tokens", "bytes", "bytes/token");
    }
    for (int d = 0; d < n && st == DUO_OK; d++)
        for (int s = 0; s < 2 && st == DUO_OK; s++) {
            double bpt;
            st = prepare_one(tok, corpora, out, domains[d], s ? "val" : "train",
                             options[4].value != NULL, &bpt);
        }
    duo_tokenizer_destroy(tok);
    return cli_report(st);
}

const cli_command cli_prepare_command = {
    .name = "prepare",
    .usage = "duocl prepare [--tokenizer FILE|byte] [--corpora DIR] [--out DIR] [--domains LIST] [--check]",
    .summary = "encode each domain's train and validation text into token shards",
    .run = run_prepare,
};
