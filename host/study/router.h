/* Learned routers (stage 3): one linear layer per Duo layer, (d, M) weights,
 * reading the FFN input and scoring the M allowed modules. Trained with the
 * backbone frozen on the soft mixture h + sum_m P_m FFN_m(f),
 * P = softmax(beta z), beta rising over training so assignments harden, and
 *   loss = CE + alpha * mean over sequences of (u_b - k/L)^2,
 *   u_b = mean over layers and tokens of sequence b of P_big,
 * a budget over all layers per sequence (not a per-layer balance). */
#ifndef DUOCL_HOST_ROUTER_H
#define DUOCL_HOST_ROUTER_H

#include "duocl/checkpoint.h"
#include "model/model.h"
#include "oracle.h"

typedef struct duo_router {
    duo_model *model;
    duo_alphabet alphabet;  /* SB: small or big; KSB: skip, small or big */
    int M;
    int modules[3];         /* route id of each column */
    size_t n_params;        /* L * d * M */
    cl_mem weights, grads, adam_m, adam_v;
    cl_mem modules_buffer;  /* (M) int */
    cl_mem aux;             /* (batch) floats */
    size_t aux_capacity;
} duo_router;

/* A router for the model over the alphabet SB or KSB (KB is not a router
 * alphabet: without SMALL every non-big layer would skip). Weights normal(0, 0.02). */
duo_status duo_router_create(duo_model *m, duo_alphabet alphabet, uint64_t seed, duo_router **out);
void duo_router_destroy(duo_router *r);

/* The binding to hand to duo_activations_set_router. */
duo_router_binding duo_router_bind(duo_router *r, duo_router_mode mode, float beta);

typedef struct duo_router_step {
    float ce;         /* cross-entropy, nats per token */
    float penalty;    /* alpha * mean_b (u_b - k/L)^2 */
    float big_fraction; /* mean P_big over layers and tokens */
    float grad_norm;
} duo_router_step;

typedef struct duo_router_hparams {
    int budget;          /* k: target BIG layers per token */
    double alpha;        /* budget penalty weight */
    double beta;         /* this step's softmax sharpness */
    double lr;           /* this step's learning rate */
    long step;           /* from 0 (AdamW bias correction uses step + 1) */
    /* Data-parallel under MPI (collective): the batch in `a` is this rank's
     * equal share of the step's; the gradients are summed over ranks
     * (duo_comm_sum_floats, the same bits everywhere) and divided by the
     * ranks, and the step's ce, penalty and big_fraction are the ranks' mean. */
    bool sum_over_ranks;
} duo_router_hparams;

/* One training step on the batch already set in `a` (training activations):
 * soft forward, penalty, backward to the router only, AdamW (no weight decay). */
duo_status duo_router_train_step(duo_router *r, duo_activations *a, const duo_router_hparams *h,
                                 duo_router_step *out);

/* The second half of a step: the gradient norm of r->grads (into
 * *grad_norm, before clipping), then AdamW (no weight decay, clipped at 1). */
duo_status duo_router_apply_gradient(duo_router *r, const duo_router_hparams *h, float *grad_norm);

/* The penalty and its gradient on P_big for each sequence, from the (L, B*T, M)
 * probabilities of a soft forward (host). grad has B entries. */
double duo_router_penalty(const duo_router *r, const float *probs, size_t B, size_t T, int budget,
                          double alpha, float *grad);

/* Where a router's training stands, for resuming. */
typedef struct duo_router_state {
    uint64_t step;        /* steps done */
    uint64_t loader_seed; /* duo_loader_state */
    uint64_t loader_next;
} duo_router_state;

/* Router checkpoints: the model's config JSON, "router.weight" (L, d, M),
 * the u64 scalars "router.alphabet" and "router.budget", and with a state
 * also "router.adam_m", "router.adam_v" and "state.*". Atomic. */
duo_status duo_router_save(duo_router *r, const char *path, const char *config_json, int budget,
                           const duo_router_state *state);

/* Loads a router for model m; state (may be NULL) restores the optimizer and
 * the training state too (an error if the file has none). */
duo_status duo_router_load(duo_model *m, const char *path, duo_router **out, int *budget,
                           duo_router_state *state);

#endif
