/* Token difficulty (PAPER.md result 8, DESIGN.md §2): the statistics that
 * ask whether the tokens with high loss are the ones that gain from compute,
 * on the per-token losses of the oracle's file (study/oracle_tokens.h). The
 * benefit of a token at budget k is loss_small - loss_oracle(k): what the
 * best route with k BIG layers saves over running every layer small. The
 * whole analysis of a run is duo_difficulty_run (duocl/difficulty.h). */
#ifndef DUOCL_HOST_DIFFICULTY_H
#define DUOCL_HOST_DIFFICULTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duocl/difficulty.h" /* duo_difficulty_stats */
#include "duocl/status.h"
#include "duocl/tokenizer.h"
#include "oracle_tokens.h"

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
