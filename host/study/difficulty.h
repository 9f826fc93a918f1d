/* Token difficulty (PAPER.md result 8, DESIGN.md §2): per-token losses under
 * all-small, all-big and oracle(k), read back from the oracle's per-token
 * file, and the statistics that ask whether the tokens with high loss are the
 * ones that gain from compute. The benefit of a token at budget k is
 * loss_small - loss_oracle(k): what the best route with k BIG layers saves
 * over running every layer small.
 *
 * oracle_tokens.bin (written by 'duocl oracle', all little-endian):
 *   char magic[8] "DUOCLPTL"; u32 version = 1; u32 layers L; u32 n_domains;
 *   u32 ctx T; then per domain:
 *     char name[32] (NUL-terminated); u64 n_windows; u64 tokens (= n_windows*T);
 *     u32 searched (bit k set: budget k was searched);
 *     i32 windows[n_windows*(T+1)]  token ids; position t of window w reads
 *                                   windows[w*(T+1)+t] and predicts [..+t+1]
 *     f32 loss_small[tokens]; f32 loss_big[tokens];
 *     for each searched k, increasing: f32 loss_oracle_k[tokens];
 *                                      u32 big_mask_k[tokens] (bit l: BIG at layer l)
 * Token i of a domain is window i / T, position i % T. */
#ifndef DUOCL_HOST_DIFFICULTY_H
#define DUOCL_HOST_DIFFICULTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duocl/status.h"
#include "duocl/tokenizer.h"

/* The searched-budget mask has one bit per k in 0..L, so L < 32. */
enum { DUO_TOKEN_FILE_MAX_LAYERS = 31, DUO_TOKEN_FILE_MAX_DOMAINS = 64 };

typedef struct duo_token_domain {
    char name[32];
    uint64_t n_windows;
    uint64_t tokens;          /* n_windows * ctx scored positions */
    uint32_t searched;        /* bit k: budget k was searched */
    int32_t *windows;         /* n_windows * (ctx + 1) token ids */
    float *loss_small;        /* tokens, nats */
    float *loss_big;          /* tokens, nats */
    float *loss_oracle[DUO_TOKEN_FILE_MAX_LAYERS + 1]; /* [k]: tokens; NULL if not searched */
    uint32_t *big_mask[DUO_TOKEN_FILE_MAX_LAYERS + 1]; /* [k]: tokens; NULL if not searched */
} duo_token_domain;

typedef struct duo_token_file {
    int layers;
    int ctx;
    int n_domains;
    duo_token_domain *domain; /* n_domains, owned */
} duo_token_file;

/* Reads and checks a whole oracle_tokens.bin. Every failure (missing file,
 * wrong magic or version, truncated or oversized content, a loss that is not
 * finite, a negative token id) is DUO_ERR_IO or DUO_ERR_FORMAT with a message
 * naming the file and what was wrong. On success free with
 * duo_token_file_free. */
duo_status duo_token_file_read(const char *path, duo_token_file *out);
void duo_token_file_free(duo_token_file *f);

/* The budgets searched in every domain of f, as "1,3" (into buf). */
void duo_token_file_budgets(const duo_token_file *f, char *buf, size_t cap);

/* Input token at position t of window w, and the token it predicts. */
static inline int32_t duo_token_input(const duo_token_domain *d, int ctx, uint64_t i)
{
    return d->windows[(i / (uint64_t)ctx) * (uint64_t)(ctx + 1) + i % (uint64_t)ctx];
}
static inline int32_t duo_token_target(const duo_token_domain *d, int ctx, uint64_t i)
{
    return d->windows[(i / (uint64_t)ctx) * (uint64_t)(ctx + 1) + i % (uint64_t)ctx + 1];
}

/* Ranks 1..n of x with ties given the mean of the ranks they span (so
 * {5, 7, 7, 9} ranks {1, 2.5, 2.5, 4}). ranks has n doubles. */
duo_status duo_average_ranks(const float *x, size_t n, double *ranks);

/* Spearman's rank correlation: Pearson's correlation of the average ranks.
 * NaN when n < 2 or either side is constant. */
duo_status duo_spearman(const float *x, const float *y, size_t n, double *rho);

/* Indices of the `count` largest scores, largest first; equal scores keep
 * index order (so the result is deterministic). count <= n. */
duo_status duo_top_indices(const float *score, size_t n, size_t count, uint64_t *out);

/* How many top tokens the "top 10%" sets hold: ceil(n / 10), at least 1. */
size_t duo_top_decile_count(size_t n);

typedef struct duo_difficulty_stats {
    uint64_t tokens;                /* tokens the statistics cover */
    double mean_small, mean_big, mean_oracle, mean_benefit; /* nats per token */
    double fraction_gain;           /* tokens with benefit > 0 */
    double spearman_small_benefit;  /* rank correlation of loss_small and benefit */
    double spearman_big_benefit;    /* of loss_big and benefit */
    double spearman_small_big;      /* of loss_small and loss_big */
    uint64_t top_count;             /* duo_top_decile_count(tokens) */
    uint64_t top_overlap;           /* of the top_count highest loss_small, how many are
                                       also among the top_count highest benefit */
} duo_difficulty_stats;

/* benefit[i] = loss_small[i] - loss_oracle_k[i] for every token of d.
 * Budget k must have been searched (DUO_ERR_INVALID_ARGUMENT otherwise). */
duo_status duo_difficulty_benefit(const duo_token_domain *d, int k, float *benefit);

/* The statistics of one domain at budget k over the tokens at window
 * positions min_position .. ctx-1 (0: every token; the first positions of a
 * window have little context, and their losses can dwarf the rest). */
duo_status duo_difficulty_compute(const duo_token_domain *d, int ctx, int k, int min_position,
                                  duo_difficulty_stats *out);

/* Indices (into the domain) of the `count` tokens at positions >= min_position
 * with the highest score (d->tokens floats), highest first, ties in index
 * order. count must not exceed the tokens at those positions. */
duo_status duo_difficulty_top(const duo_token_domain *d, int ctx, int min_position, const float *score,
                              size_t count, uint64_t *out);

/* Writes bytes as text that is safe in a terminal and in JSON: printable
 * ASCII and valid UTF-8 as they are, '\\' as "\\\\", newline, tab and CR as
 * "\\n", "\\t", "\\r", any other control byte or invalid UTF-8 byte as
 * "\\xNN". Always NUL-terminates (truncating at a whole escape); returns the
 * length written. */
size_t duo_escape_text(const uint8_t *bytes, size_t n, char *out, size_t cap);

/* The text before token i of domain d: the inputs of its window up to and
 * including position i % ctx, decoded, the last context_bytes bytes of it,
 * escaped (duo_escape_text). *token gets the escaped text of the token that
 * position predicts. A token id outside the tokenizer's vocabulary is
 * DUO_ERR_FORMAT. */
duo_status duo_difficulty_context(const duo_tokenizer *tok, const duo_token_domain *d, int ctx,
                                  uint64_t i, size_t context_bytes, char *context, size_t context_cap,
                                  char *token, size_t token_cap);

#endif
