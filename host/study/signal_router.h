/* The signal router (issue 16), a baseline: routes by one cheap signal
 * (study/signals.h) with a threshold per layer. Fitted on training windows
 * (never validation data), duo_signal_router_train (duocl/router.h):
 *   - the oracle's search at budget K on the pool of the oracle teacher
 *     (study/router_teacher.h): per token its best pattern and loss;
 *   - every signal on those tokens (one all-small pass) and its Spearman
 *     correlation with the benefit loss_small - loss_oracle(K); the signal
 *     with the largest |rho| is taken (or the one asked for), times the sign
 *     of rho, so that larger means more benefit;
 *   - q_l, the fraction of tokens whose oracle pattern is BIG at layer l
 *     (sum_l q_l = K), and threshold_l, the value above which a fraction q_l
 *     of the pool's tokens lie.
 * Routing: a token takes BIG at layer l when sign * signal > threshold_l,
 * else SMALL; tokens with a larger signal take more BIG layers, in the layers
 * the oracle uses most first, and the mean is K on the pool (on other data,
 * close to it). A per-layer signal (hidden_norm_l<l>, router_logit_l<l>)
 * taken as the best is used as it is at every layer.
 *
 * RUN/router/k<K>-SB-signal/signal.json:
 *   { "signal", "sign", "spearman", "budget", "layers", "thresholds": [L],
 *     "fractions": [L], "teacher_windows", "seed", "spearman_all": {NAME: rho},
 *     "log_count": [V] (token_freq only), "router": PATH (router_logit only) }
 * Evaluated with the routing spec signal:PATH (duocl/eval.h). */
#ifndef DUOCL_HOST_SIGNAL_ROUTER_H
#define DUOCL_HOST_SIGNAL_ROUTER_H

#include "model/model.h"

typedef struct duo_signal_router duo_signal_router;

/* Reads signal.json for model m (its layers); errors name the file and field. */
duo_status duo_signal_router_load(duo_model *m, const char *path, duo_signal_router **out);
void duo_signal_router_destroy(duo_signal_router *r);

/* The routes (L x N, layer-major) of the batch (inputs, targets) on `a`: one
 * all-small pass for the signal (a's routes are replaced). */
duo_status duo_signal_router_routes(duo_signal_router *r, duo_activations *a,
                                    const int32_t *inputs, const int32_t *targets,
                                    uint8_t *routes);

#endif
