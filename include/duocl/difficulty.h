/* Token difficulty (what `duocl difficulty` does; PAPER.md result 8): are the
 * tokens with high loss the ones that gain from compute? It reads the
 * per-token losses under all-small, all-big and oracle(K) that the oracle
 * wrote (RUN/oracle_tokens.bin) and the run's tokenizer; no device needed.
 * The benefit of a token is loss_small - loss_oracle(K): what the best route
 * with K BIG layers saves over running every layer small. Losses are in nats
 * per token. Text is escaped so a terminal and JSON show it safely: \n \t \r
 * \\ and \xNN for other control bytes and invalid UTF-8.
 *
 * Writes RUN/difficulty.json (or options->out; temporary file + rename): per
 * domain the statistics below, the `top` tokens with the highest benefit and
 * the `top` with the highest loss_small (each with the text before it), and
 * a passage (the first tokens of the domain) with every token's losses. */
#ifndef DUOCL_DIFFICULTY_H
#define DUOCL_DIFFICULTY_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "duocl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    DUO_DIFFICULTY_MAX_BUDGET = 31,   /* budgets are 0..L, and L < 32 */
    DUO_DIFFICULTY_MAX_DOMAINS = 64,  /* domains an oracle token file holds */
    DUO_DIFFICULTY_PATH_MAX = 1200,   /* a path buffer, NUL included */
    DUO_DIFFICULTY_MAX_SIGNALS = 72   /* cheap signals: 5 + 2 per layer */
};

/* The statistics of one domain at budget K over the tokens at window
 * positions skip_first .. ctx-1. */
typedef struct duo_difficulty_stats {
    uint64_t tokens;                /* tokens the statistics cover */
    double mean_small, mean_big, mean_oracle, mean_benefit; /* nats per token */
    double fraction_gain;           /* tokens with benefit > 0 */
    double spearman_small_benefit;  /* rank correlation of loss_small and benefit */
    double spearman_big_benefit;    /* of loss_big and benefit */
    double spearman_small_big;      /* of loss_small and loss_big */
    uint64_t top_count;             /* ceil(tokens / 10), at least 1 */
    uint64_t top_overlap;           /* of the top_count highest loss_small, how many are
                                       also among the top_count highest benefit */
} duo_difficulty_stats;

/* One token of a top list. */
typedef struct duo_difficulty_token {
    uint64_t index;        /* token i of the domain: window i / ctx, position i % ctx */
    int32_t token_id;      /* the token predicted */
    float loss_small, loss_big, loss_oracle, benefit;
    uint32_t oracle_big;   /* bit l: the oracle's route is BIG at layer l */
    const char *context;   /* escaped text before it (the window so far, last context_bytes) */
    const char *token;     /* escaped text of the token */
} duo_difficulty_token;

typedef enum duo_difficulty_event_kind {
    DUO_DIFFICULTY_EVENT_START, /* source, layers, ctx: the token file is read */
    DUO_DIFFICULTY_EVENT_DOMAIN /* a domain is done: name, stats, the top lists */
} duo_difficulty_event_kind;

typedef struct duo_difficulty_event {
    duo_difficulty_event_kind kind;
    const char *source;    /* the oracle_tokens.bin read */
    int budget, layers, ctx, skip_first;
    size_t context_bytes;
    const char *name;      /* DOMAIN */
    const duo_difficulty_stats *stats;
    /* n_top tokens each, highest first; valid during the call. */
    const duo_difficulty_token *top_benefit, *top_loss_small;
    size_t n_top;
} duo_difficulty_event;

typedef void (*duo_difficulty_callback)(const duo_difficulty_event *event, void *user);

typedef struct duo_difficulty_options {
    const char *run_dir;   /* a run on which the oracle has run (config.json, oracle_tokens.bin) */
    const char *out;       /* NULL: RUN/difficulty.json */
    int budget;            /* K: BIG layers per token; one the oracle searched */
    int skip_first;        /* positions 0..P-1 of every window are left out of the
                              statistics and top lists (little context) */
    size_t top;            /* tokens in each top list */
    size_t context_bytes;  /* bytes of text shown before each top token */
    size_t passage;        /* tokens of each domain's passage in the JSON */
    /* Polled between domains; nonzero: DUO_ERR_INTERRUPTED, nothing written.
     * May be NULL. */
    volatile sig_atomic_t *stop;
    duo_difficulty_callback callback; /* may be NULL */
    void *user;
    /* Not NULL: also the cheap signals (issue 16) on this device: per token,
     * label-free quantities of an all-small pass of the run's model
     * (entropy_small, maxprob_small, prev_loss_small, position, token_freq,
     * hidden_norm_l<l>, and router_logit_l<l> of RUN/router/k<K>-SB when it
     * exists), and per domain their Spearman correlation with the benefit:
     * "signals": {NAME: rho} in the JSON. NULL: no device is used. */
    struct duo_runtime *runtime;
} duo_difficulty_options;

/* The defaults of `duocl difficulty`: top 10, context_bytes 40, passage 400,
 * everything else 0 or NULL (run_dir and budget are the caller's). */
duo_difficulty_options duo_difficulty_default_options(void);

typedef struct duo_difficulty_domain_summary {
    char name[32];
    duo_difficulty_stats stats;
    int n_signals;                /* 0 without options.runtime */
    char signal_name[DUO_DIFFICULTY_MAX_SIGNALS][32];
    double signal_spearman[DUO_DIFFICULTY_MAX_SIGNALS]; /* with the benefit; NaN: constant */
} duo_difficulty_domain_summary;

typedef struct duo_difficulty_summary {
    char source[DUO_DIFFICULTY_PATH_MAX]; /* the oracle_tokens.bin read */
    char path[DUO_DIFFICULTY_PATH_MAX];   /* the JSON written */
    int budget, layers, ctx;
    int n_domains;
    duo_difficulty_domain_summary domain[DUO_DIFFICULTY_MAX_DOMAINS];
} duo_difficulty_summary;

/* Runs the analysis and writes the JSON. A run without oracle_tokens.bin, a
 * budget the oracle did not search (the error says which it did and the
 * command that searches it) or skip_first >= ctx is an error. */
duo_status duo_difficulty_run(const duo_difficulty_options *options, duo_difficulty_summary *out);

#ifdef __cplusplus
}
#endif
#endif
