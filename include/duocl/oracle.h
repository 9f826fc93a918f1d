/* The oracle on a trained run (what `duocl oracle` does): for each budget k
 * (the number of BIG layers of a token's route) every route pattern with k
 * BIG layers is applied to every token of the validation windows. Per domain
 * and budget:
 *   oracle   the per-token best pattern (needs the labels: an upper bound for
 *            any router),
 *   fixed    the best single pattern,
 *   random   the best of random_n patterns drawn at random,
 *   mean     the mean over all patterns,
 * where the oracle's BIG layers go, and the varying-budget experiment: a
 * per-token budget falling linearly along the sequence against the constant
 * budget of the same mean. Writes RUN/oracle.json and RUN/oracle_tokens.bin
 * (every token's losses, read by the difficulty analysis), each only when
 * complete (temporary file + rename).
 *
 * Alphabets: SB (small or big at every layer), KB (skip or big), KSB (skip,
 * small or big). The budget counts BIG layers only: skips are free. */
#ifndef DUOCL_ORACLE_H
#define DUOCL_ORACLE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duocl/config.h"
#include "duocl/eval.h"
#include "duocl/runtime.h"
#include "duocl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum duo_alphabet {
    DUO_ALPHABET_SB,  /* SMALL or BIG at every layer (the paper's main setting) */
    DUO_ALPHABET_KB,  /* SKIP or BIG */
    DUO_ALPHABET_KSB  /* SKIP, SMALL or BIG */
} duo_alphabet;

/* "SB", "KB", "KSB"; parse returns false for anything else. */
const char *duo_alphabet_name(duo_alphabet alphabet);
bool duo_alphabet_parse(const char *text, duo_alphabet *out);

enum {
    DUO_ORACLE_MAX_LAYERS = 12,       /* the search is exponential in L */
    DUO_ORACLE_BUCKETS = 8,           /* position t of T is in bucket t * 8 / T */
    DUO_ORACLE_DEFAULT_TOKENS = 8192, /* validation tokens per domain */
    DUO_ORACLE_DEFAULT_RANDOM = 100   /* N of random-N */
};

/* A mean loss and the same in bits per byte of the domain's text. */
typedef struct duo_oracle_score {
    double loss; /* nats per token */
    double bits_per_byte;
} duo_oracle_score;

typedef struct duo_oracle_budget_summary {
    int k;                  /* BIG layers per token */
    int patterns;           /* patterns with this budget */
    duo_oracle_score oracle, fixed, random, mean_all;
    char fixed_pattern[DUO_ORACLE_MAX_LAYERS + 1];  /* "SBBS": S small, B big, K skip */
    double fixed_flop_fraction;                     /* its FFN compute relative to all-big */
    char random_pattern[DUO_ORACLE_MAX_LAYERS + 1]; /* the best random draw */
    /* The oracle's choices: fraction of tokens on BIG at layer l, and the
     * same per position bucket. */
    double big_per_layer[DUO_ORACLE_MAX_LAYERS];
    double big_per_layer_bucket[DUO_ORACLE_MAX_LAYERS][DUO_ORACLE_BUCKETS];
    /* Label-free selectors (issue 16): per token the pattern whose prediction
     * has the lowest entropy (min_entropy, the "confidence oracle") or the
     * highest max-probability (max_prob), scored on the true token. The
     * selection-only control: fixed minus what the oracle gains over its
     * fixed pattern against labels drawn from the all-big prediction
     * (pseudo_fixed - pseudo_oracle, nats; study/oracle_select.h). */
    duo_oracle_score min_entropy, max_prob, control;
    double pseudo_fixed, pseudo_oracle;
} duo_oracle_budget_summary;

/* Budget k(t) falling linearly from `from` at the first position to `to` at
 * the last (rounded), against the constant budget round(mean k). */
typedef struct duo_oracle_varying {
    int from, to;
    double mean_budget;
    duo_oracle_score varying;  /* the oracle at k(t) */
    int constant_budget;
    bool has_constant;         /* constant_budget was searched */
    duo_oracle_score constant; /* the oracle at constant_budget */
} duo_oracle_varying;

typedef struct duo_oracle_domain_summary {
    char name[DUO_CONFIG_NAME_MAX];
    uint64_t tokens;      /* tokens scored: whole windows */
    uint64_t bytes;       /* bytes of their text (the domain's bytes per token x tokens) */
    duo_oracle_score all_small, all_big;
    double pseudo_temperature; /* the selection-only control's calibration of all-big (mean T) */
    bool searched[DUO_ORACLE_MAX_LAYERS + 1];
    duo_oracle_budget_summary budget[DUO_ORACLE_MAX_LAYERS + 1]; /* [k], where searched */
    bool has_varying;     /* every budget k(t) of the experiment was searched */
    duo_oracle_varying varying;
    uint64_t layer_evals;       /* layer forwards run */
    uint64_t naive_layer_evals; /* what running every pattern from scratch costs */
} duo_oracle_domain_summary;

typedef struct duo_oracle_summary {
    char checkpoint[DUO_EVAL_PATH_MAX];
    char device[DUO_EVAL_NAME_MAX];
    char path[DUO_EVAL_PATH_MAX];        /* the oracle.json written */
    char tokens_path[DUO_EVAL_PATH_MAX]; /* the oracle_tokens.bin written */
    duo_alphabet alphabet;
    int random_n;
    int layers, ctx;
    int n_domains;
    duo_oracle_domain_summary domain[DUO_CONFIG_MAX_DOMAINS];
    uint64_t layer_evals, naive_layer_evals; /* over every domain */
} duo_oracle_summary;

typedef enum duo_oracle_event_kind {
    DUO_ORACLE_EVENT_DOMAIN_START, /* index, name: a domain's search begins */
    DUO_ORACLE_EVENT_PATTERNS,     /* done of total patterns x batches of this domain */
    DUO_ORACLE_EVENT_DOMAIN_DONE,  /* domain: its results */
    DUO_ORACLE_EVENT_SEARCHED      /* summary: every domain done; the files are written next */
} duo_oracle_event_kind;

typedef struct duo_oracle_event {
    duo_oracle_event_kind kind;
    int index, n_domains;
    const char *name;
    uint64_t done, total;
    const duo_oracle_domain_summary *domain;
    const duo_oracle_summary *summary;
} duo_oracle_event;

typedef void (*duo_oracle_callback)(const duo_oracle_event *event, void *user);

typedef struct duo_oracle_options {
    const char *run_dir;    /* a run folder with a checkpoint (duocl train) */
    const char *checkpoint; /* NULL: RUN/checkpoints/final.ckpt, else latest.ckpt */
    size_t tokens;          /* validation tokens per domain; 0: DUO_ORACLE_DEFAULT_TOKENS */
    const char *domains;    /* comma-separated; NULL: every domain of the run */
    size_t batch;           /* windows per forward pass; 0: the run's train.batch */
    const char *device;     /* device selector, used only when no runtime is given */
    duo_alphabet alphabet;
    uint64_t budgets;       /* bit k: search budget k (k <= L); 0: every budget 0..L */
    int random_n;           /* 0: DUO_ORACLE_DEFAULT_RANDOM */
    bool vary;              /* false: the varying budget falls from L/2 to L/6 (rounded) */
    int vary_from, vary_to; /* with vary: from and to, each 0..L */
    bool no_prefix_sharing; /* run every pattern from scratch (slower; the same bits) */
    /* Polled after every pattern; nonzero: DUO_ERR_INTERRUPTED, nothing written.
     * May be NULL. */
    volatile sig_atomic_t *stop;
    duo_oracle_callback callback; /* may be NULL */
    void *user;
} duo_oracle_options;

/* Runs the oracle on every domain of the run with rt (NULL: a runtime is made
 * on options->device for the call), fills *out (about 200 KB: allocate it)
 * and writes RUN/oracle_tokens.bin and RUN/oracle.json. */
duo_status duo_oracle_run(duo_runtime *rt, const duo_oracle_options *options,
                          duo_oracle_summary *out);

#ifdef __cplusplus
}
#endif
#endif
