/* The training data loader: random windows from several domains' shards,
 * mixed by weight, from a counter-based stream (see include/duocl/data.h). */
#include <stdlib.h>
#include <string.h>

#include "duocl/data.h"
#include "base/error.h"
#include "base/rng.h"

struct duo_loader {
    int n;              /* domains given */
    int ctx;
    duo_shard **shards; /* n; NULL where the weight is 0 */
    double *cumulative; /* n: running sum of normalised weights, last = 1 */
    duo_loader_state state;
};

void duo_loader_destroy(duo_loader *loader)
{
    if (!loader)
        return;
    for (int i = 0; i < loader->n; i++)
        duo_shard_close(loader->shards[i]);
    free(loader->shards);
    free(loader->cumulative);
    free(loader);
}

duo_status duo_loader_create(const char *dir, const char *const *domains, const double *weights,
                             int n, uint32_t vocab, int ctx, uint64_t seed, duo_loader **out)
{
    *out = NULL;
    if (n <= 0 || ctx <= 0)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "loader: needs at least one domain and ctx > 0 (got %d, %d)",
                        n, ctx);
    double total = 0;
    for (int i = 0; i < n; i++) {
        if (!(weights[i] >= 0))
            return duo_fail(DUO_ERR_INVALID_ARGUMENT, "loader: domain '%s' has weight %g; weights must be >= 0",
                            domains[i], weights[i]);
        total += weights[i];
    }
    if (!(total > 0))
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "loader: every domain weight is 0");
    duo_loader *l = calloc(1, sizeof *l);
    if (!l)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "loader: out of memory");
    l->n = n;
    l->ctx = ctx;
    l->state.seed = seed;
    l->shards = calloc((size_t)n, sizeof *l->shards);
    l->cumulative = calloc((size_t)n, sizeof *l->cumulative);
    if (!l->shards || !l->cumulative) {
        duo_loader_destroy(l);
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "loader: out of memory");
    }
    double sum = 0;
    for (int i = 0; i < n; i++) {
        sum += weights[i];
        l->cumulative[i] = sum / total;
        if (weights[i] == 0)
            continue;
        char path[4096];
        duo_status st = duo_shard_filename(dir, domains[i], "train", path, sizeof path);
        if (st == DUO_OK)
            st = duo_shard_open(path, vocab, 0, &l->shards[i]);
        if (st == DUO_OK && duo_shard_get_info(l->shards[i])->tokens < (uint64_t)ctx + 1)
            st = duo_fail(DUO_ERR_FORMAT, "shard '%s' has %llu tokens, fewer than one window of %d",
                          path, (unsigned long long)duo_shard_get_info(l->shards[i])->tokens, ctx + 1);
        if (st != DUO_OK) {
            duo_loader_destroy(l);
            return st;
        }
    }
    l->cumulative[n - 1] = 1.0;
    *out = l;
    return DUO_OK;
}

/* Window k: its own stream, seeded from (seed, k), so any window can be
 * recomputed without replaying the ones before it. */
static duo_status window(const duo_loader *l, uint64_t k, int32_t *tokens, int *domain)
{
    duo_rng rng = duo_rng_seeded(l->state.seed ^ duo_mix64(k + 0x6a09e667f3bcc909ULL));
    double u = (double)(duo_rng_next(&rng) >> 11) * (1.0 / 9007199254740992.0);
    int d = 0;
    while (d + 1 < l->n && (u >= l->cumulative[d] || !l->shards[d]))
        d++;
    while (!l->shards[d]) /* only reachable through rounding at the top end */
        d--;
    const duo_shard *s = l->shards[d];
    uint64_t starts = duo_shard_get_info(s)->tokens - (uint64_t)l->ctx; /* >= 1 */
    uint64_t start = duo_rng_below(&rng, starts);
    if (domain)
        *domain = d;
    return duo_shard_read(s, start, (size_t)l->ctx + 1, tokens);
}

duo_status duo_loader_next(duo_loader *loader, int batch, int32_t *tokens, int *domain)
{
    for (int b = 0; b < batch; b++) {
        DUO_TRY(window(loader, loader->state.next_window, tokens + (size_t)b * ((size_t)loader->ctx + 1),
                       domain ? domain + b : NULL));
        loader->state.next_window++;
    }
    return DUO_OK;
}

double duo_loader_bytes_per_token(const duo_loader *loader, int domain)
{
    if (domain < 0 || domain >= loader->n || !loader->shards[domain])
        return 0.0;
    return duo_shard_bytes_per_token(loader->shards[domain]);
}

void duo_loader_get_state(const duo_loader *loader, duo_loader_state *state) { *state = loader->state; }

void duo_loader_set_state(duo_loader *loader, const duo_loader_state *state) { loader->state = *state; }
