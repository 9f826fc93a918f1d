/* Evaluating a trained run under one routing (what `duocl eval` does): per
 * domain the loss, perplexity, bits per byte, the budget the routing actually
 * used and where its BIG layers went, on the run's validation windows. The
 * result is merged into RUN/eval.json under the routing spec (an entry of the
 * same spec is replaced, the others are kept). An eval.json that exists but
 * does not parse is never overwritten: the call fails (DUO_ERR_FORMAT, before
 * any evaluation) unless `force` moves it to eval.json.bad first. The model
 * is not changed.
 *
 * Routing specs (also the keys of eval.json):
 *   all-big, all-small, all-skip   every token on one module at every layer
 *   pattern:SBSKBS                 one letter per layer for every token
 *                                  (S small, B big, K skip)
 *   random:P_BIG[,P_SKIP]          per-token random routes (P_SMALL the rest),
 *                                  with a fixed seed
 *   router:PATH                    a router written by router training: each
 *                                  token takes the module of its largest logit
 *   router:PATH,exact              each token takes BIG in exactly the router's
 *                                  K layers where a soft pass (beta 20) gives it
 *                                  the highest P_big
 *   signal:PATH                    a signal router (duo_signal_router_train,
 *                                  duocl/router.h): an all-small pass gives each
 *                                  token its signal; BIG at layer l above the
 *                                  layer's threshold */
#ifndef DUOCL_EVAL_H
#define DUOCL_EVAL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duocl/config.h"
#include "duocl/runtime.h"
#include "duocl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    DUO_EVAL_MAX_LAYERS = 32, /* the most layers a model has */
    DUO_EVAL_BUCKETS = 8,     /* position t of T is in bucket t * 8 / T */
    DUO_EVAL_PATH_MAX = 1200, /* a result's path buffers, NUL included */
    DUO_EVAL_NAME_MAX = 256   /* a device name's buffer, NUL included */
};

/* What one routing scored on one domain. */
typedef struct duo_eval_result {
    double nats;          /* summed over the scored targets (double accumulator) */
    uint64_t targets;
    uint64_t bytes;
    double loss;          /* nats per token */
    double bits_per_byte;
    double budget;        /* mean BIG layers per scored token (of L): the budget actually used */
    double skip;          /* mean SKIP layers per scored token */
    /* Where BIG went, over the scored targets: per layer, and per layer and
     * position bucket (position t of T falls in bucket t * 8 / T). */
    uint64_t big_per_layer[DUO_EVAL_MAX_LAYERS];
    uint64_t big_per_layer_bucket[DUO_EVAL_MAX_LAYERS][DUO_EVAL_BUCKETS];
    uint64_t targets_per_bucket[DUO_EVAL_BUCKETS];
} duo_eval_result;

/* One domain under the routing. */
typedef struct duo_eval_domain_summary {
    char name[DUO_CONFIG_NAME_MAX];
    uint64_t tokens;       /* targets scored */
    uint64_t bytes;        /* bytes of text they encode */
    double loss;           /* nats per token (perplexity is exp(loss)) */
    double bits_per_byte;
    double budget;         /* mean BIG layers per token: the budget actually used */
    double skip;           /* mean SKIP layers per token */
    double flop_fraction;  /* FFN compute relative to all-big */
    double seconds;        /* wall time of this domain's evaluation */
    /* Fraction of the tokens on BIG at layer l, and the same per position
     * bucket; layers entries are used. */
    double big_per_layer[DUO_EVAL_MAX_LAYERS];
    double big_per_layer_bucket[DUO_EVAL_MAX_LAYERS][DUO_EVAL_BUCKETS];
} duo_eval_domain_summary;

typedef struct duo_eval_summary {
    char routes[DUO_EVAL_PATH_MAX + 16]; /* the routing spec evaluated */
    char checkpoint[DUO_EVAL_PATH_MAX]; /* the checkpoint evaluated */
    char device[DUO_EVAL_NAME_MAX];     /* the device it ran on */
    char path[DUO_EVAL_PATH_MAX];       /* the eval.json written */
    char bad_copy[DUO_EVAL_PATH_MAX + 8]; /* with force: where a damaged eval.json was
                                           * moved (eval.json.bad...); "" if none was */
    int layers;                         /* L */
    int n_domains;
    duo_eval_domain_summary domain[DUO_CONFIG_MAX_DOMAINS];
} duo_eval_summary;

/* Called after each domain with the summary so far: checkpoint, device and
 * layers are set, and domain[0 .. index] is done (index counts from 0). */
typedef void (*duo_eval_callback)(const struct duo_eval_summary *summary, int index, void *user);

typedef struct duo_eval_options {
    const char *run_dir;    /* a run folder with a checkpoint (duocl train) */
    const char *checkpoint; /* NULL: RUN/checkpoints/final.ckpt, else latest.ckpt */
    const char *routes;     /* the routing spec (above); required */
    size_t tokens;          /* validation tokens per domain; 0: the run's train.eval_tokens */
    const char *domains;    /* comma-separated; NULL: every domain of the run */
    size_t batch;           /* windows per forward pass; 0: the run's train.batch */
    const char *device;     /* device selector, used only when no runtime is given */
    /* An eval.json that does not parse: false, fail and leave it as it is;
     * true, move it to eval.json.bad (or .bad2, ...) and start a new one. */
    bool force;
    /* Polled between domains; nonzero: DUO_ERR_INTERRUPTED, nothing written.
     * May be NULL. */
    volatile sig_atomic_t *stop;
    duo_eval_callback callback; /* may be NULL */
    void *user;
} duo_eval_options;

/* Evaluates options->routes on the run with rt (NULL: a runtime is made on
 * options->device for the call), fills *out and merges it into RUN/eval.json.
 * A spec outside the grammar, a pattern of the wrong length or a router that
 * does not load is an error naming the spec and what is allowed. */
duo_status duo_eval_run(duo_runtime *rt, const duo_eval_options *options, duo_eval_summary *out);

#ifdef __cplusplus
}
#endif
#endif
