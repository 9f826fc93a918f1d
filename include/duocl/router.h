/* Router training (stage 3 of the study): a linear router per layer, trained
 * on a frozen stage-1 model to send each token's FFN to a module under a
 * compute budget. A library function with progress events and a stop flag,
 * as stage-1 training; it never prints.
 *
 * The router of layer l scores the M allowed modules from the FFN input
 * (alphabet SB: small or big; KSB: skip, small or big). While training, every
 * token runs every allowed module and the layer output is the mixture
 * h + sum_m P_m FFN_m(f), P = softmax(beta z); beta rises geometrically from
 * beta_start at the first step to beta_end at the last, so the assignments
 * harden. Loss = CE + alpha * mean over sequences of
 * (mean P_big over layers and tokens - budget/L)^2; AdamW (no weight decay,
 * gradient norm clipped at 1). Batches are windows of the run's training data.
 *
 * The k-th step (k = 1..steps) uses beta at (k-1)/(steps-1) of the schedule
 * and AdamW step k; log records and checkpoints carry k, the steps done.
 * A run writes RUN/router/k<budget>-<alphabet>/ (duo_router_train_dir):
 *   router.ckpt  the router (weights, alphabet, budget, the model's config),
 *                at the end; `duocl eval RUN --routes router:PATH` reads it
 *   latest.ckpt  resumable (also AdamW moments, steps done, data position):
 *                every checkpoint_every steps, on a stop and at the end
 *   log.jsonl    one line per step, floats as %.9g:
 *     {"step":k,"ce":..,"penalty":..,"big_fraction":..,"target":..,"beta":..,"grad_norm":..}
 * A fresh run starts the folder over. Resume continues latest.ckpt bit-exactly
 * (the log and router.ckpt are those of an uninterrupted run) and first drops
 * the log records past the checkpoint's step (written before a crash), so
 * each step appears once. */
#ifndef DUOCL_ROUTER_H
#define DUOCL_ROUTER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duocl/runtime.h"
#include "duocl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum duo_router_event_kind {
    DUO_ROUTER_EVENT_START,      /* ready: step = steps already done (resume) */
    DUO_ROUTER_EVENT_STEP,       /* a step is done: ce .. grad_norm */
    DUO_ROUTER_EVENT_CHECKPOINT, /* a checkpoint was written: path */
    DUO_ROUTER_EVENT_DONE        /* every step done: path is router.ckpt */
} duo_router_event_kind;

typedef struct duo_router_event {
    duo_router_event_kind kind;
    long step;          /* steps done */
    long steps;         /* options.steps */
    long first_step;    /* steps done when this call started */
    bool resumed;       /* this call continued latest.ckpt */
    int budget, layers; /* K and the model's L */
    const char *dir;    /* the router's folder */
    double ce;          /* STEP: cross-entropy, nats per token */
    double penalty;     /* STEP: alpha * mean_b (u_b - K/L)^2 */
    double big_fraction; /* STEP: mean P_big over layers and tokens */
    double target;      /* K/L */
    double beta;        /* STEP: this step's softmax sharpness */
    double grad_norm;   /* STEP: before clipping */
    double elapsed_s;   /* wall time since START, this call only */
    const char *path;   /* CHECKPOINT, DONE */
} duo_router_event;

/* Pointers in the event are valid during the call only. */
typedef void (*duo_router_callback)(const duo_router_event *event, void *user);

typedef struct duo_router_train_options {
    int budget;             /* K: target BIG layers per token, 0..L; required (default -1) */
    const char *alphabet;   /* "SB" or "KSB" (NULL: "SB") */
    double alpha;           /* budget penalty weight, 0..1e6 */
    int steps;              /* 1..1e7 */
    double beta_start;      /* softmax sharpness at the first step, 0.001..10000 */
    double beta_end;        /* at the last step, 0.001..10000 */
    double lr;              /* AdamW learning rate, 0..1 */
    int batch;              /* windows per step, 1..4096 */
    uint64_t seed;          /* router initialisation and data order */
    bool resume;            /* continue the router folder's latest.ckpt */
    const char *checkpoint; /* the model; NULL: RUN/checkpoints/final.ckpt, else latest.ckpt */
    int checkpoint_every;   /* latest.ckpt every this many steps; 0: only on a stop and at the end */
    /* Polled after every step; nonzero: write latest.ckpt and return
     * DUO_ERR_INTERRUPTED (a SIGINT handler sets it). May be NULL. */
    volatile sig_atomic_t *stop;
    duo_router_callback callback; /* may be NULL */
    void *user;
    /* What the router learns from: "budget" (NULL: the loss above) or
     * "oracle": imitate the oracle's per-token BIG masks at the budget,
     * searched on teacher_windows windows of the training data (never
     * validation data); see study/router_teacher.h. SB only. */
    const char *teacher;
    int teacher_windows;    /* 1..65536; 0: 64 */
} duo_router_train_options;

/* The router's folder: RUN/router/k<K>-<A>[-oracle][-s<S>] ("-oracle" for
 * the oracle teacher, "-s<S>" when the seed is not 1), so that routers of
 * other teachers and seeds sit side by side. */
duo_status duo_router_train_dir(const char *run_dir, const duo_router_train_options *options,
                                char *out, size_t cap);

/* The defaults of `duocl router train`: budget -1 (to be set), SB, alpha 10,
 * 150 steps, beta 1 to 20, lr 3e-3, batch 8, seed 1, checkpoint every 50. */
void duo_router_train_defaults(duo_router_train_options *options);

/* Trains (or resumes) the router of run_dir's model at options->budget.
 * Errors name the option and what is allowed ("--budget 9: the model has 4
 * layers"), a missing checkpoint, a latest.ckpt of another budget or
 * alphabet, a NaN loss (the step), DUO_ERR_INTERRUPTED after a stop (the
 * checkpoint to resume). */
duo_status duo_router_train(duo_runtime *rt, const char *run_dir,
                            const duo_router_train_options *options);

/* The signal router (issue 16), a baseline: BIG at layer l when one cheap
 * signal (entropy_small, maxprob_small, prev_loss_small, position,
 * token_freq, hidden_norm_l<l>, router_logit_l<l>; see `duocl difficulty
 * --signals`) times its sign exceeds a threshold per layer. Fitted on
 * teacher_windows windows of the training data: the oracle at the budget
 * gives each token's benefit and the fraction q_l of tokens BIG at layer l;
 * the signal is the one with the largest |Spearman| with the benefit there
 * (or `signal`), threshold_l leaves a fraction q_l of the windows' tokens
 * above it (so the mean budget is K there). Writes
 * RUN/router/k<K>-SB-signal/signal.json; evaluate with
 * `duocl eval RUN --routes signal:RUN/router/k<K>-SB-signal/signal.json`. */
typedef struct duo_signal_router_options {
    int budget;          /* K, 0..L */
    int teacher_windows; /* 0: 64 */
    uint64_t seed;       /* which training windows; 0: 1 */
    const char *signal;  /* NULL: the best */
} duo_signal_router_options;

typedef struct duo_signal_router_summary {
    char dir[1200], path[1300];
    char signal[32];
    int sign;            /* +1: more signal, more BIG */
    double spearman;     /* with the benefit on the training windows */
    int layers;
    double thresholds[32], fractions[32];
} duo_signal_router_summary;

duo_status duo_signal_router_train(duo_runtime *rt, const char *run_dir,
                                   const duo_signal_router_options *options,
                                   duo_signal_router_summary *out);

#ifdef __cplusplus
}
#endif
#endif
