/* duocl difficulty: are the tokens with high loss the ones that gain from
 * compute? Per-token losses under all-small, all-big and oracle(k) from the
 * oracle's RUN/oracle_tokens.bin (PAPER.md result 8). No device needed. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "study/difficulty.h"
#include "duocl/config.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/json_file.h"

static const char HELP[] =
    "RUN is a run directory on which 'duocl oracle RUN' has been run: this reads its\n"
    "config.json (for the tokenizer) and oracle_tokens.bin (per-token losses).\n"
    "Per token: loss under all-small, all-big and oracle(K) (the best route with K BIG\n"
    "layers for that token), and benefit = loss_small - loss_oracle(K). Per domain:\n"
    "the mean of each; Spearman rank correlations (average ranks for ties) of\n"
    "loss_small and of loss_big with benefit; the fraction of the hardest 10% of\n"
    "tokens (highest loss_small) that are also in the 10% with the highest benefit\n"
    "(chance: 10%); the N tokens with the highest benefit and the N with the highest\n"
    "loss_small, each with the text before it; and a passage (the first tokens of the\n"
    "domain, every position) with every token's losses and benefit, for coloured\n"
    "text. --skip-first P leaves the first P positions of each window (little\n"
    "context) out of the statistics and the top lists.\n"
    "Text is escaped so a terminal and JSON show it safely: \\n \\t \\r \\\\ and \\xNN\n"
    "for other control bytes and invalid UTF-8. Losses are in nats per token.\n"
    "Writes RUN/difficulty.json (or --out; temporary file + rename) and prints a\n"
    "summary.";

enum { BUDGET, TOP, CONTEXT, PASSAGE, SKIP_FIRST, OUT, N_OPTIONS };

static bool parse_count(const char *text, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}


/* Rounded so the per-token arrays stay short in JSON; 1e-4 nats is far below
 * anything these analyses resolve. */
static cJSON *num4(double x) { return cJSON_CreateNumber(round(x * 1e4) / 1e4); }

typedef struct view {
    const duo_token_file *file;
    const duo_token_domain *d;
    const duo_tokenizer *tok;
    const float *benefit;
    int k;
    int skip_first;           /* positions left out of statistics and top lists */
    size_t context_bytes;
    char *context, *token; /* scratch */
    size_t context_cap, token_cap;
} view;

static duo_status token_json(view *v, uint64_t i, cJSON *list)
{
    const duo_token_domain *d = v->d;
    DUO_TRY(duo_difficulty_context(v->tok, d, v->file->ctx, i, v->context_bytes, v->context,
                                   v->context_cap, v->token, v->token_cap));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", (double)i);
    cJSON_AddNumberToObject(o, "window", (double)(i / (uint64_t)v->file->ctx));
    cJSON_AddNumberToObject(o, "position", (double)(i % (uint64_t)v->file->ctx));
    cJSON_AddStringToObject(o, "context", v->context);
    cJSON_AddStringToObject(o, "token", v->token);
    cJSON_AddNumberToObject(o, "token_id", duo_token_target(d, v->file->ctx, i));
    cJSON_AddItemToObject(o, "loss_small", num4(d->loss_small[i]));
    cJSON_AddItemToObject(o, "loss_big", num4(d->loss_big[i]));
    cJSON_AddItemToObject(o, "loss_oracle", num4(d->loss_oracle[v->k][i]));
    cJSON_AddItemToObject(o, "benefit", num4(v->benefit[i]));
    cJSON *big = cJSON_AddArrayToObject(o, "oracle_big_layers");
    for (int l = 0; l < v->file->layers; l++)
        if (d->big_mask[v->k][i] >> l & 1)
            cJSON_AddItemToArray(big, cJSON_CreateNumber(l));
    cJSON_AddItemToArray(list, o);
    return DUO_OK;
}

/* One ranked list: JSON entries and a table on stdout. */
static duo_status top_list(view *v, const char *title, const float *score, size_t n, cJSON *out)
{
    uint64_t *top = malloc((n ? n : 1) * sizeof *top);
    if (!top)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the top tokens");
    duo_status st = duo_difficulty_top(v->d, v->file->ctx, v->skip_first, score, n, top);
    printf("  %s:\n    benefit  small    big  oracle   pos  %*s [token]\n", title,
           (int)v->context_bytes + 2, "text before");
    for (size_t j = 0; j < n && st == DUO_OK; j++) {
        uint64_t i = top[j];
        st = token_json(v, i, out);
        if (st == DUO_OK)
            printf("    %7.3f %6.3f %6.3f %7.3f %5llu  %*s [%s]\n", v->benefit[i], v->d->loss_small[i],
                   v->d->loss_big[i], v->d->loss_oracle[v->k][i],
                   (unsigned long long)(i % (uint64_t)v->file->ctx), (int)v->context_bytes + 2, v->context,
                   v->token);
    }
    free(top);
    return st;
}

/* The first `length` tokens of the domain, token by token. */
static duo_status passage_json(view *v, size_t length, cJSON *dj)
{
    const duo_token_domain *d = v->d;
    int ctx = v->file->ctx;
    if (length > d->tokens)
        length = (size_t)d->tokens;
    cJSON *p = cJSON_AddObjectToObject(dj, "passage");
    const uint8_t *b;
    size_t len;
    int32_t first = duo_token_input(d, ctx, 0);
    if (!(b = duo_tokenizer_token_bytes(v->tok, first, &len)))
        return duo_fail(DUO_ERR_FORMAT, "domain '%s': token id %d is outside the tokenizer's vocabulary",
                        d->name, first);
    duo_escape_text(b, len, v->token, v->token_cap);
    cJSON_AddStringToObject(p, "first_input", v->token);
    cJSON_AddNumberToObject(p, "window_length", ctx);
    cJSON *text = cJSON_AddArrayToObject(p, "tokens");
    cJSON *ids = cJSON_AddArrayToObject(p, "token_ids");
    cJSON *small = cJSON_AddArrayToObject(p, "loss_small");
    cJSON *big = cJSON_AddArrayToObject(p, "loss_big");
    cJSON *oracle = cJSON_AddArrayToObject(p, "loss_oracle");
    cJSON *benefit = cJSON_AddArrayToObject(p, "benefit");
    for (size_t i = 0; i < length; i++) {
        int32_t id = duo_token_target(d, ctx, i);
        if (!(b = duo_tokenizer_token_bytes(v->tok, id, &len)))
            return duo_fail(DUO_ERR_FORMAT, "domain '%s': token id %d is outside the tokenizer's vocabulary",
                            d->name, id);
        duo_escape_text(b, len, v->token, v->token_cap);
        cJSON_AddItemToArray(text, cJSON_CreateString(v->token));
        cJSON_AddItemToArray(ids, cJSON_CreateNumber(id));
        cJSON_AddItemToArray(small, num4(d->loss_small[i]));
        cJSON_AddItemToArray(big, num4(d->loss_big[i]));
        cJSON_AddItemToArray(oracle, num4(d->loss_oracle[v->k][i]));
        cJSON_AddItemToArray(benefit, num4(v->benefit[i]));
    }
    return DUO_OK;
}

static duo_status domain_report(view *v, size_t top_n, size_t passage, cJSON *domains)
{
    const duo_token_domain *d = v->d;
    duo_difficulty_stats s;
    DUO_TRY(duo_difficulty_compute(d, v->file->ctx, v->k, v->skip_first, &s));
    cJSON *dj = cJSON_AddObjectToObject(domains, d->name);
    cJSON_AddNumberToObject(dj, "tokens", (double)s.tokens);
    cJSON *mean = cJSON_AddObjectToObject(dj, "mean");
    cJSON_AddNumberToObject(mean, "loss_small", s.mean_small);
    cJSON_AddNumberToObject(mean, "loss_big", s.mean_big);
    cJSON_AddNumberToObject(mean, "loss_oracle", s.mean_oracle);
    cJSON_AddNumberToObject(mean, "benefit", s.mean_benefit);
    cJSON_AddNumberToObject(dj, "fraction_gain", s.fraction_gain);
    cJSON *rho = cJSON_AddObjectToObject(dj, "spearman");
    cJSON_AddNumberToObject(rho, "loss_small_benefit", s.spearman_small_benefit);
    cJSON_AddNumberToObject(rho, "loss_big_benefit", s.spearman_big_benefit);
    cJSON_AddNumberToObject(rho, "loss_small_loss_big", s.spearman_small_big);
    cJSON *top10 = cJSON_AddObjectToObject(dj, "top10_overlap");
    cJSON_AddNumberToObject(top10, "tokens_per_set", (double)s.top_count);
    cJSON_AddNumberToObject(top10, "shared", (double)s.top_overlap);
    cJSON_AddNumberToObject(top10, "fraction", (double)s.top_overlap / (double)s.top_count);
    cJSON_AddNumberToObject(top10, "chance", (double)s.top_count / (double)s.tokens);

    printf("\n%s: %llu tokens", d->name, (unsigned long long)s.tokens);
    if (v->skip_first)
        printf(" (window positions %d to %d)", v->skip_first, v->file->ctx - 1);
    printf("\n");
    printf("  mean loss: all-small %.4f, all-big %.4f, oracle(%d) %.4f; benefit %.4f "
           "(%.1f%% of tokens gain)\n", s.mean_small, s.mean_big, v->k, s.mean_oracle, s.mean_benefit,
           100 * s.fraction_gain);
    printf("  rank correlation with benefit: loss_small %+.3f, loss_big %+.3f "
           "(loss_small with loss_big %+.3f)\n", s.spearman_small_benefit, s.spearman_big_benefit,
           s.spearman_small_big);
    printf("  of the %llu hardest tokens (top 10%% by loss_small), %llu (%.1f%%) are also in the top 10%% "
           "by benefit (chance %.1f%%)\n", (unsigned long long)s.top_count,
           (unsigned long long)s.top_overlap, 100.0 * (double)s.top_overlap / (double)s.top_count,
           100.0 * (double)s.top_count / (double)s.tokens);

    size_t n = top_n < s.tokens ? top_n : (size_t)s.tokens;
    DUO_TRY(top_list(v, "highest benefit", v->benefit, n, cJSON_AddArrayToObject(dj, "top_benefit")));
    DUO_TRY(top_list(v, "highest all-small loss", d->loss_small, n,
                     cJSON_AddArrayToObject(dj, "top_loss_small")));
    return passage_json(v, passage, dj);
}

/* The error for a budget the oracle did not search, with how to get it. */
static duo_status unsearched(const char *run_dir, const duo_token_file *f, int k)
{
    char have[160];
    duo_token_file_budgets(f, have, sizeof have);
    if (k > f->layers)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "--budget %d: the model has %d layers, so budgets are 0 to "
                        "%d; the oracle searched %s", k, f->layers, f->layers, *have ? have : "none");
    return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                    "--budget %d: the oracle did not search budget %d (searched: %s); run 'duocl oracle "
                    "%s --budgets %s%s%d' to search it (this rewrites oracle.json and "
                    "oracle_tokens.bin with the budgets listed)", k, k, *have ? have : "none", run_dir,
                    have, *have ? "," : "", k);
}

static duo_status difficulty(const char *run_dir, const char *out, int k, int skip_first, size_t top_n,
                             size_t context_bytes, size_t passage, cJSON *root)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/oracle_tokens.bin", run_dir);
    if (access(path, R_OK) != 0)
        return duo_fail(DUO_ERR_IO, "'%s' not found: run 'duocl oracle %s' first (it writes the per-token "
                        "losses this command reads)", path, run_dir);
    duo_config config;
    char config_path[1200];
    snprintf(config_path, sizeof config_path, "%s/config.json", run_dir);
    DUO_TRY(duo_config_load(config_path, &config));
    duo_token_file f;
    DUO_TRY(duo_token_file_read(path, &f));
    duo_status st = DUO_OK;
    for (int d = 0; d < f.n_domains && st == DUO_OK; d++)
        if (k > f.layers || !(f.domain[d].searched >> k & 1))
            st = unsearched(run_dir, &f, k);
    duo_tokenizer *tok = NULL;
    const char *tok_name = config.data.tokenizer;
    if (st == DUO_OK)
        st = strcmp(tok_name, "byte") == 0 ? duo_tokenizer_byte_level(&tok) : duo_tokenizer_load(tok_name, &tok);
    if (st == DUO_OK && skip_first >= f.ctx)
        st = duo_fail(DUO_ERR_INVALID_ARGUMENT, "--skip-first %d: windows have %d positions; allowed 0 to %d",
                      skip_first, f.ctx, f.ctx - 1);
    view v = {.file = &f, .tok = tok, .k = k, .skip_first = skip_first, .context_bytes = context_bytes,
              .context_cap = 4 * context_bytes + 16, .token_cap = 4 * 256 + 16};
    v.context = malloc(v.context_cap);
    v.token = malloc(v.token_cap);
    if (st == DUO_OK && (!v.context || !v.token))
        st = duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == DUO_OK) {
        cJSON_AddStringToObject(root, "run", run_dir);
        cJSON_AddStringToObject(root, "source", path);
        cJSON_AddNumberToObject(root, "budget", k);
        cJSON_AddNumberToObject(root, "layers", f.layers);
        cJSON_AddNumberToObject(root, "ctx", f.ctx);
        cJSON_AddNumberToObject(root, "skip_first", skip_first);
        cJSON_AddStringToObject(root, "tokenizer", tok_name);
        cJSON_AddStringToObject(root, "loss_unit", "nats per token");
        cJSON_AddNumberToObject(root, "context_bytes", (double)context_bytes);
        printf("token difficulty at budget %d (oracle with %d of %d layers BIG), from %s\n", k, k, f.layers,
               path);
    }
    cJSON *domains = cJSON_AddObjectToObject(root, "domains");
    for (int d = 0; d < f.n_domains && st == DUO_OK; d++) {
        v.d = &f.domain[d];
        float *benefit = malloc((size_t)(v.d->tokens ? v.d->tokens : 1) * sizeof *benefit);
        st = benefit ? duo_difficulty_benefit(v.d, k, benefit) : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory");
        v.benefit = benefit;
        if (st == DUO_OK)
            st = domain_report(&v, top_n, passage, domains);
        free(benefit);
    }
    if (st == DUO_OK) {
        if (out)
            snprintf(path, sizeof path, "%s", out);
        else
            snprintf(path, sizeof path, "%s/difficulty.json", run_dir);
        st = duo_write_json_file(path, "result file", root, false);
        fflush(stdout); /* the summary before the line on stderr */
        if (st == DUO_OK)
            fprintf(stderr, "wrote %s\n", path);
    }
    free(v.context);
    free(v.token);
    if (tok)
        duo_tokenizer_destroy(tok);
    duo_token_file_free(&f);
    return st;
}

static int run_difficulty(int argc, char **argv)
{
    cli_option o[N_OPTIONS] = {
        {"budget", "K", "oracle budget: BIG layers per token (required; one the oracle searched)", NULL},
        {"top", "N", "tokens in each top list (default 10)", NULL},
        {"context", "BYTES", "bytes of text shown before each top token (default 40)", NULL},
        {"passage", "N", "tokens of each domain's passage in the JSON (default 400)", NULL},
        {"skip-first", "P", "leave the first P positions of every window out of the statistics and top\n"
                            "                         lists (they have little context; default 0)", NULL},
        {"out", "PATH", "where to write the JSON (default RUN/difficulty.json)", NULL},
    };
    const char *run_dir;
    int code = cli_parse(&cli_difficulty_command, argc, argv, o, N_OPTIONS, &run_dir, 1, 1, HELP);
    if (code != CLI_OK)
        return code;
    long k, top = 10, context = 40, passage = 400, skip_first = 0;
    if (!o[BUDGET].value) {
        fprintf(stderr, "duocl difficulty: --budget K is required (a budget the oracle searched)\n");
        return CLI_USER_ERROR;
    }
    if (!parse_count(o[BUDGET].value, 0, DUO_TOKEN_FILE_MAX_LAYERS, &k) ||
        (o[TOP].value && !parse_count(o[TOP].value, 0, 100000, &top)) ||
        (o[CONTEXT].value && !parse_count(o[CONTEXT].value, 0, 4096, &context)) ||
        (o[PASSAGE].value && !parse_count(o[PASSAGE].value, 0, 1000000, &passage)) ||
        (o[SKIP_FIRST].value && !parse_count(o[SKIP_FIRST].value, 0, 1 << 24, &skip_first))) {
        fprintf(stderr, "duocl difficulty: --budget allows 0 to %d, --top 0 to 100000, --context 0 to 4096, "
                        "--passage 0 to 1000000, --skip-first 0 to ctx-1 (whole numbers)\n",
                DUO_TOKEN_FILE_MAX_LAYERS);
        return CLI_USER_ERROR;
    }
    cJSON *root = cJSON_CreateObject();
    duo_status st = difficulty(run_dir, o[OUT].value, (int)k, (int)skip_first, (size_t)top, (size_t)context, (size_t)passage, root);
    cJSON_Delete(root);
    return cli_report(st);
}

const cli_command cli_difficulty_command = {
    .name = "difficulty",
    .usage = "duocl difficulty RUN --budget K [--top N] [--skip-first P] [--out PATH]",
    .summary = "per-token difficulty: loss vs the benefit of compute (needs 'duocl oracle')",
    .run = run_difficulty,
};
