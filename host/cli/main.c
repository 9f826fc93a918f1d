/* duocl: the command-line entry point. Dispatches to one command per file. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "duocl/comm.h"

static const cli_command *const commands[] = {
    &cli_devices_command,
    &cli_selftest_command,
    &cli_tokenizer_command,
    &cli_prepare_command,
    &cli_train_command,
    &cli_eval_command,
    &cli_oracle_command,
    &cli_router_command,
    &cli_difficulty_command,
    &cli_report_command,
    &cli_study_command,
    &cli_bench_command,
    &cli_tune_command,
    &cli_kernels_command,
};
enum { COMMAND_COUNT = sizeof commands / sizeof commands[0] };

static void print_usage(FILE *out)
{
    fprintf(out, "duocl %s: train, route and study Duo-LLM models on any OpenCL device\n\n"
                 "usage: duocl COMMAND [options]   (duocl COMMAND --help for its options)\n\n"
                 "commands:\n",
            DUOCL_VERSION);
    for (int i = 0; i < COMMAND_COUNT; i++)
        fprintf(out, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out, "\nenvironment:\n"
                 "  DUOCL_DEVICE      device selector used when --device is not given\n"
                 "  DUOCL_KERNEL_DIR  load kernels/*.cl from this folder instead of the binary\n"
                 "  DUOCL_GEMM        clblast or builtin, where no --gemm or config says\n"
                 "  DUOCL_KERNEL_BINARIES  ready-built programs ('duocl kernels export')\n"
                 "  DUOCL_NO_COMPILE  1: never compile kernels at run time\n"
                 "  POCL_CACHE_DIR    PoCL's kernel cache (default: ~/.cache/duocl/pocl)\n");
}

static int run_command(int argc, char **argv);

/* Under mpirun every rank runs the same command: rank 0 prints, the others'
 * stdout goes nowhere (their errors still reach stderr, "rank R:" first, see
 * cli_report). A rank that fails stops the others (duo_comm_abort), since
 * they may be waiting for it in a collective. */
int main(int argc, char **argv)
{
    /* Line by line, so that results (stdout) and progress (stderr) sent to one
     * log file keep the order they were written in. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    duo_status status = duo_comm_init(&argc, &argv);
    if (status != DUO_OK)
        return cli_report(status);
    if (duo_comm_rank() != 0 && !freopen("/dev/null", "w", stdout))
        fprintf(stderr, "duocl: rank %d: cannot silence stdout\n", duo_comm_rank());
    int code = run_command(argc, argv);
    if (code != CLI_OK && duo_comm_size() > 1 && !duo_comm_failed_together()) {
        fflush(stdout);
        fflush(stderr);
        duo_comm_abort(code);
    }
    duo_comm_finalize();
    return code;
}

static int run_command(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return CLI_USER_ERROR;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("duocl %s\n", DUOCL_VERSION);
        return CLI_OK;
    }
    for (int i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(name, commands[i]->name) == 0) {
            int code = commands[i]->run(argc - 1, argv + 1);
            return code == CLI_HELP_SHOWN ? CLI_OK : code;
        }
    const char *best = NULL;
    int best_distance = 4;
    for (int i = 0; i < COMMAND_COUNT; i++) {
        int d = cli_edit_distance(name, commands[i]->name);
        if (d < best_distance) {
            best_distance = d;
            best = commands[i]->name;
        }
    }
    fprintf(stderr, "duocl: unknown command '%s'", name);
    if (best)
        fprintf(stderr, "; did you mean '%s'?", best);
    fprintf(stderr, " (see 'duocl --help')\n");
    return CLI_USER_ERROR;
}
