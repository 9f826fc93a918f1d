/* Every duocl command; each lives in its own host/cli/<name>.c. */
#ifndef DUOCL_CLI_COMMANDS_H
#define DUOCL_CLI_COMMANDS_H

#include "cli.h"
#include "duocl/runtime.h"
#include "duocl/study.h"

extern const cli_command cli_devices_command;
extern const cli_command cli_selftest_command;
extern const cli_command cli_eval_command;
extern const cli_command cli_oracle_command;
extern const cli_command cli_router_command;
extern const cli_command cli_study_command;
extern const cli_command cli_difficulty_command;
extern const cli_command cli_report_command;
extern const cli_command cli_tokenizer_command;
extern const cli_command cli_prepare_command;
extern const cli_command cli_train_command;
extern const cli_command cli_bench_command;
extern const cli_command cli_tune_command;
extern const cli_command cli_kernels_command;

/* ---- the runtime options of every command that creates a runtime (kernels.c) ---- */

#define CLI_RUNTIME_OPTIONS                                                                        \
    {"gemm", "KIND", "GEMM: clblast or builtin (default: the config's model.gemm, $DUOCL_GEMM, "   \
                     "else the device's vendor profile)", NULL},                                   \
    {"kernel-binaries", "DIR", "load the kernels ready-built from DIR ('duocl kernels export') "   \
                               "instead of compiling (default: $DUOCL_KERNEL_BINARIES)", NULL},    \
    {"no-compile", NULL, "forbid compiling at run time: every kernel from --kernel-binaries, "     \
                         "the built-in GEMM", NULL}

/* Fills ro's gemm (config_gemm unless --gemm), kernel_binaries and no_compile
 * from the three CLI_RUNTIME_OPTIONS starting at `first`; false after
 * printing what is wrong. */
bool cli_runtime_options(const char *command, const cli_option *first, duo_gemm_kind config_gemm,
                         duo_runtime_options *ro);

/* ---- progress and result printers, shared by each command and duocl study ---- */

/* duocl train: a bar on a terminal (plain lines otherwise), validations,
 * checkpoints, the final table on stdout. */
typedef struct cli_train_progress {
    bool tty;
    long print_every; /* plain lines: every this many steps */
    long first_step;  /* steps done when this process started */
    int batch_tokens;
    double step_s;    /* recent seconds per step: the bar's rate and ETA */
} cli_train_progress;
void cli_train_progress_init(cli_train_progress *progress, const duo_config *config);
void cli_print_train_event(const duo_train_event *event, void *progress);

/* duocl oracle: a progress bar per domain, its table when done. */
typedef struct cli_oracle_display {
    char label[96];
    cli_progress bar;
} cli_oracle_display;
void cli_print_oracle_event(const duo_oracle_event *event, void *display);

/* The others keep no state: user is unused. */
void cli_print_router_event(const duo_router_event *event, void *user);
void cli_print_eval_domain(const duo_eval_summary *summary, int index, void *user);
void cli_print_difficulty_event(const duo_difficulty_event *event, void *user);
void cli_print_prepare_event(const duo_prepare_event *event, void *user);
void cli_print_tokenizer_event(const duo_tokenizer_train_event *event, void *user);
void cli_print_tune_event(const duo_tune_event *event, void *user);

#endif
