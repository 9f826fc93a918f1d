/* duocl tokenizer train | eval: train a chunked BPE on a sample balanced over
 * the domains, and measure bytes per token on each domain's validation text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "commands.h"
#include "duocl/tokenizer.h"
#include "data/corpus.h"
#include "base/error.h"

static const char *const DEFAULT_DOMAINS = "web,wiki,instruct,code";

/* Up to `budget` bytes of `text`, in `pieces` runs taken at evenly spaced
 * places, each starting at a document start and ending at a space or a
 * document end, appended to sample (runs separated by 0x00). */
static size_t take_sample(const uint8_t *text, size_t n, size_t budget, int pieces, uint8_t *sample)
{
    if (n <= budget) {
        memcpy(sample, text, n);
        return n;
    }
    size_t used = 0, piece = budget / (size_t)pieces;
    for (int p = 0; p < pieces; p++) {
        size_t at = (size_t)((double)p / pieces * (double)(n - piece));
        while (at > 0 && at < n && text[at - 1] != 0) /* back to the document's start */
            at--;
        size_t end = at + piece < n ? at + piece : n;
        while (end > at + piece / 2 && end < n && text[end] != ' ' && text[end] != 0)
            end--; /* do not cut a word */
        if (used)
            sample[used++] = 0;
        memcpy(sample + used, text + at, end - at);
        used += end - at;
    }
    return used;
}

/* Bytes/token of every domain's validation text; prints a table. */
static duo_status eval_domains(duo_tokenizer *tok, const char *corpora, char **domains, int n,
                               int check_roundtrip)
{
    printf("%-10s %12s %12s %12s%s\n", "domain", "val bytes", "tokens", "bytes/token",
           check_roundtrip ? "  round-trip" : "");
    for (int d = 0; d < n; d++) {
        uint8_t *text;
        size_t size;
        DUO_TRY(corpus_read(corpora, domains[d], "val", &text, &size));
        int32_t *ids;
        size_t count;
        double t0 = duo_now_seconds();
        duo_status st = duo_tokenizer_encode(tok, text, size, &ids, &count);
        double t1 = duo_now_seconds();
        const char *verdict = "";
        if (st == DUO_OK && check_roundtrip) {
            uint8_t *back;
            size_t back_n;
            st = duo_tokenizer_decode(tok, ids, count, &back, &back_n);
            if (st == DUO_OK) {
                verdict = back_n == size && memcmp(back, text, size) == 0 ? "  exact" : "  MISMATCH";
                free(back);
            }
        }
        free(text);
        if (st != DUO_OK)
            return st;
        free(ids);
        printf("%-10s %12zu %12zu %12.3f%s\n", domains[d], size, count,
               count ? (double)size / (double)count : 0.0, verdict);
        fprintf(stderr, "  %s: encoded %.1f MB in %.2f s\n", domains[d], (double)size / 1e6, t1 - t0);
        if (verdict[0] && verdict[2] == 'M')
            return duo_fail(DUO_ERR_NUMERIC, "round-trip of %s/%s.val.txt did not give back the same bytes",
                               corpora, domains[d]);
    }
    return DUO_OK;
}

static int train(cli_option *o, char **domains, int n)
{
    char *end;
    long vocab = strtol(o[0].value ? o[0].value : "4096", &end, 10);
    if (*end || vocab < 258 || vocab > 65536) {
        fprintf(stderr, "duocl tokenizer: --vocab must be an integer in [258, 65536]\n");
        return CLI_USER_ERROR;
    }
    double mb = strtod(o[1].value ? o[1].value : "1", &end);
    if (*end || !(mb > 0 && mb <= 1024)) {
        fprintf(stderr, "duocl tokenizer: --sample-mb must be a number in (0, 1024]\n");
        return CLI_USER_ERROR;
    }
    const char *corpora = o[2].value ? o[2].value : "data/corpora";
    char default_out[256];
    snprintf(default_out, sizeof default_out, "data/tokenizer-%ld.json", vocab);
    const char *out = o[3].value ? o[3].value : default_out;

    size_t budget = (size_t)(mb * 1048576.0), per_domain = budget / (size_t)n;
    uint8_t *sample = malloc(budget + 4096);
    if (!sample)
        return cli_report(duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for a %.1f MB sample", mb));
    size_t used = 0;
    for (int d = 0; d < n; d++) {
        uint8_t *text;
        size_t size;
        duo_status st = corpus_read(corpora, domains[d], "train", &text, &size);
        if (st != DUO_OK) {
            free(sample);
            return cli_report(st);
        }
        if (used)
            sample[used++] = 0;
        size_t got = take_sample(text, size, per_domain - (used ? 1 : 0), 64, sample + used);
        fprintf(stderr, "sample: %zu bytes of %s.train (%zu bytes)\n", got, domains[d], size);
        used += got;
        free(text);
    }
    duo_tokenizer *tok;
    duo_bpe_train_stats stats;
    duo_status st = duo_tokenizer_train_bpe(sample, used, (int)vocab, &tok, &stats);
    free(sample);
    if (st != DUO_OK)
        return cli_report(st);
    printf("trained %d merges (vocab %d) on %zu bytes: %zu chunks, %zu unique, %.2f s\n",
           stats.merges, duo_tokenizer_vocab_size(tok), stats.sample_bytes, stats.chunks,
           stats.unique_chunks, stats.seconds);
    char info[1024];
    int k = snprintf(info, sizeof info, "{\"corpora\": \"%s\", \"sample_bytes\": %zu, \"domains\": [",
                     corpora, stats.sample_bytes);
    for (int d = 0; d < n && k > 0 && (size_t)k < sizeof info; d++)
        k += snprintf(info + k, sizeof info - (size_t)k, "%s\"%s\"", d ? ", " : "", domains[d]);
    if (k > 0 && (size_t)k < sizeof info)
        snprintf(info + k, sizeof info - (size_t)k, "], \"unique_chunks\": %zu, \"seconds\": %.3f}",
                 stats.unique_chunks, stats.seconds);
    st = corpus_json_safe(corpora) ? duo_tokenizer_save(tok, out, info)
                                   : duo_tokenizer_save(tok, out, NULL);
    if (st == DUO_OK) {
        printf("wrote %s\n", out);
        st = eval_domains(tok, corpora, domains, n, 0);
    }
    duo_tokenizer_destroy(tok);
    return cli_report(st);
}

static int run_tokenizer(int argc, char **argv)
{
    cli_option options[] = {
        {"vocab", "V", "train: vocabulary size, 258..65536 (default 4096)", NULL},
        {"sample-mb", "MB", "train: MiB of training text, split evenly over the domains (default 1)", NULL},
        {"corpora", "DIR", "folder of <domain>.{train,val}.txt (default data/corpora)", NULL},
        {"out", "FILE", "train: tokenizer file to write (default data/tokenizer-V.json)", NULL},
        {"tokenizer", "FILE", "eval: tokenizer file, or 'byte' (default byte)", NULL},
        {"domains", "LIST", "comma-separated domains (default web,wiki,instruct,code)", NULL},
        {"check", NULL, "eval: also decode and compare with the text (round-trip)", NULL},
    };
    const char *action[1];
    int code = cli_parse(&cli_tokenizer_command, argc, argv, options, 7, action, 1, 1,
                         "actions:\n  train   train a chunked BPE on a sample balanced over the domains,\n"
                         "          save it, and print bytes/token on each domain's validation text\n"
                         "  eval    print bytes/token of a tokenizer on each domain's validation text");
    if (code != CLI_OK)
        return code;
    char *domains[16];
    char list[512];
    int n = corpus_split_list(options[5].value ? options[5].value : DEFAULT_DOMAINS, list, sizeof list,
                              domains, 16);
    if (n <= 0) {
        fprintf(stderr, "duocl tokenizer: --domains must list 1 to 16 names separated by commas\n");
        return CLI_USER_ERROR;
    }
    if (strcmp(action[0], "train") == 0)
        return train(options, domains, n);
    if (strcmp(action[0], "eval") != 0) {
        fprintf(stderr, "duocl tokenizer: unknown action '%s' (train or eval; see --help)\n", action[0]);
        return CLI_USER_ERROR;
    }
    duo_tokenizer *tok;
    duo_status opened = corpus_tokenizer_open(options[4].value, &tok);
    if (opened != DUO_OK)
        return cli_report(opened);
    duo_status st = eval_domains(tok, options[2].value ? options[2].value : "data/corpora", domains, n,
                                 options[6].value != NULL);
    duo_tokenizer_destroy(tok);
    return cli_report(st);
}

const cli_command cli_tokenizer_command = {
    .name = "tokenizer",
    .usage = "duocl tokenizer train [--vocab V] [--sample-mb MB] [--corpora DIR] [--out FILE]\n"
             "       duocl tokenizer eval [--tokenizer FILE|byte] [--corpora DIR] [--check]",
    .summary = "train a chunked byte-level BPE tokenizer, or measure one on the validation text",
    .run = run_tokenizer,
};
