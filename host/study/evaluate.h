/* Validation: mean loss and bits per byte of a model on the fixed validation
 * windows of each domain, under one routing (every token on one pattern of
 * modules, or per-token random routes).
 *
 * Window i of a domain is tokens [i*T, i*T + T + 1) of its validation shard
 * (duo_val_window): inputs are the first T tokens, targets the last T. The
 * first eval_tokens targets of a domain are scored (the tail of the last
 * window is masked), or every window's if the shard holds fewer.
 *
 * Bits per byte = total nats / ln 2 / total bytes, where the bytes are the
 * exact text the scored targets encode (duo_tokenizer_text_bytes) when a
 * tokenizer is given, else targets * the shard's bytes per token.
 *
 * Random routes here do not depend on the batch size: the route of position
 * t of window i at layer l is duo_route_pick(thresholds, seed, i, l, t), so
 * `duocl train`'s periodic validation and a later `duocl eval` with the same
 * seed see the same routes. */
#ifndef DUOCL_HOST_EVALUATE_H
#define DUOCL_HOST_EVALUATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duocl/config.h"
#include "duocl/data.h"
#include "duocl/eval.h" /* DUO_EVAL_BUCKETS; the run's eval stage */
#include "duocl/routes.h"
#include "duocl/tokenizer.h"
#include "model/model.h"
#include "spread.h"

/* The seed of the random routes of validation (any fixed value would do; it
 * differs from the training seeds people pick). */
#define DUO_EVAL_ROUTE_SEED 0x6576616c726f7574ULL /* "evalrout" */

/* The validation tokens of every domain, read once and kept on the host. */
typedef struct duo_eval_domain {
    char name[DUO_CONFIG_NAME_MAX];
    size_t windows;  /* windows held (each T + 1 tokens) */
    size_t targets;  /* targets scored: min(eval_tokens, windows * T) */
    uint64_t bytes;  /* bytes of text those targets encode */
    int32_t *tokens; /* (windows, T + 1) row-major */
} duo_eval_domain;

typedef struct duo_eval_data {
    int ctx; /* T */
    int n_domains;
    duo_eval_domain domain[DUO_CONFIG_MAX_DOMAINS];
} duo_eval_data;

/* Reads <shard_dir>/<domain>.val.tok for every domain of train->domains
 * (weight 0 included: held-out domains are still measured). vocab and tok
 * (may be NULL) are checked against each shard (vocabulary, fingerprint); a
 * missing shard, or one shorter than a window of ctx + 1 tokens, is an error
 * naming the file. Free with duo_eval_data_free. */
duo_status duo_eval_data_open(const char *shard_dir, const duo_train_config *train, uint32_t vocab,
                              int ctx, size_t eval_tokens, const duo_tokenizer *tok,
                              duo_eval_data **out);
void duo_eval_data_free(duo_eval_data *data);

struct duo_router;

/* How validation routes tokens. */
typedef struct duo_eval_routing {
    bool random;                   /* per-token random routes (thresholds, seed) */
    duo_route_thresholds thresholds;
    uint64_t seed;
    uint8_t pattern[DUO_MAX_LAYERS]; /* when !random and no router: every token's route at layer l */
    /* A learned router (host/router.h) decides instead, when not NULL: argmax
     * of its logits layer by layer, or with `exact` each token takes BIG in the
     * `exact_budget` layers where a soft pass (beta `exact_beta`, the mixture
     * the router was trained on) gives it the highest P_big, and its argmax
     * between the other modules elsewhere. `exact` needs training activations. */
    struct duo_router *router;
    bool exact;
    int exact_budget;
    float exact_beta;
    /* A signal router (study/signal_router.h) decides instead, when not NULL:
     * an all-small pass for its signal, then its routes. */
    struct duo_signal_router *signal;
} duo_eval_routing;

/* Every token on `route` at every layer (all-big, all-small). */
duo_eval_routing duo_eval_routing_uniform(duo_route route);

/* Per-token random routes with the given probabilities (validated). */
duo_status duo_eval_routing_random(double p_big, double p_small, double p_skip, uint64_t seed,
                                   duo_eval_routing *out);

/* duo_eval_result (what one routing scored on one domain) is public, in
 * duocl/eval.h; its arrays are sized for the model's most layers. */
_Static_assert((int)DUO_EVAL_MAX_LAYERS == (int)DUO_MAX_LAYERS, "duocl/eval.h sizes arrays for DUO_MAX_LAYERS");

/* Runs every domain of data through the model in batches of a's size
 * (forward only; `a` must have ctx T, training or not) and fills
 * results[0 .. data->n_domains). The model's parameters are not changed. */
duo_status duo_evaluate(duo_model *m, duo_activations *a, const duo_eval_data *data,
                        const duo_eval_routing *routing, duo_eval_result *results);

/* Batches of `batch` windows a domain's windows fill (the last may be short). */
size_t duo_eval_batches(const duo_eval_domain *dom, size_t batch);

/* duo_evaluate of one domain spread over ranks (study/spread.h), collective:
 * this rank runs batches part (of duo_eval_batches with a's batch size), and
 * rank 0 gets the result, the same bits as duo_evaluate gives one process
 * (the scored losses are gathered and summed there in token order). Other
 * ranks' *result is not complete. An error on any rank is one on every rank. */
duo_status duo_evaluate_spread(duo_model *m, duo_activations *a, const duo_eval_domain *dom, int ctx,
                               const duo_eval_routing *routing, duo_spread part,
                               duo_eval_result *result);

#endif
