/* The oracle as a router's teacher (`duocl router train --teacher oracle`).
 *
 * A pool of training windows (never validation data) is searched once with
 * the oracle's pattern search (study/oracle.h): per token, the pattern with
 * exactly K BIG layers whose loss on the true next token is lowest (ties to
 * the first pattern in the search's order), kept as its BIG mask. Each step
 * takes `batch` windows of the pool (a seeded permutation, cycled), runs the
 * frozen model with every token on its oracle pattern (teacher forcing) and
 * reads the FFN input f_l of every layer, the router's input. Loss:
 *   mean over tokens and layers of CE(softmax(z_l), oracle's route at l)
 *   + alpha * mean over sequences of (u_b - K/L)^2,
 * with z_l = f_l W_l the router's logits and u_b the budget router's term
 * (study/router.h: mean of softmax(beta z)_big over the sequence's layers and
 * tokens), so that argmax routing keeps the budget as beta rises. The
 * gradient is summed on the host in a fixed order; AdamW as the budget
 * router. */
#ifndef DUOCL_HOST_ROUTER_TEACHER_H
#define DUOCL_HOST_ROUTER_TEACHER_H

#include <stdint.h>

#include "duocl/config.h"
#include "router.h"

typedef struct duo_router_teacher duo_router_teacher;

/* Reads pool_windows windows of the run's training data (a fixed loader
 * seed: every router seed learns from the same pool) and searches them at
 * the budget, `batch` windows at a time on `a` (activations of batch
 * windows; pool_windows is rounded up to a multiple of batch); seed orders
 * the pool. cache (may be NULL): a file that keeps the pool's search; read
 * instead of searching when it holds this budget, pool size, ctx, layers and
 * model_key (the caller's hash of the model file), else written. */
duo_status duo_router_teacher_create(duo_model *m, duo_activations *a, const duo_config *config,
                                     int budget, int pool_windows, uint64_t seed,
                                     const char *cache, uint64_t model_key,
                                     duo_router_teacher **out);

/* RUN/router/oracle-pool-k<K>-w<P>.bin, and the key of a model file (FNV-1a
 * of its bytes). */
duo_status duo_router_teacher_cache(const char *run_dir, int budget, int pool_windows, char *out,
                                    size_t cap);
duo_status duo_router_teacher_model_key(const char *model_path, uint64_t *key);
void duo_router_teacher_destroy(duo_router_teacher *t);

/* The pool: its windows (n_windows, ctx + 1), and per token (n_windows * ctx)
 * the oracle's BIG mask and loss. Valid while t lives. */
typedef struct duo_teacher_pool {
    const int32_t *windows;
    const uint32_t *mask;
    const float *loss;
    size_t n_windows, ctx;
} duo_teacher_pool;
void duo_router_teacher_pool(const duo_router_teacher *t, duo_teacher_pool *out);

/* One step (h->step from 0) on the pool's windows of that step. out->ce is
 * the imitation cross-entropy; *agreement the fraction of (token, layer)
 * whose argmax route is the oracle's. */
duo_status duo_router_teacher_step(duo_router_teacher *t, duo_router *r, duo_activations *a,
                                   const duo_router_hparams *h, duo_router_step *out,
                                   double *agreement);

#endif
