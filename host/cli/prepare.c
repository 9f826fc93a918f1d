/* duocl prepare: encode each domain's train and validation text into token
 * shards, with a copy of the tokenizer beside them (duo_prepare_shards). */
#include <stdio.h>

#include "commands.h"
#include "data/corpus.h"
#include "duocl/data.h"

void cli_print_prepare_event(const duo_prepare_event *e, void *user)
{
    (void)user;
    if (e->kind == DUO_PREPARE_STARTED) {
        fprintf(stderr, "tokenizer %s (vocab %d, fingerprint %016llx) -> %s\n", e->tokenizer, e->vocab,
                (unsigned long long)e->fingerprint, e->out);
        printf("%-10s %-6s %12s %12s %12s\n", "domain", "split", "tokens", "bytes", "bytes/token");
        return;
    }
    const duo_encode_stats *s = e->shard;
    printf("%-10s %-6s %12llu %12llu %12.3f%s\n", s->domain, s->split, (unsigned long long)s->tokens,
           (unsigned long long)s->bytes, s->bytes_per_token,
           s->round_trip == DUO_ROUND_TRIP_EXACT ? "  round-trip exact" : "");
    fflush(stdout);
    fprintf(stderr, "  %s (%.2f s)\n", e->path, s->seconds);
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
    char *domains[DUO_CORPUS_MAX_DOMAINS];
    char list[512];
    int n = cli_domain_list("prepare", &options[3], list, sizeof list, domains,
                            DUO_CORPUS_MAX_DOMAINS);
    if (n < 0)
        return CLI_USER_ERROR;
    duo_prepare_options o = {
        .tokenizer = options[0].value,
        .corpora = options[1].value,
        .out = options[2].value,
        .domains = n ? (const char *const *)domains : NULL,
        .n_domains = n,
        .check = options[4].value != NULL,
        .callback = cli_print_prepare_event,
    };
    return cli_report(duo_prepare_shards(&o, NULL));
}

const cli_command cli_prepare_command = {
    .name = "prepare",
    .usage = "duocl prepare [--tokenizer FILE|byte] [--corpora DIR] [--out DIR] [--domains LIST] [--check]",
    .summary = "encode each domain's train and validation text into token shards",
    .run = run_prepare,
};
