/* A run directory as the analysis commands see it: its config, its model
 * (from a checkpoint), its tokenizer and its validation data. */
#ifndef DUOCL_CLI_RUN_H
#define DUOCL_CLI_RUN_H

#include "duocl/config.h"
#include "duocl/tokenizer.h"
#include "study/evaluate.h"
#include "model/model.h"

typedef struct cli_run {
    char dir[1024];
    char checkpoint[1200];
    duo_config config;
    duo_runtime *rt;
    duo_model *model;
    duo_tokenizer *tokenizer;
    duo_eval_data *data;
} cli_run;

/* Opens RUN: the checkpoint given, else RUN/checkpoints/final.ckpt, else
 * RUN/checkpoints/latest.ckpt; the device; the tokenizer of the config; and
 * eval_tokens validation targets per domain (0: the config's train.eval_tokens;
 * only domains listed in
 * `domains`, comma-separated, when it is not NULL). */
duo_status cli_run_open(const char *dir, const char *checkpoint, const char *device,
                        size_t eval_tokens, const char *domains, cli_run *run);
void cli_run_close(cli_run *run);

/* Writes a cJSON document to path atomically (temporary file + rename). */
duo_status cli_write_json(const char *path, void *cjson_document);

/* Loss in nats per token -> bits per byte, given the tokens and bytes scored. */
double cli_bits_per_byte(double nats_per_token, uint64_t tokens, uint64_t bytes);

/* FFN compute of a pattern ("SSBK...") relative to all-big. */
double cli_flop_fraction(const char *pattern, int ffn_big, int ffn_small);

/* A progress line on stderr: "\r<label> done/total ETA", at most a few per second. */
typedef struct cli_progress {
    const char *label;
    double start, last;
} cli_progress;
void cli_progress_update(cli_progress *p, uint64_t done, uint64_t total);
void cli_progress_end(cli_progress *p);

#endif
