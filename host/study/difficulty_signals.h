/* The difficulty analysis's cheap signals (issue 16): per domain of the
 * oracle's token file, the signals of study/signals.h on every token (one
 * all-small pass of the run's model over the domain's windows) and their
 * Spearman correlation with the benefit loss_small - loss_oracle(K), into
 * the domain's "signals" object of difficulty.json:
 *   "signals": { NAME: rho, ... }   (the tokens at positions >= skip_first)
 * router_logit_l<l> columns come from RUN/router/k<K>-SB/router.ckpt when it
 * exists. */
#ifndef DUOCL_HOST_DIFFICULTY_SIGNALS_H
#define DUOCL_HOST_DIFFICULTY_SIGNALS_H

#include <cjson/cJSON.h>

#include "duocl/difficulty.h"
#include "duocl/runtime.h"
#include "oracle_tokens.h"

typedef struct duo_difficulty_signals duo_difficulty_signals;

duo_status duo_difficulty_signals_open(duo_runtime *rt, const char *run_dir, int budget,
                                       duo_difficulty_signals **out);
void duo_difficulty_signals_close(duo_difficulty_signals *s);

/* One domain: its signals' correlations into domain_json and *out. */
duo_status duo_difficulty_signals_domain(duo_difficulty_signals *s, const duo_token_domain *d,
                                         int ctx, int skip_first, const float *benefit,
                                         cJSON *domain_json, duo_difficulty_domain_summary *out);

#endif
