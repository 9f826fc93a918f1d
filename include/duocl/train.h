/* Stage-1 Duo training as a library function: the whole run of `duocl train`
 * (data, routes, steps, validation, checkpoints, resume), with progress
 * reported through a callback. It never prints.
 *
 * Step numbering: the k-th step of a run (k = 1..steps) is duo_train_step's
 * step k - 1, which sets its learning rate, AdamW's bias correction and its
 * routes (the counter-based generator at seed train.seed, step k - 1). Log
 * records, validations and checkpoints carry k, the number of steps done.
 *
 * The run directory holds:
 *   config.json              the resolved config (every default filled in)
 *   log.jsonl                one JSON object per line:
 *     {"type":"train","step":k,"loss":..,"lr":..,"grad_norm":..,"tokens_per_s":..,"elapsed_s":..}
 *     {"type":"eval","step":k,"domain":"web","routes":"big"|"random"|"small","loss":..,
 *      "bits_per_byte":..,"tokens":..,"bytes":..,"budget":..}
 *     (floats as %.9g, so a loss read back is the float that was computed)
 *   checkpoints/latest.ckpt  every ckpt_every steps, on Ctrl-C and at the end
 *   checkpoints/final.ckpt   at the end
 * Validation (duo_evaluate on eval_tokens per domain, under all-big, random
 * routes with the training probabilities and the fixed DUO_EVAL_ROUTE_SEED,
 * and all-small) runs every eval_every steps and at the end, before that
 * step's checkpoint.
 *
 * Resume reads checkpoints/latest.ckpt (parameters, AdamW moments, step,
 * loader state; routes are a function of the step) and continues bit-exactly:
 * the losses are those of an uninterrupted run. Its config must equal the
 * checkpoint's except train.steps; log records past the checkpoint's step
 * (written before a crash) are dropped. */
#ifndef DUOCL_TRAIN_H
#define DUOCL_TRAIN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "duocl/config.h"
#include "duocl/eval.h"
#include "duocl/runtime.h"
#include "duocl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What one optimizer step did. */
typedef struct duo_step_result {
    float loss;        /* mean cross-entropy of the batch, nats per token */
    float grad_norm;   /* global L2 norm before clipping */
    float clip_factor; /* what the gradients were multiplied by (1: not clipped) */
    double lr;         /* this step's learning rate */
} duo_step_result;

/* The routings of periodic validation, in this order. */
typedef enum duo_train_eval_mode {
    DUO_TRAIN_EVAL_BIG = 0,
    DUO_TRAIN_EVAL_RANDOM = 1,
    DUO_TRAIN_EVAL_SMALL = 2,
    DUO_TRAIN_EVAL_MODES = 3
} duo_train_eval_mode;

/* "big", "random", "small". */
const char *duo_train_eval_mode_name(duo_train_eval_mode mode);

typedef struct duo_train_eval {
    long step;
    int n_domains;
    const char *domain[DUO_CONFIG_MAX_DOMAINS];
    duo_eval_result result[DUO_TRAIN_EVAL_MODES][DUO_CONFIG_MAX_DOMAINS];
} duo_train_eval;

typedef enum duo_train_event_kind {
    DUO_TRAIN_EVENT_START,      /* ready; step = steps already done (resume) */
    DUO_TRAIN_EVENT_STEP,       /* a step is done: result, tokens_per_s */
    DUO_TRAIN_EVENT_EVAL,       /* a validation is done: eval */
    DUO_TRAIN_EVENT_CHECKPOINT, /* checkpoint written: path */
    DUO_TRAIN_EVENT_DONE        /* every step done; eval is the last validation */
} duo_train_event_kind;

typedef struct duo_train_event {
    duo_train_event_kind kind;
    long step;                 /* steps done */
    long steps;                /* train.steps */
    bool resumed;              /* this process continued a checkpoint */
    size_t n_params;           /* trainable floats */
    duo_step_result result;    /* STEP */
    double tokens_per_s;       /* STEP: this step's B*T / its wall time */
    double train_tokens_per_s; /* mean over this process's steps after its first (which
                                  compiles the kernels); steps only, not validation */
    double elapsed_s;          /* wall time of the run, across resumes */
    const duo_train_eval *eval; /* EVAL, DONE */
    const char *path;          /* CHECKPOINT */
    /* DONE, with several ranks (include/duocl/comm.h) or gradient shards
     * (train.grad_shards): this rank's seconds in the gradient sum's three
     * parts over this process's steps: reading the gradients to the host,
     * adding the shards (over ranks: waiting for the slowest rank included),
     * writing them back. 0 with one shard on one rank. */
    double grad_read_s, grad_sum_s, grad_write_s;
} duo_train_event;

typedef void (*duo_train_callback)(const duo_train_event *event, void *user);

typedef struct duo_train_options {
    const char *run_dir;        /* created if missing */
    bool resume;                /* continue checkpoints/latest.ckpt */
    /* Polled after every step; nonzero: write a checkpoint and return
     * DUO_ERR_INTERRUPTED (a SIGINT handler sets it). May be NULL. */
    volatile sig_atomic_t *stop;
    duo_train_callback callback; /* may be NULL */
    void *user;
} duo_train_options;

/* Runs (or resumes) the training run of a validated config. Errors name what
 * failed: a missing shard, a config that differs from the checkpoint's (the
 * key), a NaN or infinite loss (the step, and the last good checkpoint, which
 * is kept), DUO_ERR_INTERRUPTED after a requested stop (the checkpoint). A
 * fresh run refuses a run directory that already holds a checkpoint. */
duo_status duo_train(duo_runtime *rt, const duo_config *config, const duo_train_options *options);

#ifdef __cplusplus
}
#endif
#endif
