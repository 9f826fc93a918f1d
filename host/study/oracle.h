/* The oracle: every route pattern applied to every token of a set of
 * evaluation windows, with each token's loss kept, so that per budget k
 * (number of BIG layers) we get
 *   oracle(k)   mean over tokens of the per-token minimum over patterns,
 *   fixed(k)    the single pattern with the lowest mean loss,
 *   random-N(k) the best of N patterns drawn at random (with replacement),
 *   mean(k)     the mean over all patterns (what a random pattern gives),
 * and where the oracle's per-token choices put their BIG layers.
 *
 * Patterns sharing a prefix share the computation of those layers: the
 * pattern tree is walked depth first and layer l's output x_{l+1} is
 * computed once per distinct prefix of length l+1 (model.h keeps x_l for
 * every l). Budgets with skips: in alphabet KB every layer is BIG or SKIP;
 * in KSB, BIG, SMALL or SKIP; the budget counts BIG layers only, skips are
 * free (a token with budget k runs k big FFNs and no FFN where it skips). */
#ifndef DUOCL_HOST_ORACLE_H
#define DUOCL_HOST_ORACLE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "duocl/oracle.h" /* duo_alphabet, DUO_ORACLE_MAX_LAYERS; the run's oracle stage */
#include "model/model.h"
#include "oracle_select.h"
#include "spread.h"

/* Counters of one search. */
typedef struct duo_search_counts {
    uint64_t patterns;          /* leaves visited */
    uint64_t layer_evals;       /* layer forwards actually run */
    uint64_t naive_layer_evals; /* patterns * L: what running each from scratch costs */
} duo_search_counts;

/* Called once per pattern with the per-token losses (N floats, host memory,
 * valid during the call). pattern has L route ids; big = BIG layers in it. */
typedef duo_status (*duo_pattern_visitor)(void *context, const uint8_t *pattern, int big,
                                          const float *losses);

/* Visits every pattern of the alphabet whose number of BIG layers k has
 * budgets[k] set (budgets NULL: every k), in depth-first order (letters in the
 * order SKIP, SMALL, BIG), on the batch already set in `a` (its routes are
 * overwritten). share_prefixes = false runs each pattern from scratch (for
 * tests: the per-token losses must be the same bits). counts are added to. */
duo_status duo_search_patterns(duo_model *m, duo_activations *a, duo_alphabet alphabet,
                               const bool *budgets, bool share_prefixes, duo_pattern_visitor visit,
                               void *context, duo_search_counts *counts);

/* Results for one set of windows (a domain), over budgets 0..L. */
typedef struct duo_budget_result {
    int patterns;            /* patterns with this budget */
    double oracle;           /* mean nats per token */
    double fixed;
    char fixed_pattern[DUO_MAX_LAYERS + 1];
    double random_best;      /* best of random_n draws */
    char random_pattern[DUO_MAX_LAYERS + 1];
    double mean_all;         /* mean over all patterns */
    /* Label-free selectors and the selection-only control (oracle_select.h):
     * mean true loss of the per-token lowest-entropy and highest-max-prob
     * patterns; on the pseudo-labels, the best fixed pattern's mean loss and
     * the mean per-token minimum. */
    double min_entropy, max_prob, pseudo_fixed, pseudo_oracle;
    /* The oracle's per-token choices: tokens that took BIG at layer l, and the
     * same per position bucket (positions split into DUO_ORACLE_BUCKETS). */
    uint64_t big_per_layer[DUO_MAX_LAYERS];
    uint64_t big_per_layer_bucket[DUO_MAX_LAYERS][DUO_ORACLE_BUCKETS];
    uint64_t tokens_per_bucket[DUO_ORACLE_BUCKETS];
} duo_budget_result;

typedef struct duo_oracle_search_options {
    duo_alphabet alphabet;
    bool budgets[DUO_MAX_LAYERS + 1]; /* which budgets to search */
    int random_n;                     /* N of random-N (default 100) */
    uint64_t random_seed;
    bool share_prefixes;
    /* Progress: patterns done of total (over all windows), may be NULL. */
    void (*progress)(void *context, uint64_t done, uint64_t total);
    void *progress_context;
    /* Polled after every pattern; nonzero: DUO_ERR_INTERRUPTED. May be NULL. */
    volatile sig_atomic_t *stop;
} duo_oracle_search_options;

typedef struct duo_oracle_result {
    int layers;
    uint64_t tokens;
    duo_budget_result budget[DUO_MAX_LAYERS + 1];
    bool searched[DUO_MAX_LAYERS + 1];
    double all_small, all_big;          /* mean nats per token */
    duo_search_counts counts;           /* summed over batches */
    /* Per token (tokens entries, window-major): losses under all-small,
     * all-big and the oracle at each searched budget (NaN where not searched).
     * Every per-token array is listed in oracle.c's token_arrays, which a
     * search spread over ranks gathers. */
    float *loss_small, *loss_big;
    float *loss_oracle[DUO_MAX_LAYERS + 1];
    /* Per token and budget: the oracle's pattern, as BIG-layer bit masks. */
    uint32_t *oracle_big_mask[DUO_MAX_LAYERS + 1];
    /* Per token: the pseudo-label drawn from all-big's prediction; per token
     * and budget, the selectors' state (oracle_select.h). */
    int32_t *pseudo_target;
    float *pseudo_temperature; /* per token: its batch's temperature */
    double pseudo_temperature_mean;
    duo_select_budget select[DUO_MAX_LAYERS + 1];
} duo_oracle_result;

/* Runs the oracle over n_windows windows of ctx+1 tokens (inputs and next-token
 * targets), batch windows at a time. Fills *out (free with duo_oracle_result_free).
 * duo_oracle_run (duocl/oracle.h) does this for every domain of a run. */
duo_status duo_oracle_search(duo_model *m, const int32_t *windows, size_t n_windows, size_t ctx,
                             size_t batch, const duo_oracle_search_options *options,
                             duo_oracle_result *out);
void duo_oracle_result_free(duo_oracle_result *r);

/* Batches of `batch` windows that n_windows fill (the last may be short). */
size_t duo_oracle_batches(size_t n_windows, size_t batch);

/* duo_oracle_search spread over ranks (study/spread.h), collective: this
 * rank searches batches part (of duo_oracle_batches), and rank 0 gets the
 * complete result, the same bits as duo_oracle_search gives one process;
 * on the other ranks *out holds only their own tokens and is for freeing.
 * An error on any rank is an error on every rank. */
duo_status duo_oracle_search_spread(duo_model *m, const int32_t *windows, size_t n_windows,
                                    size_t ctx, size_t batch, const duo_oracle_search_options *options,
                                    duo_spread part, duo_oracle_result *out);

/* Number of patterns of `alphabet` over L layers with exactly k BIG layers. */
uint64_t duo_pattern_count(duo_alphabet alphabet, int layers, int k);

#endif
