/* The oracle stage (duocl oracle): the search of study/oracle.c on every
 * domain of a run, the varying-budget experiment, and RUN/oracle.json, its
 * result file, written here and nowhere else (oracle_tokens.bin goes through
 * study/oracle_tokens.h):
 *   { "run", "checkpoint", "alphabet", "random_n", "layers", "ctx", "device",
 *     "domains": { DOMAIN: { "tokens", "bytes", "all_small": M, "all_big": M,
 *                            "pseudo_temperature" (the control's calibration),
 *                            "budgets": [ { "k", "patterns", "oracle": M,
 *                                           "fixed": M + "pattern", "flop_fraction",
 *                                           "random": M + "pattern", "mean_all": M,
 *                                           "min_entropy": M, "max_prob": M,
 *                                           "selection_control": M + "pseudo_fixed",
 *                                                                "pseudo_oracle",
 *                                           "big_per_layer": [L],
 *                                           "big_per_layer_bucket": [L][8] } ],
 *                            "varying_budget": { "from", "to", "mean_budget",
 *                                                "oracle_varying": M, "constant_budget",
 *                                                "oracle_constant": M (if searched) } } },
 *     "layer_evals", "naive_layer_evals" }
 * where M is { "loss" (nats per token), "ppl", "bpb" }. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/error.h"
#include "base/json_file.h"
#include "base/measures.h"
#include "duocl/oracle.h"
#include "oracle.h"
#include "oracle_tokens.h"
#include "run_folder.h"
#include "spread.h"

/* The seed of random-N's draws ("oracle"). */
#define ORACLE_RANDOM_SEED 0x6f7261636c65ULL

static duo_oracle_score score(double loss, uint64_t tokens, uint64_t bytes)
{
    return (duo_oracle_score){loss, duo_bits_per_byte(loss * (double)tokens, (double)bytes)};
}

/* Budget k(t) falling linearly from k0 at the first position to k1 at the last. */
static int varying_budget(int k0, int k1, size_t t, size_t ctx)
{
    double f = ctx > 1 ? (double)t / (double)(ctx - 1) : 0;
    return (int)lround(k0 + (k1 - k0) * f);
}

/* The varying-budget experiment on one domain; false when a budget it needs
 * was not searched. */
static bool varying(const duo_oracle_result *r, int k0, int k1, size_t ctx, uint64_t bytes,
                    duo_oracle_varying *out)
{
    for (size_t t = 0; t < ctx; t++)
        if (!r->searched[varying_budget(k0, k1, t, ctx)])
            return false;
    double sum = 0, mean_k = 0;
    for (size_t i = 0; i < r->tokens; i++) {
        int k = varying_budget(k0, k1, i % ctx, ctx);
        sum += r->loss_oracle[k][i];
        mean_k += k;
    }
    mean_k /= (double)r->tokens;
    *out = (duo_oracle_varying){.from = k0, .to = k1, .mean_budget = mean_k,
                                .varying = score(sum / (double)r->tokens, r->tokens, bytes),
                                .constant_budget = (int)lround(mean_k)};
    out->has_constant = r->searched[out->constant_budget];
    if (out->has_constant)
        out->constant = score(r->budget[out->constant_budget].oracle, r->tokens, bytes);
    return true;
}

/* The label-free selectors and the selection-only control of one budget. */
static void summarise_select(const duo_budget_result *b, uint64_t tokens, uint64_t bytes,
                             duo_oracle_budget_summary *s)
{
    s->min_entropy = score(b->min_entropy, tokens, bytes);
    s->max_prob = score(b->max_prob, tokens, bytes);
    s->pseudo_fixed = b->pseudo_fixed;
    s->pseudo_oracle = b->pseudo_oracle;
    s->control = score(b->fixed - (b->pseudo_fixed - b->pseudo_oracle), tokens, bytes);
}

static void summarise(const duo_oracle_result *r, const duo_model_config *mc, uint64_t bytes,
                      duo_oracle_domain_summary *out)
{
    out->tokens = r->tokens;
    out->bytes = bytes;
    out->all_small = score(r->all_small, r->tokens, bytes);
    out->all_big = score(r->all_big, r->tokens, bytes);
    out->pseudo_temperature = r->pseudo_temperature_mean;
    out->layer_evals = r->counts.layer_evals;
    out->naive_layer_evals = r->counts.naive_layer_evals;
    for (int k = 0; k <= r->layers; k++) {
        out->searched[k] = r->searched[k];
        if (!r->searched[k])
            continue;
        const duo_budget_result *b = &r->budget[k];
        duo_oracle_budget_summary *s = &out->budget[k];
        s->k = k;
        s->patterns = b->patterns;
        s->oracle = score(b->oracle, r->tokens, bytes);
        s->fixed = score(b->fixed, r->tokens, bytes);
        s->random = score(b->random_best, r->tokens, bytes);
        s->mean_all = score(b->mean_all, r->tokens, bytes);
        /* A pattern has one letter per layer: at most DUO_ORACLE_MAX_LAYERS. */
        snprintf(s->fixed_pattern, sizeof s->fixed_pattern, "%.*s",
                 (int)sizeof s->fixed_pattern - 1, b->fixed_pattern);
        snprintf(s->random_pattern, sizeof s->random_pattern, "%.*s",
                 (int)sizeof s->random_pattern - 1, b->random_pattern);
        summarise_select(b, r->tokens, bytes, s);
        s->fixed_flop_fraction = duo_pattern_flop_fraction(b->fixed_pattern, mc->ffn_big, mc->ffn_small);
        for (int l = 0; l < r->layers; l++) {
            s->big_per_layer[l] = (double)b->big_per_layer[l] / (double)r->tokens;
            for (int q = 0; q < DUO_ORACLE_BUCKETS; q++)
                s->big_per_layer_bucket[l][q] =
                    b->tokens_per_bucket[q]
                        ? (double)b->big_per_layer_bucket[l][q] / (double)b->tokens_per_bucket[q]
                        : 0;
        }
    }
}

/* ---- RUN/oracle.json ---- */

static cJSON *metric(duo_oracle_score s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "loss", s.loss);
    cJSON_AddNumberToObject(o, "ppl", exp(s.loss));
    cJSON_AddNumberToObject(o, "bpb", s.bits_per_byte);
    return o;
}

/* "min_entropy", "max_prob": M; "selection_control": M with "pseudo_fixed"
 * and "pseudo_oracle" (nats on the pseudo-labels). */
static void select_json(cJSON *o, const duo_oracle_budget_summary *b)
{
    cJSON_AddItemToObject(o, "min_entropy", metric(b->min_entropy));
    cJSON_AddItemToObject(o, "max_prob", metric(b->max_prob));
    cJSON *control = metric(b->control);
    cJSON_AddNumberToObject(control, "pseudo_fixed", b->pseudo_fixed);
    cJSON_AddNumberToObject(control, "pseudo_oracle", b->pseudo_oracle);
    cJSON_AddItemToObject(o, "selection_control", control);
}

static cJSON *budget_json(const duo_oracle_budget_summary *b, int layers)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "k", b->k);
    cJSON_AddNumberToObject(o, "patterns", b->patterns);
    cJSON_AddItemToObject(o, "oracle", metric(b->oracle));
    cJSON *fixed = metric(b->fixed);
    cJSON_AddStringToObject(fixed, "pattern", b->fixed_pattern);
    cJSON_AddNumberToObject(fixed, "flop_fraction", b->fixed_flop_fraction);
    cJSON_AddItemToObject(o, "fixed", fixed);
    cJSON *random = metric(b->random);
    cJSON_AddStringToObject(random, "pattern", b->random_pattern);
    cJSON_AddItemToObject(o, "random", random);
    cJSON_AddItemToObject(o, "mean_all", metric(b->mean_all));
    select_json(o, b);
    cJSON *per_layer = cJSON_AddArrayToObject(o, "big_per_layer");
    cJSON *buckets = cJSON_AddArrayToObject(o, "big_per_layer_bucket");
    for (int l = 0; l < layers; l++) {
        cJSON_AddItemToArray(per_layer, cJSON_CreateNumber(b->big_per_layer[l]));
        cJSON *row = cJSON_CreateArray();
        for (int q = 0; q < DUO_ORACLE_BUCKETS; q++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber(b->big_per_layer_bucket[l][q]));
        cJSON_AddItemToArray(buckets, row);
    }
    return o;
}

static cJSON *varying_json(const duo_oracle_varying *v)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "from", v->from);
    cJSON_AddNumberToObject(o, "to", v->to);
    cJSON_AddNumberToObject(o, "mean_budget", v->mean_budget);
    cJSON_AddItemToObject(o, "oracle_varying", metric(v->varying));
    cJSON_AddNumberToObject(o, "constant_budget", v->constant_budget);
    if (v->has_constant)
        cJSON_AddItemToObject(o, "oracle_constant", metric(v->constant));
    return o;
}

static duo_status write_result(const char *path, const char *run_dir, const duo_oracle_summary *s)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "run", run_dir);
    cJSON_AddStringToObject(root, "checkpoint", s->checkpoint);
    cJSON_AddStringToObject(root, "alphabet", duo_alphabet_name(s->alphabet));
    cJSON_AddNumberToObject(root, "random_n", s->random_n);
    cJSON_AddNumberToObject(root, "layers", s->layers);
    cJSON_AddNumberToObject(root, "ctx", s->ctx);
    cJSON_AddStringToObject(root, "device", s->device);
    cJSON *domains = cJSON_AddObjectToObject(root, "domains");
    for (int d = 0; d < s->n_domains; d++) {
        const duo_oracle_domain_summary *r = &s->domain[d];
        cJSON *dj = cJSON_AddObjectToObject(domains, r->name);
        cJSON_AddNumberToObject(dj, "tokens", (double)r->tokens);
        cJSON_AddNumberToObject(dj, "bytes", (double)r->bytes);
        cJSON_AddItemToObject(dj, "all_small", metric(r->all_small));
        cJSON_AddItemToObject(dj, "all_big", metric(r->all_big));
        cJSON_AddNumberToObject(dj, "pseudo_temperature", r->pseudo_temperature);
        cJSON *budgets = cJSON_AddArrayToObject(dj, "budgets");
        for (int k = 0; k <= s->layers; k++)
            if (r->searched[k])
                cJSON_AddItemToArray(budgets, budget_json(&r->budget[k], s->layers));
        if (r->has_varying)
            cJSON_AddItemToObject(dj, "varying_budget", varying_json(&r->varying));
    }
    cJSON_AddNumberToObject(root, "layer_evals", (double)s->layer_evals);
    cJSON_AddNumberToObject(root, "naive_layer_evals", (double)s->naive_layer_evals);
    duo_status st = duo_write_json_file(path, "result file", root, false);
    cJSON_Delete(root);
    return st;
}

/* ---- RUN/oracle_tokens.bin ---- */

/* The per-token file of the searched domains, through its writer. */
static duo_status write_tokens(const char *path, const duo_eval_data *data,
                               const duo_oracle_result *results, const size_t *n_windows, int layers)
{
    duo_token_domain domains[DUO_CONFIG_MAX_DOMAINS];
    memset(domains, 0, sizeof domains);
    for (int d = 0; d < data->n_domains; d++) {
        const duo_oracle_result *r = &results[d];
        duo_token_domain *t = &domains[d];
        snprintf(t->name, sizeof t->name, "%s", data->domain[d].name);
        t->n_windows = n_windows[d];
        t->tokens = r->tokens;
        t->windows = data->domain[d].tokens;
        t->loss_small = r->loss_small;
        t->loss_big = r->loss_big;
        for (int k = 0; k <= layers; k++)
            if (r->searched[k]) {
                t->searched |= 1u << k;
                t->loss_oracle[k] = r->loss_oracle[k];
                t->big_mask[k] = r->oracle_big_mask[k];
            }
    }
    duo_token_file f = {.layers = layers, .ctx = data->ctx, .n_domains = data->n_domains,
                        .domain = domains};
    return duo_token_file_write(path, &f);
}

/* ---- the stage ---- */

typedef struct stage {
    const duo_oracle_options *o;
    duo_oracle_event event; /* the domain being searched */
} stage;

/* Under MPI only rank 0 reports (the others' searches are parts of its). */
static void emit(const stage *s, duo_oracle_event_kind kind)
{
    if (!s->o->callback || !duo_spread_root())
        return;
    duo_oracle_event e = s->event;
    e.kind = kind;
    s->o->callback(&e, s->o->user);
}

static void patterns_done(void *context, uint64_t done, uint64_t total)
{
    stage *s = context;
    s->event.done = done;
    s->event.total = total;
    emit(s, DUO_ORACLE_EVENT_PATTERNS);
}

/* The search options for a run of L layers, or the error for budgets above L. */
static duo_status search_options(const duo_oracle_options *o, int L, stage *s,
                                 duo_oracle_search_options *out, int *k0, int *k1)
{
    *k0 = o->vary ? o->vary_from : (int)lround(L / 2.0);
    *k1 = o->vary ? o->vary_to : (int)lround(L / 6.0);
    if ((L < 63 && o->budgets >> (L + 1)) || *k0 < 0 || *k0 > L || *k1 < 0 || *k1 > L)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "--budgets/--vary: allowed budgets are 0 to %d (L)",
                        L);
    *out = (duo_oracle_search_options){
        .alphabet = o->alphabet, .random_n = o->random_n ? o->random_n : DUO_ORACLE_DEFAULT_RANDOM,
        .random_seed = ORACLE_RANDOM_SEED, .share_prefixes = !o->no_prefix_sharing,
        .progress = patterns_done, .progress_context = s, .stop = o->stop};
    for (int k = 0; k <= L && k <= DUO_MAX_LAYERS; k++)
        out->budgets[k] = o->budgets == 0 || (o->budgets >> k & 1);
    return DUO_OK;
}

static duo_status search_run(duo_runtime *rt, duo_run *run, const duo_oracle_options *o,
                             duo_oracle_summary *out)
{
    const duo_model_config *mc = &run->config.model;
    int L = mc->n_layers, k0, k1;
    stage s = {.o = o};
    duo_oracle_search_options so;
    DUO_TRY(search_options(o, L, &s, &so, &k0, &k1));
    size_t batch = o->batch ? o->batch : (size_t)run->config.train.batch;
    if (batch < 1)
        batch = 1;
    const duo_eval_data *data = run->data;
    size_t ctx = (size_t)data->ctx;
    snprintf(out->checkpoint, sizeof out->checkpoint, "%s", run->checkpoint);
    snprintf(out->device, sizeof out->device, "%s", duo_runtime_device(rt)->name);
    out->alphabet = so.alphabet;
    out->random_n = so.random_n;
    out->layers = L;
    out->ctx = (int)ctx;

    /* About 80 KB each: on the heap. */
    duo_oracle_result *results = calloc(DUO_CONFIG_MAX_DOMAINS, sizeof *results);
    size_t n_windows[DUO_CONFIG_MAX_DOMAINS];
    duo_status st = results ? DUO_OK : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the oracle");
    /* Under MPI each domain's batches are cut into one range per rank
     * (study/spread.h) and gathered on rank 0 (per domain, not over all
     * domains at once: each domain ends with a gather, so ranks holding other
     * domains would only wait their turn). */
    for (int d = 0; d < data->n_domains; d++)
        n_windows[d] = (data->domain[d].targets + ctx - 1) / ctx;
    int searched = 0;
    for (int d = 0; d < data->n_domains && st == DUO_OK; d++) {
        const duo_eval_domain *dom = &data->domain[d];
        size_t n_batches = duo_oracle_batches(n_windows[d], batch);
        duo_spread part = duo_spread_part(0, n_batches, n_batches);
        s.event = (duo_oracle_event){.index = d, .n_domains = data->n_domains, .name = dom->name};
        emit(&s, DUO_ORACLE_EVENT_DOMAIN_START);
        st = duo_oracle_search_spread(run->model, dom->tokens, n_windows[d], ctx, batch, &so, part,
                                      &results[d]);
        if (st != DUO_OK)
            break;
        searched = d + 1;
        if (!duo_spread_root())
            continue; /* rank 0 alone has the domain's results */
        const duo_oracle_result *r = &results[d];
        /* Bytes of the scored tokens: the domain's bytes per target times tokens. */
        uint64_t bytes = (uint64_t)llround((double)dom->bytes / (double)dom->targets * (double)r->tokens);
        duo_oracle_domain_summary *ds = &out->domain[d];
        snprintf(ds->name, sizeof ds->name, "%s", dom->name);
        summarise(r, mc, bytes, ds);
        ds->has_varying = varying(r, k0, k1, ctx, bytes, &ds->varying);
        out->n_domains = d + 1;
        out->layer_evals += r->counts.layer_evals;
        out->naive_layer_evals += r->counts.naive_layer_evals;
        s.event.domain = ds;
        emit(&s, DUO_ORACLE_EVENT_DOMAIN_DONE);
    }
    bool failed = st != DUO_OK; /* on every rank alike (the searches agree) */
    if (st == DUO_OK) {
        s.event = (duo_oracle_event){.n_domains = out->n_domains, .summary = out};
        emit(&s, DUO_ORACLE_EVENT_SEARCHED);
        st = duo_run_path(run->dir, DUO_RUN_ORACLE_TOKENS, out->tokens_path, sizeof out->tokens_path);
    }
    if (st == DUO_OK)
        st = duo_run_path(run->dir, DUO_RUN_ORACLE, out->path, sizeof out->path);
    /* Rank 0 writes; every rank then returns its summary and status. */
    if (st == DUO_OK && duo_spread_root())
        st = write_tokens(out->tokens_path, data, results, n_windows, L);
    if (st == DUO_OK && duo_spread_root())
        st = write_result(out->path, run->dir, out);
    for (int d = 0; d < searched; d++)
        duo_oracle_result_free(&results[d]);
    free(results);
    return failed ? st : duo_spread_share_result(st, out, sizeof *out);
}

duo_status duo_oracle_run(duo_runtime *rt, const duo_oracle_options *o, duo_oracle_summary *out)
{
    if (!o || !out || !o->run_dir)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_oracle_run: options with run_dir, and a "
                        "summary, must be given");
    if (o->random_n < 0 || (unsigned)o->alphabet > DUO_ALPHABET_KSB)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_oracle_run: random_n %d (allowed >= 1, 0: "
                        "%d) or alphabet %d (allowed SB, KB, KSB) is out of range", o->random_n,
                        DUO_ORACLE_DEFAULT_RANDOM, (int)o->alphabet);
    memset(out, 0, sizeof *out);
    size_t tokens = o->tokens ? o->tokens : DUO_ORACLE_DEFAULT_TOKENS;
    duo_run run;
    duo_status st = rt ? duo_run_open_on(rt, o->run_dir, o->checkpoint, tokens, o->domains, &run)
                       : duo_run_open(o->run_dir, o->checkpoint, o->device, tokens, o->domains, &run);
    if (st == DUO_OK)
        st = search_run(rt ? rt : run.rt, &run, o, out);
    duo_run_close(&run);
    return st;
}
