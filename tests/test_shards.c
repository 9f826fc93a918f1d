/* Token shards and the data loader: round-trips at both token widths, the
 * errors for damaged or mismatched shards, loader determinism, domain mixing
 * by weight, save/restore of the loader's state, fixed validation windows. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duocl/data.h"
#include "testutil.h"
#include "unitcheck.h"

static char tmpdir[256];

static void shard_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

/* Overwrites `n` bytes at `offset` of a file. */
static void patch(const char *path, long offset, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "r+b");
    fseek(f, offset, SEEK_SET);
    fwrite(bytes, 1, n, f);
    fclose(f);
}

static void shards_roundtrip_at_both_widths(void)
{
    uint32_t vocabs[] = {257, 65536, 70000};
    for (int v = 0; v < 3; v++) {
        char path[512];
        shard_path(path, sizeof path, "roundtrip.tok");
        size_t n = 1000;
        int32_t *tokens = malloc(n * sizeof *tokens), *back = malloc(n * sizeof *back);
        for (size_t i = 0; i < n; i++)
            tokens[i] = (int32_t)((i * 7919u) % vocabs[v]);
        tokens[n - 1] = (int32_t)vocabs[v] - 1;
        duo_shard *s;
        if (unit_ok("shard_write", duo_shard_write(path, tokens, n, vocabs[v], 3210, 0xabcdefULL)) &&
            unit_ok("shard_open", duo_shard_open(path, vocabs[v], 0xabcdefULL, &s))) {
            const duo_shard_info *info = duo_shard_get_info(s);
            unit_check("shard_header", info->vocab == vocabs[v] && info->tokens == n &&
                       info->text_bytes == 3210 && info->fingerprint == 0xabcdefULL && info->eot_id == 256 &&
                       info->token_width == (vocabs[v] <= 65536 ? 2u : 4u),
                       "vocab %u: header fields differ (width %u)", vocabs[v], info->token_width);
            unit_check("shard_bytes_per_token", duo_shard_bytes_per_token(s) == 3.21, "%g",
                       duo_shard_bytes_per_token(s));
            bool same = duo_shard_read(s, 0, n, back) == DUO_OK && memcmp(tokens, back, n * sizeof *back) == 0;
            unit_check("shard_tokens_roundtrip", same, "vocab %u: tokens differ", vocabs[v]);
            unit_fails("shard_read_past_end", duo_shard_read(s, n - 5, 10, back), DUO_ERR_INVALID_ARGUMENT,
                       path, NULL);
            duo_shard_close(s);
        }
        char tmp[600];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        unit_check("shard_write_leaves_no_temporary", access(tmp, F_OK) != 0, "%s exists", tmp);
        free(tokens);
        free(back);
    }
    char path[512];
    shard_path(path, sizeof path, "bad_token.tok");
    int32_t bad[] = {1, 2, 257};
    unit_fails("shard_write_rejects_token_outside_vocab", duo_shard_write(path, bad, 3, 257, 3, 0),
               DUO_ERR_INVALID_ARGUMENT, "token 2 is 257", NULL);
}

/* A valid 100-token shard (vocab 257) at path, ready to be damaged. */
static void good_shard(const char *path)
{
    int32_t tokens[100];
    for (int i = 0; i < 100; i++)
        tokens[i] = i % 10 == 9 ? 256 : 'a' + i % 26;
    duo_shard_write(path, tokens, 100, 257, 100, 0);
}

static void damaged_shards_give_named_errors(void)
{
    char path[512];
    duo_shard *s = NULL;
    shard_path(path, sizeof path, "truncated.tok");
    good_shard(path);
    if (truncate(path, 64 + 2 * 100 - 1) == 0)
        unit_fails("truncated_shard", duo_shard_open(path, 0, 0, &s), DUO_ERR_FORMAT, path, "truncated");
    if (truncate(path, 20) == 0)
        unit_fails("truncated_header", duo_shard_open(path, 0, 0, &s), DUO_ERR_FORMAT, path, "truncated");

    shard_path(path, sizeof path, "magic.tok");
    good_shard(path);
    patch(path, 0, "GGUF", 4);
    unit_fails("wrong_magic", duo_shard_open(path, 0, 0, &s), DUO_ERR_FORMAT, path, "wrong magic");

    shard_path(path, sizeof path, "version.tok");
    good_shard(path);
    const uint8_t two[4] = {2, 0, 0, 0};
    patch(path, 8, two, 4);
    unit_fails("wrong_version", duo_shard_open(path, 0, 0, &s), DUO_ERR_FORMAT, path, "version 2");

    shard_path(path, sizeof path, "token.tok");
    good_shard(path);
    const uint8_t big[2] = {0x2c, 0x01}; /* 300 */
    patch(path, 64 + 2 * 17, big, 2);
    unit_fails("token_outside_vocab", duo_shard_open(path, 0, 0, &s), DUO_ERR_FORMAT, path,
               "token 17 is 300");

    shard_path(path, sizeof path, "trailing.tok");
    good_shard(path);
    FILE *f = fopen(path, "ab");
    fputs("xyz", f);
    fclose(f);
    unit_fails("trailing_bytes", duo_shard_open(path, 0, 0, &s), DUO_ERR_FORMAT, path, "trailing");

    shard_path(path, sizeof path, "vocab.tok");
    good_shard(path);
    unit_fails("vocab_mismatch", duo_shard_open(path, 4096, 0, &s), DUO_ERR_CONFIG, path,
               "vocabulary 257 but 4096");
    int32_t t[3] = {1, 2, 3};
    duo_shard_write(path, t, 3, 257, 3, 111);
    unit_fails("tokenizer_mismatch", duo_shard_open(path, 257, 222, &s), DUO_ERR_CONFIG, path,
               "another tokenizer");

    shard_path(path, sizeof path, "missing.tok");
    unit_fails("missing_shard", duo_shard_open(path, 0, 0, &s), DUO_ERR_IO, path, NULL);
}

enum { DOMAIN_TOKENS = 20000, CTX = 16 };
static const char *const DOMAINS[] = {"alpha", "beta", "gamma"};

/* Domain d holds tokens d * DOMAIN_TOKENS + i, so a window tells where it came from. */
static void make_domain_shards(void)
{
    int32_t *tokens = malloc(DOMAIN_TOKENS * sizeof *tokens);
    for (int d = 0; d < 3; d++) {
        for (int i = 0; i < DOMAIN_TOKENS; i++)
            tokens[i] = d * DOMAIN_TOKENS + i;
        char path[512];
        duo_shard_filename(tmpdir, DOMAINS[d], "train", path, sizeof path);
        duo_shard_write(path, tokens, DOMAIN_TOKENS, 70000, 2 * DOMAIN_TOKENS, 0);
        duo_shard_filename(tmpdir, DOMAINS[d], "val", path, sizeof path);
        duo_shard_write(path, tokens, 1000, 70000, 1000, 0);
    }
    free(tokens);
}

static void loader_windows_are_contiguous_and_deterministic(void)
{
    double weights[] = {1, 1, 1};
    duo_loader *a, *b, *c;
    if (!unit_ok("loader_create", duo_loader_create(tmpdir, DOMAINS, weights, 3, 70000, CTX, 7, &a)))
        return;
    duo_loader_create(tmpdir, DOMAINS, weights, 3, 70000, CTX, 7, &b);
    duo_loader_create(tmpdir, DOMAINS, weights, 3, 70000, CTX, 8, &c);
    enum { B = 8 };
    int32_t ta[B * (CTX + 1)], tb[B * (CTX + 1)], tc[B * (CTX + 1)];
    int da[B], db[B];
    bool same = true, contiguous = true, differs = false;
    for (int step = 0; step < 20; step++) {
        bool read = duo_loader_next(a, B, ta, da) == DUO_OK && duo_loader_next(b, B, tb, db) == DUO_OK &&
                    duo_loader_next(c, B, tc, NULL) == DUO_OK;
        if (!unit_check("loader_next", read, "%s", duo_last_error()))
            break;
        same = same && memcmp(ta, tb, sizeof ta) == 0 && memcmp(da, db, sizeof da) == 0;
        differs = differs || memcmp(ta, tc, sizeof ta) != 0;
        for (int w = 0; w < B; w++) {
            const int32_t *t = ta + w * (CTX + 1);
            contiguous = contiguous && t[0] / DOMAIN_TOKENS == da[w];
            for (int i = 1; i <= CTX; i++)
                contiguous = contiguous && t[i] == t[i - 1] + 1;
        }
    }
    unit_check("loader_same_seed_same_windows", same, "two loaders with seed 7 differ");
    unit_check("loader_other_seed_other_windows", differs, "seeds 7 and 8 gave the same windows");
    unit_check("loader_windows_contiguous_in_their_domain", contiguous, "a window is not ctx+1 consecutive tokens");
    unit_check("loader_bytes_per_token", duo_loader_bytes_per_token(a, 1) == 2.0, "%g",
               duo_loader_bytes_per_token(a, 1));
    duo_loader_destroy(a);
    duo_loader_destroy(b);
    duo_loader_destroy(c);
}

static void loader_mixes_domains_by_weight(void)
{
    double weights[] = {1, 0, 3};
    duo_loader *l;
    if (!unit_ok("loader_create", duo_loader_create(tmpdir, DOMAINS, weights, 3, 70000, CTX, 3, &l)))
        return;
    enum { N = 4000 };
    int32_t *t = malloc((size_t)N * (CTX + 1) * sizeof *t);
    int *d = malloc(N * sizeof *d);
    unit_ok("loader_next", duo_loader_next(l, N, t, d));
    int count[3] = {0, 0, 0};
    int32_t lowest = INT32_MAX, highest = 0;
    for (int i = 0; i < N; i++) {
        count[d[i]]++;
        int32_t start = t[(size_t)i * (CTX + 1)] % DOMAIN_TOKENS;
        lowest = start < lowest ? start : lowest;
        highest = start > highest ? start : highest;
    }
    double share = (double)count[2] / N;
    /* Binomial(4000, 0.75): standard deviation 0.0068; allow 5 of them. */
    unit_check("loader_weight_zero_never_drawn", count[1] == 0, "domain of weight 0 drawn %d times", count[1]);
    unit_check("loader_weights_respected", share > 0.716 && share < 0.784, "share %.3f, want 0.75", share);
    int32_t last_start = DOMAIN_TOKENS - CTX - 1;
    unit_check("loader_starts_cover_the_shard", lowest < 100 && highest > last_start - 100 &&
               highest <= last_start, "starts in [%d, %d], allowed [0, %d]", lowest, highest, last_start);
    free(t);
    free(d);
    duo_loader_destroy(l);
}

/* A shard only 3 tokens longer than a window: starts 0, 1 and 2 are the
 * only ones, and each must come up (and nothing past the end). */
static void loader_windows_stay_inside_a_short_shard(void)
{
    int32_t tokens[CTX + 3];
    for (int i = 0; i < CTX + 3; i++)
        tokens[i] = i;
    char path[512];
    duo_shard_filename(tmpdir, "short", "train", path, sizeof path);
    duo_shard_write(path, tokens, CTX + 3, 257, CTX + 3, 0);
    const char *domains[] = {"short"};
    double weights[] = {1};
    duo_loader *l;
    if (!unit_ok("loader_create_short", duo_loader_create(tmpdir, domains, weights, 1, 257, CTX, 5, &l)))
        return;
    int seen[3] = {0, 0, 0};
    bool inside = true;
    for (int k = 0; k < 300 && inside; k++) {
        int32_t w[CTX + 1];
        inside = unit_ok("loader_next_short", duo_loader_next(l, 1, w, NULL)) && w[0] >= 0 && w[0] <= 2;
        if (inside)
            seen[w[0]]++;
    }
    unit_check("loader_short_shard_every_start", inside && seen[0] && seen[1] && seen[2],
               "starts 0/1/2 seen %d/%d/%d times", seen[0], seen[1], seen[2]);
    duo_loader_destroy(l);
}

static void loader_state_restores_the_same_windows(void)
{
    double weights[] = {2, 1, 1};
    duo_loader *a, *b;
    if (!unit_ok("loader_create", duo_loader_create(tmpdir, DOMAINS, weights, 3, 70000, CTX, 42, &a)))
        return;
    enum { B = 4, W = B * (CTX + 1) };
    int32_t first[3][W], resumed[3][W];
    for (int s = 0; s < 5; s++)
        unit_ok("loader_next", duo_loader_next(a, B, first[0], NULL));
    duo_loader_state saved;
    duo_loader_get_state(a, &saved);
    unit_check("loader_state_counts_windows", saved.seed == 42 && saved.next_window == 5 * B, "state %llu/%llu",
               (unsigned long long)saved.seed, (unsigned long long)saved.next_window);
    for (int s = 0; s < 3; s++)
        unit_ok("loader_next", duo_loader_next(a, B, first[s], NULL));
    /* A fresh loader (another process, after a crash) given the saved state. */
    duo_loader_create(tmpdir, DOMAINS, weights, 3, 70000, CTX, 999, &b);
    duo_loader_set_state(b, &saved);
    for (int s = 0; s < 3; s++)
        unit_ok("loader_next", duo_loader_next(b, B, resumed[s], NULL));
    unit_check("loader_resume_same_windows", memcmp(first, resumed, sizeof first) == 0,
               "resumed loader read other windows");
    /* Batch size does not matter: window k is window k. */
    duo_loader_set_state(b, &saved);
    int32_t one_by_one[3 * W];
    for (int k = 0; k < 3 * B; k++)
        unit_ok("loader_next", duo_loader_next(b, 1, one_by_one + k * (CTX + 1), NULL));
    unit_check("loader_windows_independent_of_batching", memcmp(first, one_by_one, sizeof first) == 0,
               "batch of 1 gave other windows");
    duo_loader_destroy(a);
    duo_loader_destroy(b);
}

static void loader_errors_name_the_shard(void)
{
    double weights[] = {1, 1, 1};
    duo_loader *l = NULL;
    const char *missing[] = {"alpha", "delta", "gamma"};
    char path[512];
    duo_shard_filename(tmpdir, "delta", "train", path, sizeof path);
    unit_fails("loader_missing_domain", duo_loader_create(tmpdir, missing, weights, 3, 70000, CTX, 1, &l),
               DUO_ERR_IO, path, NULL);
    duo_shard_filename(tmpdir, "alpha", "train", path, sizeof path);
    unit_fails("loader_vocab_mismatch", duo_loader_create(tmpdir, DOMAINS, weights, 3, 4096, CTX, 1, &l),
               DUO_ERR_CONFIG, path, "4096");
    unit_fails("loader_window_longer_than_shard",
               duo_loader_create(tmpdir, DOMAINS, weights, 3, 70000, DOMAIN_TOKENS, 1, &l), DUO_ERR_FORMAT,
               path, "fewer than one window");
    double zero[] = {0, 0, 0};
    unit_fails("loader_all_weights_zero", duo_loader_create(tmpdir, DOMAINS, zero, 3, 70000, CTX, 1, &l),
               DUO_ERR_INVALID_ARGUMENT, "weight", NULL);
}

static void validation_windows_are_fixed(void)
{
    char path[512];
    duo_shard_filename(tmpdir, "beta", "val", path, sizeof path);
    duo_shard *s;
    if (!unit_ok("val_open", duo_shard_open(path, 70000, 0, &s)))
        return;
    uint64_t n = duo_val_window_count(s, CTX);
    unit_check("val_window_count", n == (1000 - 1) / CTX, "%llu windows", (unsigned long long)n);
    int32_t w[CTX + 1];
    bool ok = true;
    for (uint64_t i = 0; i < n && ok; i++) {
        ok = duo_val_window(s, CTX, i, w) == DUO_OK;
        for (int k = 0; k <= CTX && ok; k++)
            ok = w[k] == (int32_t)(DOMAIN_TOKENS + i * CTX + (uint64_t)k);
    }
    unit_check("val_windows_consecutive", ok, "window content is not tokens [i*ctx, i*ctx+ctx+1)");
    unit_fails("val_window_past_end", duo_val_window(s, CTX, n, w), DUO_ERR_INVALID_ARGUMENT, path, NULL);
    duo_shard_close(s);
}

int main(void)
{
    if (!test_temp_dir(tmpdir, sizeof tmpdir, "test-shards"))
        return 1;
    UNIT_RUN(shards_roundtrip_at_both_widths);
    UNIT_RUN(damaged_shards_give_named_errors);
    make_domain_shards();
    UNIT_RUN(loader_windows_are_contiguous_and_deterministic);
    UNIT_RUN(loader_mixes_domains_by_weight);
    UNIT_RUN(loader_windows_stay_inside_a_short_shard);
    UNIT_RUN(loader_state_restores_the_same_windows);
    UNIT_RUN(loader_errors_name_the_shard);
    UNIT_RUN(validation_windows_are_fixed);
    test_remove_dir(tmpdir);
    return unit_summary("test_shards");
}
