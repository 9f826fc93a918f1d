/* Label-free selectors and the selection-only control beside the oracle
 * (issue 16), over the same patterns and budgets as study/oracle.c.
 *
 * Per token and budget k, among the patterns with k BIG layers:
 *   min-entropy selector   the pattern whose prediction has the lowest
 *                          predictive entropy ("confidence oracle"),
 *   max-prob selector      the pattern whose prediction has the highest
 *                          maximum probability;
 * each is scored by the loss of its choice on the true token, measured after
 * the label-free choice. Ties keep the earlier pattern in visiting order, as
 * the oracle does.
 *
 * Selection-only control: each token gets a pseudo-label drawn (seeded) from
 * the all-big prediction, calibrated: softmax(z / T) with T fitted per batch
 * on the true labels (the NLL-minimising temperature), so the pseudo-labels
 * are as hard as the true ones; the oracle is run against them: every
 * pattern's loss on the pseudo-label, the per-token minimum and the best
 * fixed pattern. The pseudo-labels carry no information about the token
 * beyond the (calibrated) all-big prediction: against a label drawn from q
 * no prediction beats q in expectation (Gibbs: E_{y~q}[-log p(y)] >= H(q)),
 * so what this oracle gains over its fixed pattern is selection by the label
 * among the same candidates, with the same spread and correlation. The
 * control at budget k is the fixed pattern's true loss minus that gain:
 *   control(k) = fixed(k) - (pseudo_fixed(k) - pseudo_oracle(k)). */
#ifndef DUOCL_HOST_ORACLE_SELECT_H
#define DUOCL_HOST_ORACLE_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "duocl/status.h"
#include "model/model.h"

/* The pseudo-labels' seed ("pseudo"). */
#define DUO_SELECT_PSEUDO_SEED 0x70736575646fULL

/* Pseudo-label of token `index` (the domain's token number, so the draw does
 * not depend on how the batches are spread over ranks): inverse CDF of
 * softmax(logits[0..V) / temperature) in double at a uniform drawn from
 * (seed, index). */
int32_t duo_select_pseudo_label(const float *logits, size_t V, double temperature, uint64_t seed,
                                uint64_t index);

/* The temperature T in [1/4, 4] minimising the mean loss of softmax(logits /
 * T) on the targets (negative: masked) of at most DUO_SELECT_FIT_TOKENS
 * tokens of the N (every ceil(N / that)-th), by DUO_SELECT_FIT_STEPS steps
 * of golden-section search on log T, in double. */
enum { DUO_SELECT_FIT_TOKENS = 512, DUO_SELECT_FIT_STEPS = 40 };
double duo_select_temperature(const float *logits, const int32_t *targets, size_t N, size_t V);

/* Per-token state of one budget, over one domain's tokens. */
typedef struct duo_select_budget {
    float *best_entropy;      /* lowest entropy so far (+inf before any pattern) */
    float *loss_min_entropy;  /* true loss of that pattern */
    float *best_max_prob;     /* highest max-prob so far (-1 before any pattern) */
    float *loss_max_prob;     /* true loss of that pattern */
    float *pseudo_min;        /* lowest loss on the pseudo-label (+inf before) */
} duo_select_budget;

/* Allocates budget state for `tokens` tokens; free with duo_select_budget_free. */
duo_status duo_select_budget_alloc(duo_select_budget *b, size_t tokens);
void duo_select_budget_free(duo_select_budget *b);

/* One pattern's outputs on tokens [base, base + n): true losses, entropy,
 * max-prob and losses on the pseudo-labels. Returns the pattern's sum of
 * pseudo-label losses over these tokens (for its fixed-pattern mean). */
double duo_select_visit(duo_select_budget *b, size_t base, size_t n, const float *losses,
                        const float *entropy, const float *max_prob, const float *pseudo_losses);

/* Means over `tokens` tokens of the two selectors and of pseudo_min. */
void duo_select_means(const duo_select_budget *b, size_t tokens, double *min_entropy,
                      double *max_prob, double *pseudo_oracle);

/* The device side of one search: the batch's pseudo-labels and, after each
 * pattern's head, its entropy, max-prob and pseudo-label losses on the host
 * (duo_token_stats on the activations' logits). */
typedef struct duo_select_device {
    size_t N;
    cl_mem pseudo_targets, pseudo_losses, entropy, max_prob;
    int32_t *pseudo;                   /* (N) host copy of the pseudo-labels */
    double temperature;                /* the batch's calibration of all-big */
    float *logits;                     /* (N, V) host copy of all-big's logits */
    float *h_entropy, *h_max_prob, *h_pseudo_losses; /* (N) each, the last pattern's */
} duo_select_device;

duo_status duo_select_device_create(duo_model *m, duo_activations *a, duo_select_device *d);
void duo_select_device_destroy(duo_select_device *d);

/* After an all-big forward of the batch whose targets are `targets` (N, host,
 * negative = masked): fits the batch's temperature, draws each unmasked
 * token's pseudo-label from the scaled logits (token i of the batch is the
 * domain's token base + i) and uploads them (masked tokens: -1). */
duo_status duo_select_set_pseudo(duo_model *m, duo_activations *a, duo_select_device *d,
                                 const int32_t *targets, uint64_t base, uint64_t seed);

/* After a pattern's head: its entropy, max-prob and pseudo-label losses into
 * the host arrays. */
duo_status duo_select_read_stats(duo_model *m, duo_activations *a, duo_select_device *d);

#endif
