/* The oracle: exhaustive search over route patterns with prefix sharing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "oracle.h"
#include "base/comm.h"
#include "base/rng.h"
#include "spread.h"

const char *duo_alphabet_name(duo_alphabet alphabet)
{
    switch (alphabet) {
    case DUO_ALPHABET_SB: return "SB";
    case DUO_ALPHABET_KB: return "KB";
    case DUO_ALPHABET_KSB: return "KSB";
    }
    return "?";
}

bool duo_alphabet_parse(const char *text, duo_alphabet *out)
{
    static const duo_alphabet all[] = {DUO_ALPHABET_SB, DUO_ALPHABET_KB, DUO_ALPHABET_KSB};
    for (int i = 0; i < 3; i++)
        if (strcmp(text, duo_alphabet_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    return false;
}

/* The route ids an alphabet allows, in visiting order. */
static int alphabet_letters(duo_alphabet alphabet, uint8_t letters[3])
{
    int n = 0;
    if (alphabet != DUO_ALPHABET_SB)
        letters[n++] = DUO_ROUTE_SKIP;
    if (alphabet != DUO_ALPHABET_KB)
        letters[n++] = DUO_ROUTE_SMALL;
    letters[n++] = DUO_ROUTE_BIG;
    return n;
}

static uint64_t binomial(int n, int k)
{
    if (k < 0 || k > n)
        return 0;
    uint64_t r = 1;
    for (int i = 1; i <= k; i++)
        r = r * (uint64_t)(n - k + i) / (uint64_t)i;
    return r;
}

uint64_t duo_pattern_count(duo_alphabet alphabet, int layers, int k)
{
    uint64_t others = alphabet == DUO_ALPHABET_KSB ? 2 : 1;
    uint64_t r = binomial(layers, k);
    for (int i = 0; i < layers - k; i++)
        r *= others;
    return r;
}

typedef struct search {
    duo_model *m;
    duo_activations *a;
    uint8_t letters[3];
    int n_letters, layers;
    const bool *budgets;
    bool share;
    duo_pattern_visitor visit;
    void *context;
    uint8_t pattern[DUO_MAX_LAYERS];
    float *losses;
    duo_search_counts *counts;
} search;

/* Can a prefix with `big` BIG layers and `remaining` layers to go still end
 * on a wanted budget? */
static bool reachable(const search *s, int big, int remaining)
{
    if (!s->budgets)
        return true;
    for (int k = big; k <= big + remaining; k++)
        if (s->budgets[k])
            return true;
    return false;
}

static duo_status run_layer(search *s, int l)
{
    DUO_TRY(duo_model_set_layer_route(s->m, s->a, l, (duo_route)s->pattern[l]));
    s->counts->layer_evals++;
    return duo_model_forward_layer(s->m, s->a, l);
}

static duo_status descend(search *s, int l, int big)
{
    if (l == s->layers) {
        if (!s->budgets || s->budgets[big]) {
            if (!s->share) {
                DUO_TRY(duo_model_forward_embed(s->m, s->a));
                for (int j = 0; j < s->layers; j++)
                    DUO_TRY(run_layer(s, j));
            }
            float mean;
            DUO_TRY(duo_model_forward_head(s->m, s->a, &mean, s->losses));
            s->counts->patterns++;
            s->counts->naive_layer_evals += (uint64_t)s->layers;
            return s->visit(s->context, s->pattern, big, s->losses);
        }
        return DUO_OK;
    }
    for (int i = 0; i < s->n_letters; i++) {
        uint8_t r = s->letters[i];
        int b = big + (r == DUO_ROUTE_BIG);
        if (!reachable(s, b, s->layers - l - 1))
            continue;
        s->pattern[l] = r;
        if (s->share)
            DUO_TRY(run_layer(s, l));
        DUO_TRY(descend(s, l + 1, b));
    }
    return DUO_OK;
}

duo_status duo_search_patterns(duo_model *m, duo_activations *a, duo_alphabet alphabet,
                               const bool *budgets, bool share_prefixes, duo_pattern_visitor visit,
                               void *context, duo_search_counts *counts)
{
    search s = {.m = m, .a = a, .layers = m->config.n_layers, .budgets = budgets,
                .share = share_prefixes, .visit = visit, .context = context, .counts = counts};
    s.n_letters = alphabet_letters(alphabet, s.letters);
    s.losses = malloc(duo_activations_tokens(a) * sizeof(float));
    if (!s.losses)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the oracle's losses");
    duo_status st = share_prefixes ? duo_model_forward_embed(m, a) : DUO_OK;
    if (st == DUO_OK)
        st = descend(&s, 0, 0);
    free(s.losses);
    return st;
}

/* ---- accumulation over windows ---- */

/* What one batch gave one pattern, in visiting order: batch b's entries are
 * table[b * per_batch ..]. The sums over batches are made from this table
 * in batch order once every batch is done, so a search spread over ranks
 * (whose tables come to rank 0, study/spread.h) adds the same numbers in the
 * same order as one process. A per-pattern quantity summed over windows
 * belongs here. */
typedef struct pattern_batch {
    double loss_sum;
    double pseudo_sum; /* losses on the pseudo-labels (oracle_select.h) */
    uint32_t id; /* the pattern (pattern_id) */
} pattern_batch;

typedef struct accumulator {
    duo_oracle_result *r;
    const duo_oracle_search_options *o;
    int layers;
    size_t base, n, ctx;      /* this batch's first token and token count */
    pattern_batch *table;     /* (batches, per_batch) */
    size_t per_batch, batch_index, visit; /* the batch being searched, patterns visited in it */
    double *pattern_sum;      /* by pattern id (base-3 number of the pattern) */
    bool *pattern_seen;
    uint64_t done, total;
    /* The label-free selectors and the control (oracle_select.h). */
    duo_model *m;
    duo_activations *a;
    duo_select_device sel;
    double *pattern_pseudo_sum; /* by pattern id */
} accumulator;

static size_t pattern_id(const uint8_t *pattern, int layers)
{
    size_t id = 0;
    for (int l = 0; l < layers; l++)
        id = id * 3 + pattern[l];
    return id;
}

static uint32_t big_mask(const uint8_t *pattern, int layers)
{
    uint32_t mask = 0;
    for (int l = 0; l < layers; l++)
        if (pattern[l] == DUO_ROUTE_BIG)
            mask |= 1u << l;
    return mask;
}

/* The selectors' share of a pattern's visit: its entropy, max-prob and
 * pseudo-label losses (the logits of this pattern are still the
 * activations'), and the sum of its pseudo-label losses. */
static duo_status select_visit(accumulator *acc, int big, const float *losses, double *pseudo_sum)
{
    DUO_TRY(duo_select_read_stats(acc->m, acc->a, &acc->sel));
    *pseudo_sum = duo_select_visit(&acc->r->select[big], acc->base, acc->n, losses,
                                   acc->sel.h_entropy, acc->sel.h_max_prob,
                                   acc->sel.h_pseudo_losses);
    return DUO_OK;
}

static duo_status accumulate(void *context, const uint8_t *pattern, int big, const float *losses)
{
    accumulator *acc = context;
    duo_oracle_result *r = acc->r;
    size_t id = pattern_id(pattern, acc->layers);
    uint32_t mask = big_mask(pattern, acc->layers);
    double sum = 0;
    float *best = r->loss_oracle[big] + acc->base;
    uint32_t *choice = r->oracle_big_mask[big] + acc->base;
    for (size_t i = 0; i < acc->n; i++) {
        sum += losses[i];
        /* Strictly lower: ties keep the earlier pattern (fewer big layers early). */
        if (losses[i] < best[i]) {
            best[i] = losses[i];
            choice[i] = mask;
        }
    }
    if (acc->visit >= acc->per_batch)
        return duo_fail(DUO_ERR_INTERNAL, "the oracle visited more than the %zu patterns it counted",
                        acc->per_batch);
    double pseudo_sum;
    DUO_TRY(select_visit(acc, big, losses, &pseudo_sum));
    acc->table[acc->batch_index * acc->per_batch + acc->visit++] =
        (pattern_batch){.loss_sum = sum, .pseudo_sum = pseudo_sum, .id = (uint32_t)id};
    acc->done++;
    if (acc->o->stop && *acc->o->stop)
        return duo_fail(DUO_ERR_INTERRUPTED, "the oracle was stopped after %llu of %llu patterns",
                        (unsigned long long)acc->done, (unsigned long long)acc->total);
    if (acc->o->progress)
        acc->o->progress(acc->o->progress_context, acc->done, acc->total);
    return DUO_OK;
}

static void pattern_string(size_t id, int layers, char *out)
{
    for (int l = layers - 1; l >= 0; l--) {
        out[l] = duo_route_letter((duo_route)(id % 3));
        id /= 3;
    }
    out[layers] = '\0';
}

static int pattern_big(size_t id, int layers)
{
    int big = 0;
    for (int l = 0; l < layers; l++, id /= 3)
        big += id % 3 == DUO_ROUTE_BIG;
    return big;
}

/* fixed, mean, random-N and where BIG goes, once every window is done. */
static void summarise(accumulator *acc, size_t n_patterns)
{
    duo_oracle_result *r = acc->r;
    const duo_oracle_search_options *o = acc->o;
    double tokens = (double)r->tokens;
    size_t *ids = malloc(n_patterns * sizeof *ids);
    for (int k = 0; k <= acc->layers; k++) {
        if (!r->searched[k] || !ids)
            continue;
        duo_budget_result *b = &r->budget[k];
        size_t count = 0;
        double total = 0, best = INFINITY;
        for (size_t id = 0; id < n_patterns; id++) {
            if (!acc->pattern_seen[id] || pattern_big(id, acc->layers) != k)
                continue;
            ids[count++] = id;
            double mean = acc->pattern_sum[id] / tokens;
            total += mean;
            if (mean < best) {
                best = mean;
                pattern_string(id, acc->layers, b->fixed_pattern);
            }
        }
        b->patterns = (int)count;
        b->fixed = best;
        b->mean_all = count ? total / (double)count : NAN;
        duo_rng rng = duo_rng_seeded(o->random_seed + (uint64_t)k);
        b->random_best = INFINITY;
        for (int i = 0; i < o->random_n && count; i++) {
            size_t id = ids[duo_rng_below(&rng, count)];
            double mean = acc->pattern_sum[id] / tokens;
            if (mean < b->random_best) {
                b->random_best = mean;
                pattern_string(id, acc->layers, b->random_pattern);
            }
        }
        double oracle = 0;
        for (size_t t = 0; t < r->tokens; t++) {
            oracle += r->loss_oracle[k][t];
            size_t bucket = (t % acc->ctx) * DUO_ORACLE_BUCKETS / acc->ctx;
            b->tokens_per_bucket[bucket]++;
            for (int l = 0; l < acc->layers; l++)
                if (r->oracle_big_mask[k][t] >> l & 1) {
                    b->big_per_layer[l]++;
                    b->big_per_layer_bucket[l][bucket]++;
                }
        }
        b->oracle = oracle / tokens;
    }
    free(ids);
}

/* The selectors and the control per budget, once every window is done: the
 * best fixed pattern on the pseudo-labels and the per-token means. */
static void summarise_select(accumulator *acc, size_t n_patterns)
{
    duo_oracle_result *r = acc->r;
    double temperature = 0;
    for (size_t t = 0; t < r->tokens; t++)
        temperature += r->pseudo_temperature[t];
    r->pseudo_temperature_mean = temperature / (double)r->tokens;
    for (int k = 0; k <= acc->layers; k++) {
        if (!r->searched[k])
            continue;
        duo_budget_result *b = &r->budget[k];
        b->pseudo_fixed = INFINITY;
        for (size_t id = 0; id < n_patterns; id++)
            if (acc->pattern_seen[id] && pattern_big(id, acc->layers) == k &&
                acc->pattern_pseudo_sum[id] / (double)r->tokens < b->pseudo_fixed)
                b->pseudo_fixed = acc->pattern_pseudo_sum[id] / (double)r->tokens;
        duo_select_means(&r->select[k], r->tokens, &b->min_entropy, &b->max_prob,
                         &b->pseudo_oracle);
    }
}

static duo_status allocate_result(duo_oracle_result *r, size_t tokens, int layers)
{
    r->loss_small = malloc(tokens * sizeof(float));
    r->loss_big = malloc(tokens * sizeof(float));
    if (!r->loss_small || !r->loss_big)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for per-token losses");
    for (int k = 0; k <= layers; k++) {
        if (!r->searched[k])
            continue;
        r->loss_oracle[k] = malloc(tokens * sizeof(float));
        r->oracle_big_mask[k] = calloc(tokens, sizeof(uint32_t));
        if (!r->loss_oracle[k] || !r->oracle_big_mask[k])
            return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for per-token losses");
        for (size_t t = 0; t < tokens; t++)
            r->loss_oracle[k][t] = INFINITY;
        DUO_TRY(duo_select_budget_alloc(&r->select[k], tokens));
    }
    r->pseudo_target = malloc(tokens * sizeof *r->pseudo_target);
    r->pseudo_temperature = malloc(tokens * sizeof *r->pseudo_temperature);
    if (!r->pseudo_target || !r->pseudo_temperature)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for per-token losses");
    return DUO_OK;
}

/* Per-token losses with every layer on one route. */
static duo_status uniform_losses(duo_model *m, duo_activations *a, duo_route route, float *out)
{
    for (int l = 0; l < m->config.n_layers; l++)
        DUO_TRY(duo_model_set_layer_route(m, a, l, route));
    float mean;
    return duo_model_forward(m, a, &mean, out);
}

/* Batches part.first .. of the windows (batch b is windows [b * batch, ..)). */
static duo_status run_batches(duo_model *m, duo_activations *a, const int32_t *windows,
                              size_t n_windows, size_t ctx, size_t batch, duo_spread part,
                              accumulator *acc)
{
    duo_oracle_result *r = acc->r;
    size_t N = batch * ctx, L = (size_t)m->config.n_layers;
    int32_t *tokens = calloc(N, sizeof *tokens), *targets = calloc(N, sizeof *targets);
    uint8_t *routes = calloc(L * N, 1);
    float *losses = malloc(N * sizeof *losses);
    duo_status st = tokens && targets && routes && losses
                        ? DUO_OK
                        : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for oracle batches");
    for (size_t w0 = part.first * batch; w0 < (part.first + part.count) * batch && w0 < n_windows &&
                                         st == DUO_OK;
         w0 += batch) {
        acc->batch_index = w0 / batch;
        acc->visit = 0;
        size_t used = n_windows - w0 < batch ? n_windows - w0 : batch;
        for (size_t b = 0; b < batch; b++)
            for (size_t t = 0; t < ctx; t++) {
                /* Pad a last short batch with copies of its first window, masked. */
                const int32_t *w = windows + (w0 + (b < used ? b : 0)) * (ctx + 1);
                tokens[b * ctx + t] = w[t];
                targets[b * ctx + t] = b < used ? w[t + 1] : -1;
            }
        acc->base = w0 * ctx;
        acc->n = used * ctx;
        if ((st = duo_model_set_batch(m, a, tokens, targets, routes)) != DUO_OK ||
            (st = uniform_losses(m, a, DUO_ROUTE_SMALL, losses)) != DUO_OK)
            break;
        memcpy(r->loss_small + acc->base, losses, acc->n * sizeof *losses);
        if ((st = uniform_losses(m, a, DUO_ROUTE_BIG, losses)) != DUO_OK)
            break;
        memcpy(r->loss_big + acc->base, losses, acc->n * sizeof *losses);
        /* All-big's logits are the activations': the batch's pseudo-labels. */
        if ((st = duo_select_set_pseudo(m, a, &acc->sel, targets, acc->base,
                                        DUO_SELECT_PSEUDO_SEED)) != DUO_OK)
            break;
        memcpy(r->pseudo_target + acc->base, acc->sel.pseudo, acc->n * sizeof *acc->sel.pseudo);
        for (size_t i = 0; i < acc->n; i++)
            r->pseudo_temperature[acc->base + i] = (float)acc->sel.temperature;
        st = duo_search_patterns(m, a, acc->o->alphabet, r->searched, acc->o->share_prefixes,
                                 accumulate, acc, &r->counts);
    }
    free(tokens);
    free(targets);
    free(routes);
    free(losses);
    return st;
}

/* The per-token arrays of a result (every one has r->tokens elements): a
 * spread search gathers each of them. A new per-token array goes here. */
typedef struct token_array {
    void *data;
    size_t elem;
} token_array;

static int token_arrays(duo_oracle_result *r, token_array *out)
{
    int n = 0;
    out[n++] = (token_array){r->loss_small, sizeof *r->loss_small};
    out[n++] = (token_array){r->loss_big, sizeof *r->loss_big};
    for (int k = 0; k <= r->layers; k++)
        if (r->searched[k]) {
            out[n++] = (token_array){r->loss_oracle[k], sizeof *r->loss_oracle[k]};
            out[n++] = (token_array){r->oracle_big_mask[k], sizeof *r->oracle_big_mask[k]};
            out[n++] = (token_array){r->select[k].loss_min_entropy, sizeof(float)};
            out[n++] = (token_array){r->select[k].loss_max_prob, sizeof(float)};
            out[n++] = (token_array){r->select[k].pseudo_min, sizeof(float)};
        }
    out[n++] = (token_array){r->pseudo_target, sizeof *r->pseudo_target};
    out[n++] = (token_array){r->pseudo_temperature, sizeof *r->pseudo_temperature};
    return n;
}

/* Every rank's batches, tokens and counts to rank 0 (collective). */
static duo_status gather_ranks(accumulator *acc, size_t n_windows, size_t ctx, size_t batch,
                               duo_spread part)
{
    duo_oracle_result *r = acc->r;
    size_t w0 = part.first * batch, w1 = (part.first + part.count) * batch;
    if (w1 > n_windows)
        w1 = n_windows;
    duo_spread tokens = part.count ? (duo_spread){w0 * ctx, (w1 - w0) * ctx} : (duo_spread){0, 0};
    token_array arrays[4 + 5 * (DUO_MAX_LAYERS + 1)];
    int n = token_arrays(r, arrays);
    for (int i = 0; i < n; i++)
        DUO_TRY(duo_spread_gather(arrays[i].data, arrays[i].elem, tokens));
    DUO_TRY(duo_spread_gather(acc->table, acc->per_batch * sizeof *acc->table, part));
    long long counts[3] = {(long long)r->counts.patterns, (long long)r->counts.layer_evals,
                           (long long)r->counts.naive_layer_evals};
    DUO_TRY(duo_comm_sum_longs(counts, 3));
    r->counts = (duo_search_counts){(uint64_t)counts[0], (uint64_t)counts[1], (uint64_t)counts[2]};
    return DUO_OK;
}

/* The per-pattern sums over batches 0 .. n_batches-1, in batch order. */
static void add_batches(accumulator *acc, size_t n_batches)
{
    for (size_t b = 0; b < n_batches; b++)
        for (size_t j = 0; j < acc->per_batch; j++) {
            const pattern_batch *e = &acc->table[b * acc->per_batch + j];
            acc->pattern_sum[e->id] += e->loss_sum;
            acc->pattern_pseudo_sum[e->id] += e->pseudo_sum;
            acc->pattern_seen[e->id] = true;
        }
}

/* The search of batches `part` of the windows; with spread, the ranks'
 * results are gathered and reduced on rank 0 (the only one with a complete
 * result). */
static duo_status search_windows(duo_model *m, const int32_t *windows, size_t n_windows,
                                 size_t ctx, size_t batch, const duo_oracle_search_options *options,
                                 duo_spread part, bool spread, duo_oracle_result *out)
{
    memset(out, 0, sizeof *out);
    int L = m->config.n_layers;
    if (L > DUO_ORACLE_MAX_LAYERS)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "the oracle searches models of at most %d layers; this one has %d",
                        DUO_ORACLE_MAX_LAYERS, L);
    if (n_windows == 0 || batch == 0)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "the oracle needs at least one window");
    out->layers = L;
    out->tokens = n_windows * ctx;
    uint64_t per_batch = 0;
    for (int k = 0; k <= L; k++) {
        out->searched[k] = options->budgets[k];
        if (out->searched[k])
            per_batch += duo_pattern_count(options->alphabet, L, k);
    }
    if (per_batch == 0)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "no budget between 0 and %d was asked for", L);
    size_t n_patterns = 1;
    for (int l = 0; l < L; l++)
        n_patterns *= 3;
    size_t n_batches = duo_oracle_batches(n_windows, batch);
    accumulator acc = {.r = out, .o = options, .layers = L, .ctx = ctx,
                       .per_batch = (size_t)per_batch, .total = per_batch * part.count};
    acc.table = calloc(n_batches * (size_t)per_batch, sizeof *acc.table);
    acc.pattern_sum = calloc(n_patterns, sizeof *acc.pattern_sum);
    acc.pattern_seen = calloc(n_patterns, sizeof *acc.pattern_seen);
    acc.pattern_pseudo_sum = calloc(n_patterns, sizeof *acc.pattern_pseudo_sum);
    duo_activations *a = NULL;
    duo_status st = acc.table && acc.pattern_sum && acc.pattern_seen && acc.pattern_pseudo_sum
                        ? allocate_result(out, out->tokens, L)
                        : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the oracle");
    if (st == DUO_OK && part.count)
        st = duo_activations_create(m, batch, ctx, false, &a);
    acc.m = m;
    acc.a = a;
    if (st == DUO_OK && a)
        st = duo_select_device_create(m, a, &acc.sel);
    if (st == DUO_OK)
        st = run_batches(m, a, windows, n_windows, ctx, batch, part, &acc);
    if (spread) {
        st = duo_spread_agree(st);
        if (st == DUO_OK)
            st = gather_ranks(&acc, n_windows, ctx, batch, part);
    }
    if (st == DUO_OK && (!spread || duo_spread_root())) {
        add_batches(&acc, n_batches);
        double small = 0, big = 0;
        for (size_t t = 0; t < out->tokens; t++) {
            small += out->loss_small[t];
            big += out->loss_big[t];
        }
        out->all_small = small / (double)out->tokens;
        out->all_big = big / (double)out->tokens;
        summarise(&acc, n_patterns);
        summarise_select(&acc, n_patterns);
    }
    duo_select_device_destroy(&acc.sel);
    duo_activations_destroy(a);
    free(acc.pattern_pseudo_sum);
    free(acc.table);
    free(acc.pattern_sum);
    free(acc.pattern_seen);
    if (st != DUO_OK)
        duo_oracle_result_free(out);
    return st;
}

size_t duo_oracle_batches(size_t n_windows, size_t batch)
{
    return batch ? (n_windows + batch - 1) / batch : 0;
}

duo_status duo_oracle_search(duo_model *m, const int32_t *windows, size_t n_windows, size_t ctx,
                             size_t batch, const duo_oracle_search_options *options,
                             duo_oracle_result *out)
{
    return search_windows(m, windows, n_windows, ctx, batch, options,
                          duo_spread_all(duo_oracle_batches(n_windows, batch)), false, out);
}

duo_status duo_oracle_search_spread(duo_model *m, const int32_t *windows, size_t n_windows,
                                    size_t ctx, size_t batch, const duo_oracle_search_options *options,
                                    duo_spread part, duo_oracle_result *out)
{
    return search_windows(m, windows, n_windows, ctx, batch, options, part, true, out);
}

void duo_oracle_result_free(duo_oracle_result *r)
{
    free(r->loss_small);
    free(r->loss_big);
    r->loss_small = r->loss_big = NULL;
    for (int k = 0; k <= DUO_MAX_LAYERS; k++) {
        free(r->loss_oracle[k]);
        free(r->oracle_big_mask[k]);
        r->loss_oracle[k] = NULL;
        r->oracle_big_mask[k] = NULL;
        duo_select_budget_free(&r->select[k]);
    }
    free(r->pseudo_target);
    free(r->pseudo_temperature);
    r->pseudo_target = NULL;
    r->pseudo_temperature = NULL;
}
