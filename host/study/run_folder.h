/* The run folder: paths of its files (their names are in run_files.h),
 * checkpoint choice, and opening a run for analysis (its config, its model
 * from a checkpoint, its tokenizer and its validation data). */
#ifndef DUOCL_HOST_RUN_FOLDER_H
#define DUOCL_HOST_RUN_FOLDER_H

#include <stddef.h>
#include <stdint.h>

#include "duocl/config.h"
#include "duocl/data.h"
#include "duocl/tokenizer.h"
#include "evaluate.h"
#include "model/model.h"
#include "run_files.h"

/* out = dir/name; DUO_ERR_INVALID_ARGUMENT when it does not fit in cap. */
duo_status duo_run_path(const char *dir, const char *name, char *out, size_t cap);

/* out = dir/router/k<budget>-<alphabet> (alphabet "SB", "KSB"). */
duo_status duo_run_router_dir(const char *dir, int budget, const char *alphabet, char *out,
                              size_t cap);

/* The checkpoint to analyse: `given` when not NULL, else
 * dir/checkpoints/final.ckpt, else dir/checkpoints/latest.ckpt; an error
 * naming both when neither exists. */
duo_status duo_run_find_checkpoint(const char *dir, const char *given, char *out, size_t cap);

/* The tokenizer a config names ("byte" or a tokenizer file), checked against
 * model.vocab. */
duo_status duo_run_open_tokenizer(const duo_config *config, duo_tokenizer **out);

/* The training data loader of a config: every domain of train.domains with
 * its weight, windows of model.ctx + 1 tokens, in the order of `seed`. */
duo_status duo_run_open_loader(const duo_config *config, uint64_t seed, duo_loader **out);

/* Splits B windows of T + 1 tokens into inputs (B, T) and targets (B, T),
 * the targets shifted by one. */
void duo_split_windows(const int32_t *windows, int B, int T, int32_t *inputs, int32_t *targets);

/* Keeps the complete records of a JSON-lines log whose "step" is <= step (a
 * crash may have left later ones, or half a line), through
 * duo_write_file_atomic (temporary file, fsync, rename, fsync of the folder);
 * returns the last kept "elapsed_s" (0 when none). A missing log is not an
 * error; a log that is not a regular file of at most 1 GiB is. */
duo_status duo_run_log_trim(const char *path, long step, double *elapsed);

/* A run opened for analysis. */
typedef struct duo_run {
    char dir[1024];
    char checkpoint[1200];
    duo_config config;
    duo_runtime *rt;
    duo_model *model;
    duo_tokenizer *tokenizer;
    duo_eval_data *data;
} duo_run;

/* Opens RUN: its checkpoint (duo_run_find_checkpoint), a runtime on `device`
 * (a selector; NULL: the default device), the model, the tokenizer and
 * eval_tokens validation targets per domain (0: the config's
 * train.eval_tokens), only of the domains listed in `domains`
 * (comma-separated) when it is not NULL. */
duo_status duo_run_open(const char *dir, const char *checkpoint, const char *device,
                        size_t eval_tokens, const char *domains, duo_run *run);
void duo_run_close(duo_run *run);

/* A training step of `what` ("training", "router training") that failed:
 * a NaN or infinite loss (DUO_ERR_NUMERIC) is told in this numbering
 * (`done` = steps done with it, of `steps`; the step's own message counts
 * from 0) with the last good checkpoint (`latest`, at saved_step; -1: none
 * yet); any other status is returned as it is. */
duo_status duo_run_step_failed(duo_status status, const char *what, long done, long steps,
                               const char *latest, long saved_step);

/* FFN compute of a pattern ("SSBK...") relative to all-big. */
double duo_pattern_flop_fraction(const char *pattern, int ffn_big, int ffn_small);

/* As duo_run_open, on a runtime the caller keeps: run->rt stays NULL, so
 * duo_run_close leaves the runtime alone (close the run before destroying it). */
duo_status duo_run_open_on(duo_runtime *rt, const char *dir, const char *checkpoint,
                           size_t eval_tokens, const char *domains, duo_run *run);

#endif
