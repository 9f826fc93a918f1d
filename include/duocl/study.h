/* The whole study from a config, as resumable stages, each one library call:
 *   tune        CLBlast's GEMM tuners, once per machine (when the device has
 *               no stored parameters; duocl/tune.h)
 *   data        corpora (o->fetch_command when missing), tokenizer, token
 *               shards (duocl/data.h)
 *   train       stage 1, random routes; resumes an interrupted run (duocl/train.h)
 *   eval        all-big, all-small and random routes on the oracle's tokens
 *               (duocl/eval.h)
 *   oracle      every budget (duocl/oracle.h)
 *   router-kK   a router at K = L/3, L/2, 2L/3, then evaluated with argmax and
 *               exact-K routing (duocl/router.h)
 *   difficulty  budget 1 (difficulty-k1.json) and L/2 (difficulty.json)
 *               (duocl/difficulty.h)
 *   report      RUN/report.html (duocl/report.h)
 * A finished stage leaves RUN/study/<stage>.done holding a key of its inputs
 * (the resolved config, its own settings, the keys of the stages whose
 * results it reads); a later call skips stages whose key matches and reruns
 * the rest, so an interrupted study continues and a changed setting redoes
 * only what depends on it. Never prints: every stage reports through the
 * callbacks below (each may be NULL; all get `user`). */
#ifndef DUOCL_STUDY_H
#define DUOCL_STUDY_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "duocl/data.h"
#include "duocl/difficulty.h"
#include "duocl/eval.h"
#include "duocl/oracle.h"
#include "duocl/report.h"
#include "duocl/router.h"
#include "duocl/status.h"
#include "duocl/train.h"
#include "duocl/tune.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum duo_study_event_kind {
    DUO_STUDY_STAGE_SKIPPED, /* its marker matches: done before */
    DUO_STUDY_STAGE_RUNNING,
    DUO_STUDY_STAGE_DONE,    /* stage_seconds */
    DUO_STUDY_STAGE_FAILED,  /* note: the error; calling again continues */
    DUO_STUDY_NOTE,          /* note: what a stage found or is doing */
    DUO_STUDY_FINISHED       /* every stage is done */
} duo_study_event_kind;

typedef struct duo_study_event {
    duo_study_event_kind kind;
    int index, count;        /* stage index (1-based) of count */
    const char *stage;       /* "train", "router-k2", ...; NULL for FINISHED */
    double study_seconds;    /* since this call started */
    double stage_seconds;    /* DONE, FAILED */
    const char *note;        /* NOTE, FAILED */
    const char *run_dir;
} duo_study_event;

typedef struct duo_study_options {
    const char *run_dir;       /* NULL: runs/<config file's stem> */
    const char *device;        /* device selector; NULL: the default device */
    size_t oracle_tokens;      /* validation tokens per domain for eval and oracle */
    int router_steps;          /* steps of each router's training */
    int router_batch;          /* windows per router training step */
    /* Issue 16: the oracle-taught routers' and the signal router's training
     * windows searched by the oracle (duo_study_defaults: 32). */
    int teacher_windows;
    bool tune;                 /* run the tune stage */
    /* The duocl executable the tune stage starts for its timing processes
     * (duo_tune_options.program); NULL: this program, right for duocl itself.
     * A program that is not duocl and tunes must set it. */
    const char *tune_program;
    /* Run (by the shell) when the corpora are missing, e.g.
     * "python3 scripts/fetch_corpora.py"; NULL: missing corpora are an error. */
    const char *fetch_command;
    /* Polled by the long stages; nonzero: the running stage saves what it can
     * and DUO_ERR_INTERRUPTED is returned. May be NULL. */
    volatile sig_atomic_t *stop;
    void (*on_stage)(const duo_study_event *event, void *user);
    duo_tune_callback on_tune;
    duo_tokenizer_train_callback on_tokenizer;
    duo_prepare_callback on_prepare;
    duo_train_callback on_train;
    duo_eval_callback on_eval;
    duo_oracle_callback on_oracle;
    duo_router_callback on_router;
    duo_difficulty_callback on_difficulty;
    void (*on_report_warning)(const char *message, void *user);
    void *user;
} duo_study_options;

/* `duocl study`'s defaults: 4096 oracle tokens, routers 100 steps of 4
 * windows, tuning on, everything else NULL. */
void duo_study_defaults(duo_study_options *options);

/* "configs/quickstart.json" -> "runs/quickstart". */
void duo_study_default_run_dir(const char *config_path, char *out, size_t cap);

/* Runs (or continues) the study of a config file. */
duo_status duo_study(const char *config_path, const duo_study_options *options);

#ifdef __cplusplus
}
#endif
#endif
