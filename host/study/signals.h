/* Cheap per-token signals (issue 16): label-free quantities a router could
 * have at inference, measured on one all-small forward pass of a batch:
 *   entropy_small     entropy of the all-small prediction (nats; duo_token_stats)
 *   maxprob_small     its largest probability
 *   prev_loss_small   the all-small loss of the previous position (its label is
 *                     this position's input; 0 at position 0)
 *   position          position in the window, 0..T-1
 *   token_freq        log(1 + count) of the input token in a sample of the
 *                     training data (duo_signals_create)
 *   hidden_norm_l<l>  L2 norm of the residual stream entering layer l
 *   router_logit_l<l> a budget-loss router's z_big - z_small at layer l on the
 *                     all-small pass's FFN input (when a router is given)
 * Columns are in this order; the per-layer ones have one column per layer. */
#ifndef DUOCL_HOST_SIGNALS_H
#define DUOCL_HOST_SIGNALS_H

#include "duocl/config.h"
#include "model/model.h"
#include "router.h"

enum { DUO_SIGNALS_MAX = 5 + 2 * DUO_MAX_LAYERS, DUO_SIGNAL_NAME_MAX = 32 };

typedef struct duo_signals duo_signals;

/* For model m (of config) and, optionally, a router (borrowed; NULL: no
 * router_logit columns). Token counts come from `sample_windows` windows of
 * the training data (a fixed loader seed); config NULL: none (zeros, until
 * duo_signals_set_log_counts). */
duo_status duo_signals_create(duo_model *m, const duo_config *config, duo_router *router,
                              int sample_windows, duo_signals **out);
void duo_signals_destroy(duo_signals *s);

/* Number of columns, a column's name, and the layer it belongs to (-1: all). */
int duo_signals_count(const duo_signals *s);
const char *duo_signals_name(const duo_signals *s, int column);

/* token_freq's table: log(1 + count) of each of the model's vocab tokens. */
const float *duo_signals_log_counts(const duo_signals *s);
void duo_signals_set_log_counts(duo_signals *s, const float *log_count);

/* The column called `name`, or -1. */
int duo_signals_find(const duo_signals *s, const char *name);

/* Runs the batch (inputs, targets: N = B*T each, B the activations' windows)
 * with every layer SMALL on `a` (its routes and router binding are replaced)
 * and writes out[c * N + i] for every column c, and loss_small (N, may be
 * NULL) the all-small loss of every token. */
duo_status duo_signals_batch(duo_signals *s, duo_activations *a, const int32_t *inputs,
                             const int32_t *targets, float *out, float *loss_small);

#endif
