/* Every duocl command; each lives in its own host/cli/<name>.c. */
#ifndef DUOCL_CLI_COMMANDS_H
#define DUOCL_CLI_COMMANDS_H

#include "cli.h"

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

#endif
