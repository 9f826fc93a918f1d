/* duocl tokenizer train | eval: train a chunked BPE on a sample balanced over
 * the domains (duo_tokenizer_train_from_corpora), and measure bytes per token
 * on each domain's validation text (duo_corpus_measure). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "data/corpus.h"
#include "duocl/data.h"
#include "duocl/tokenizer.h"

static void print_header(bool check_roundtrip)
{
    printf("%-10s %12s %12s %12s%s\n", "domain", "val bytes", "tokens", "bytes/token",
           check_roundtrip ? "  round-trip" : "");
}

static void print_measured(const duo_encode_stats *s, void *user)
{
    (void)user;
    const char *verdict = s->round_trip == DUO_ROUND_TRIP_EXACT      ? "  exact"
                          : s->round_trip == DUO_ROUND_TRIP_MISMATCH ? "  MISMATCH"
                                                                     : "";
    printf("%-10s %12llu %12llu %12.3f%s\n", s->domain, (unsigned long long)s->bytes,
           (unsigned long long)s->tokens, s->bytes_per_token, verdict);
    fprintf(stderr, "  %s: encoded %.1f MB in %.2f s\n", s->domain, (double)s->bytes / 1e6, s->seconds);
}

void cli_print_tokenizer_event(const duo_tokenizer_train_event *e, void *user)
{
    switch (e->kind) {
    case DUO_TOKENIZER_TRAIN_SAMPLED:
        fprintf(stderr, "sample: %zu bytes of %s.train (%zu bytes)\n", e->taken, e->domain, e->text_bytes);
        break;
    case DUO_TOKENIZER_TRAIN_TRAINED:
        printf("trained %d merges (vocab %d) on %zu bytes: %zu chunks, %zu unique, %.2f s\n",
               e->stats->merges, e->vocab, e->stats->sample_bytes, e->stats->chunks,
               e->stats->unique_chunks, e->stats->seconds);
        break;
    case DUO_TOKENIZER_TRAIN_SAVED:
        printf("wrote %s\n", e->path);
        print_header(false);
        break;
    case DUO_TOKENIZER_TRAIN_MEASURED:
        print_measured(e->measured, user);
        break;
    }
}

static int train(const cli_option *o, char **domains, int n)
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
    duo_tokenizer_train_options options = {
        .vocab = (int)vocab,
        .sample_bytes = (size_t)(mb * 1048576.0),
        .corpora = o[2].value,
        .out = o[3].value,
        .domains = n ? (const char *const *)domains : NULL,
        .n_domains = n,
        .callback = cli_print_tokenizer_event,
    };
    return cli_report(duo_tokenizer_train_from_corpora(&options, NULL, NULL));
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
    char *domains[DUO_CORPUS_MAX_DOMAINS];
    char list[512];
    int n = cli_domain_list("tokenizer", &options[5], list, sizeof list, domains,
                            DUO_CORPUS_MAX_DOMAINS);
    if (n < 0)
        return CLI_USER_ERROR;
    if (strcmp(action[0], "train") == 0)
        return train(options, domains, n);
    if (strcmp(action[0], "eval") != 0) {
        fprintf(stderr, "duocl tokenizer: unknown action '%s' (train or eval; see --help)\n", action[0]);
        return CLI_USER_ERROR;
    }
    duo_tokenizer *tok;
    duo_status st = duo_tokenizer_open(options[4].value, &tok);
    if (st != DUO_OK)
        return cli_report(st);
    duo_measure_options measure = {
        .corpora = options[2].value,
        .domains = n ? (const char *const *)domains : NULL,
        .n_domains = n,
        .check = options[6].value != NULL,
        .callback = print_measured,
    };
    print_header(measure.check);
    st = duo_corpus_measure(tok, &measure, NULL);
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
