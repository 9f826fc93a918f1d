/* RUN/oracle_tokens.bin: every token's losses under all-small, all-big and
 * the oracle at each searched budget, with the oracle's routes. The oracle
 * stage writes it (study/oracle_stage.c), the difficulty analysis reads it.
 *
 * Layout (all little-endian):
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
#ifndef DUOCL_HOST_ORACLE_TOKENS_H
#define DUOCL_HOST_ORACLE_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "duocl/difficulty.h"
#include "duocl/status.h"

/* The searched-budget mask has one bit per k in 0..L, so L < 32. */
enum {
    DUO_TOKEN_FILE_MAX_LAYERS = DUO_DIFFICULTY_MAX_BUDGET,
    DUO_TOKEN_FILE_MAX_DOMAINS = DUO_DIFFICULTY_MAX_DOMAINS
};

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
    duo_token_domain *domain; /* n_domains, owned by the reader's result */
} duo_token_file;

/* Reads and checks a whole oracle_tokens.bin. Every failure (missing file,
 * wrong magic or version, truncated or oversized content, a loss that is not
 * finite, a negative token id) is DUO_ERR_IO or DUO_ERR_FORMAT with a message
 * naming the file and what was wrong. On success free with
 * duo_token_file_free. */
duo_status duo_token_file_read(const char *path, duo_token_file *out);
void duo_token_file_free(duo_token_file *f);

/* Writes f in the layout above, atomically (temporary file + rename); the
 * arrays stay the caller's. Budget k's arrays are written when bit k of the
 * domain's `searched` is set. */
duo_status duo_token_file_write(const char *path, const duo_token_file *f);

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

#endif
