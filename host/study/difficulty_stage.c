/* The difficulty stage (duocl difficulty): the statistics of study/difficulty.h
 * on every domain of the oracle's per-token file, and the difficulty JSON, its
 * result file, written here and nowhere else:
 *   { "run", "source", "budget", "layers", "ctx", "skip_first", "tokenizer",
 *     "loss_unit", "context_bytes",
 *     "domains": { DOMAIN: { "tokens", "mean": {...}, "fraction_gain", "spearman": {...},
 *                            "top10_overlap": {...}, "top_benefit": [TOKEN],
 *                            "top_loss_small": [TOKEN], "passage": {...} } } }
 * Per-token losses are rounded to 1e-4 nats so the arrays stay short. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/error.h"
#include "base/json_file.h"
#include "difficulty.h"
#include "difficulty_signals.h"
#include "run_folder.h"
#include "spread.h"

duo_difficulty_options duo_difficulty_default_options(void)
{
    return (duo_difficulty_options){.top = 10, .context_bytes = 40, .passage = 400};
}

/* Rounded so the per-token arrays stay short in JSON; 1e-4 nats is far below
 * anything these analyses resolve. */
static cJSON *num4(double x) { return cJSON_CreateNumber(round(x * 1e4) / 1e4); }

/* One domain being analysed. */
typedef struct view {
    const duo_token_file *file;
    const duo_token_domain *d;
    const duo_tokenizer *tok;
    const float *benefit;
    int k;
    int skip_first;           /* positions left out of statistics and top lists */
    size_t context_bytes;
    char *context, *token;    /* scratch */
    size_t context_cap, token_cap;
} view;

static void free_top(duo_difficulty_token *top, size_t n)
{
    for (size_t j = 0; top && j < n; j++) {
        free((char *)top[j].context);
        free((char *)top[j].token);
    }
    free(top);
}

/* The n tokens with the highest score, with their text. */
static duo_status top_tokens(view *v, const float *score, size_t n, duo_difficulty_token **out)
{
    const duo_token_domain *d = v->d;
    uint64_t *index = malloc((n ? n : 1) * sizeof *index);
    duo_difficulty_token *top = calloc(n ? n : 1, sizeof *top);
    *out = top;
    duo_status st = index && top ? duo_difficulty_top(d, v->file->ctx, v->skip_first, score, n, index)
                                 : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the top tokens");
    for (size_t j = 0; j < n && st == DUO_OK; j++) {
        uint64_t i = index[j];
        st = duo_difficulty_context(v->tok, d, v->file->ctx, i, v->context_bytes, v->context,
                                    v->context_cap, v->token, v->token_cap);
        if (st != DUO_OK)
            break;
        top[j] = (duo_difficulty_token){
            .index = i, .token_id = duo_token_target(d, v->file->ctx, i),
            .loss_small = d->loss_small[i], .loss_big = d->loss_big[i],
            .loss_oracle = d->loss_oracle[v->k][i], .benefit = v->benefit[i],
            .oracle_big = d->big_mask[v->k][i], .context = strdup(v->context),
            .token = strdup(v->token)};
        if (!top[j].context || !top[j].token)
            st = duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the top tokens");
    }
    free(index);
    return st;
}

static cJSON *top_json(const view *v, const duo_difficulty_token *top, size_t n)
{
    cJSON *list = cJSON_CreateArray();
    uint64_t ctx = (uint64_t)v->file->ctx;
    for (size_t j = 0; j < n; j++) {
        const duo_difficulty_token *t = &top[j];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", (double)t->index);
        cJSON_AddNumberToObject(o, "window", (double)(t->index / ctx));
        cJSON_AddNumberToObject(o, "position", (double)(t->index % ctx));
        cJSON_AddStringToObject(o, "context", t->context);
        cJSON_AddStringToObject(o, "token", t->token);
        cJSON_AddNumberToObject(o, "token_id", t->token_id);
        cJSON_AddItemToObject(o, "loss_small", num4(t->loss_small));
        cJSON_AddItemToObject(o, "loss_big", num4(t->loss_big));
        cJSON_AddItemToObject(o, "loss_oracle", num4(t->loss_oracle));
        cJSON_AddItemToObject(o, "benefit", num4(t->benefit));
        cJSON *big = cJSON_AddArrayToObject(o, "oracle_big_layers");
        for (int l = 0; l < v->file->layers; l++)
            if (t->oracle_big >> l & 1)
                cJSON_AddItemToArray(big, cJSON_CreateNumber(l));
        cJSON_AddItemToArray(list, o);
    }
    return list;
}

static duo_status token_text(view *v, int32_t id)
{
    const uint8_t *b;
    size_t len;
    if (!(b = duo_tokenizer_token_bytes(v->tok, id, &len)))
        return duo_fail(DUO_ERR_FORMAT, "domain '%s': token id %d is outside the tokenizer's vocabulary",
                        v->d->name, id);
    duo_escape_text(b, len, v->token, v->token_cap);
    return DUO_OK;
}

/* The first `length` tokens of the domain, token by token. */
static duo_status passage_json(view *v, size_t length, cJSON *dj)
{
    const duo_token_domain *d = v->d;
    int ctx = v->file->ctx;
    if (length > d->tokens)
        length = (size_t)d->tokens;
    cJSON *p = cJSON_AddObjectToObject(dj, "passage");
    DUO_TRY(token_text(v, duo_token_input(d, ctx, 0)));
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
        DUO_TRY(token_text(v, id));
        cJSON_AddItemToArray(text, cJSON_CreateString(v->token));
        cJSON_AddItemToArray(ids, cJSON_CreateNumber(id));
        cJSON_AddItemToArray(small, num4(d->loss_small[i]));
        cJSON_AddItemToArray(big, num4(d->loss_big[i]));
        cJSON_AddItemToArray(oracle, num4(d->loss_oracle[v->k][i]));
        cJSON_AddItemToArray(benefit, num4(v->benefit[i]));
    }
    return DUO_OK;
}

static void stats_json(const duo_difficulty_stats *s, cJSON *dj)
{
    cJSON_AddNumberToObject(dj, "tokens", (double)s->tokens);
    cJSON *mean = cJSON_AddObjectToObject(dj, "mean");
    cJSON_AddNumberToObject(mean, "loss_small", s->mean_small);
    cJSON_AddNumberToObject(mean, "loss_big", s->mean_big);
    cJSON_AddNumberToObject(mean, "loss_oracle", s->mean_oracle);
    cJSON_AddNumberToObject(mean, "benefit", s->mean_benefit);
    cJSON_AddNumberToObject(dj, "fraction_gain", s->fraction_gain);
    cJSON *rho = cJSON_AddObjectToObject(dj, "spearman");
    cJSON_AddNumberToObject(rho, "loss_small_benefit", s->spearman_small_benefit);
    cJSON_AddNumberToObject(rho, "loss_big_benefit", s->spearman_big_benefit);
    cJSON_AddNumberToObject(rho, "loss_small_loss_big", s->spearman_small_big);
    cJSON *top10 = cJSON_AddObjectToObject(dj, "top10_overlap");
    cJSON_AddNumberToObject(top10, "tokens_per_set", (double)s->top_count);
    cJSON_AddNumberToObject(top10, "shared", (double)s->top_overlap);
    cJSON_AddNumberToObject(top10, "fraction", (double)s->top_overlap / (double)s->top_count);
    cJSON_AddNumberToObject(top10, "chance", (double)s->top_count / (double)s->tokens);
}

/* One domain: statistics (out->stats, already computed), top lists (to the
 * callback too) and passage. */
static duo_status analyse_domain(view *v, const duo_difficulty_options *o, duo_difficulty_event *event,
                                 duo_difficulty_domain_summary *out, cJSON *domains)
{
    const duo_token_domain *d = v->d;
    snprintf(out->name, sizeof out->name, "%s", d->name);
    cJSON *dj = cJSON_AddObjectToObject(domains, d->name);
    stats_json(&out->stats, dj);
    size_t n = o->top < out->stats.tokens ? o->top : (size_t)out->stats.tokens;
    duo_difficulty_token *by_benefit = NULL, *by_loss = NULL;
    duo_status st = top_tokens(v, v->benefit, n, &by_benefit);
    if (st == DUO_OK)
        st = top_tokens(v, d->loss_small, n, &by_loss);
    if (st == DUO_OK) {
        cJSON_AddItemToObject(dj, "top_benefit", top_json(v, by_benefit, n));
        cJSON_AddItemToObject(dj, "top_loss_small", top_json(v, by_loss, n));
        event->kind = DUO_DIFFICULTY_EVENT_DOMAIN;
        event->name = d->name;
        event->stats = &out->stats;
        event->top_benefit = by_benefit;
        event->top_loss_small = by_loss;
        event->n_top = n;
        if (o->callback)
            o->callback(event, o->user);
        st = passage_json(v, o->passage, dj);
    }
    free_top(by_benefit, n);
    free_top(by_loss, n);
    return st;
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

static void header_json(const duo_difficulty_options *o, const duo_config *config,
                        const duo_difficulty_summary *s, cJSON *root)
{
    cJSON_AddStringToObject(root, "run", o->run_dir);
    cJSON_AddStringToObject(root, "source", s->source);
    cJSON_AddNumberToObject(root, "budget", s->budget);
    cJSON_AddNumberToObject(root, "layers", s->layers);
    cJSON_AddNumberToObject(root, "ctx", s->ctx);
    cJSON_AddNumberToObject(root, "skip_first", o->skip_first);
    cJSON_AddStringToObject(root, "tokenizer", config->data.tokenizer);
    cJSON_AddStringToObject(root, "loss_unit", "nats per token");
    cJSON_AddNumberToObject(root, "context_bytes", (double)o->context_bytes);
}

/* The statistics of every domain (the costly part: ranks and sorts) into
 * out->domain[d].stats; under MPI the domains are spread over ranks and
 * their statistics gathered on rank 0 (study/spread.h). */
static duo_status spread_statistics(const duo_token_file *f, int k, int skip_first,
                                    duo_difficulty_summary *out)
{
    size_t n = (size_t)f->n_domains;
    duo_spread part = duo_spread_part(0, n, n);
    duo_difficulty_stats *stats = calloc(n ? n : 1, sizeof *stats);
    duo_status st = stats ? DUO_OK : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t d = part.first; d < part.first + part.count && st == DUO_OK; d++)
        st = duo_difficulty_compute(&f->domain[d], f->ctx, k, skip_first, &stats[d]);
    st = duo_spread_agree(st);
    if (st == DUO_OK)
        st = duo_spread_gather(stats, sizeof *stats, part);
    for (size_t d = 0; d < n && st == DUO_OK; d++)
        out->domain[d].stats = stats[d];
    free(stats);
    return st;
}

/* The cheap signals of one domain (difficulty_signals.h); the model is
 * opened at the first domain. */
static duo_status domain_signals(const duo_difficulty_options *o, int k,
                                 duo_difficulty_signals **signals, const duo_token_domain *d,
                                 int ctx, const float *benefit, cJSON *dj,
                                 duo_difficulty_domain_summary *out)
{
    if (!*signals)
        DUO_TRY(duo_difficulty_signals_open(o->runtime, o->run_dir, k, signals));
    return duo_difficulty_signals_domain(*signals, d, ctx, o->skip_first, benefit, dj, out);
}

/* Every domain of a token file that has budget k, into root and *out. */
static duo_status analyse(const duo_difficulty_options *o, const duo_config *config,
                          const duo_token_file *f, duo_difficulty_summary *out, cJSON *root)
{
    int k = o->budget;
    duo_difficulty_signals *signals = NULL;
    for (int d = 0; d < f->n_domains; d++)
        if (k > f->layers || !(f->domain[d].searched >> k & 1))
            return unsearched(o->run_dir, f, k);
    duo_tokenizer *tok = NULL;
    DUO_TRY(duo_run_open_tokenizer(config, &tok));
    duo_status st = DUO_OK;
    if (o->skip_first < 0 || o->skip_first >= f->ctx)
        st = duo_fail(DUO_ERR_INVALID_ARGUMENT, "--skip-first %d: windows have %d positions; allowed 0 to %d",
                      o->skip_first, f->ctx, f->ctx - 1);
    view v = {.file = f, .tok = tok, .k = k, .skip_first = o->skip_first,
              .context_bytes = o->context_bytes, .context_cap = 4 * o->context_bytes + 16,
              .token_cap = 4 * 256 + 16};
    v.context = malloc(v.context_cap);
    v.token = malloc(v.token_cap);
    if (st == DUO_OK && (!v.context || !v.token))
        st = duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory");
    duo_difficulty_event event = {.kind = DUO_DIFFICULTY_EVENT_START, .source = out->source,
                                  .budget = k, .layers = f->layers, .ctx = f->ctx,
                                  .skip_first = o->skip_first, .context_bytes = o->context_bytes};
    if (st == DUO_OK) {
        header_json(o, config, out, root);
        if (o->callback && duo_spread_root())
            o->callback(&event, o->user);
    }
    if (st == DUO_OK)
        st = spread_statistics(f, k, o->skip_first, out);
    cJSON *domains = cJSON_AddObjectToObject(root, "domains");
    for (int d = 0; d < f->n_domains && st == DUO_OK && duo_spread_root(); d++) {
        if (o->stop && *o->stop) {
            st = duo_fail(DUO_ERR_INTERRUPTED, "difficulty stopped after %d of %d domains", d,
                          f->n_domains);
            break;
        }
        v.d = &f->domain[d];
        float *benefit = malloc((size_t)(v.d->tokens ? v.d->tokens : 1) * sizeof *benefit);
        st = benefit ? duo_difficulty_benefit(v.d, k, benefit) : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory");
        v.benefit = benefit;
        if (st == DUO_OK)
            st = analyse_domain(&v, o, &event, &out->domain[d], domains);
        if (st == DUO_OK && o->runtime)
            st = domain_signals(o, k, &signals, v.d, f->ctx, benefit,
                                cJSON_GetObjectItem(domains, v.d->name), &out->domain[d]);
        if (st == DUO_OK)
            out->n_domains = d + 1;
        free(benefit);
    }
    duo_difficulty_signals_close(signals);
    free(v.context);
    free(v.token);
    duo_tokenizer_destroy(tok);
    return st;
}

duo_status duo_difficulty_run(const duo_difficulty_options *o, duo_difficulty_summary *out)
{
    if (!o || !out || !o->run_dir)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_difficulty_run: options with run_dir, and a "
                        "summary, must be given");
    memset(out, 0, sizeof *out);
    if (o->budget < 0 || o->budget > DUO_DIFFICULTY_MAX_BUDGET)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "--budget %d: allowed 0 to %d", o->budget,
                        DUO_DIFFICULTY_MAX_BUDGET);
    const char *dir = o->run_dir;
    DUO_TRY(duo_run_path(dir, DUO_RUN_ORACLE_TOKENS, out->source, sizeof out->source));
    if (access(out->source, R_OK) != 0)
        return duo_fail(DUO_ERR_IO, "'%s' not found: run 'duocl oracle %s' first (it writes the per-token "
                        "losses this command reads)", out->source, dir);
    char config_path[DUO_DIFFICULTY_PATH_MAX];
    DUO_TRY(duo_run_path(dir, DUO_RUN_CONFIG, config_path, sizeof config_path));
    duo_config config;
    DUO_TRY(duo_config_load(config_path, &config));
    duo_token_file f;
    DUO_TRY(duo_token_file_read(out->source, &f));
    out->budget = o->budget;
    out->layers = f.layers;
    out->ctx = f.ctx;
    cJSON *root = cJSON_CreateObject();
    duo_status st = analyse(o, &config, &f, out, root);
    if (st == DUO_OK && !o->out)
        st = duo_run_path(dir, DUO_RUN_DIFFICULTY, out->path, sizeof out->path);
    if (st == DUO_OK && o->out && (size_t)snprintf(out->path, sizeof out->path, "%s", o->out) >= sizeof out->path)
        st = duo_fail(DUO_ERR_INVALID_ARGUMENT, "--out: the path '%s' is too long", o->out);
    bool failed = st != DUO_OK; /* on every rank alike (they agree) */
    if (st == DUO_OK && duo_spread_root())
        st = duo_write_json_file(out->path, "result file", root, false);
    cJSON_Delete(root);
    duo_token_file_free(&f);
    /* Rank 0 wrote; every rank returns its summary. */
    return failed ? st : duo_spread_share_result(st, out, sizeof *out);
}
