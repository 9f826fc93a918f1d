/* Shared pieces of the duocl command-line tool: option parsing, exit codes
 * and error reporting. Only the CLI prints and exits; the library never does. */
#ifndef DUOCL_CLI_H
#define DUOCL_CLI_H

#include <stdbool.h>

#include <signal.h>
#include <stdint.h>

#include "duocl/status.h"

enum { CLI_OK = 0, CLI_USER_ERROR = 1, CLI_INTERNAL_ERROR = 2, CLI_HELP_SHOWN = -1 };

typedef struct cli_option {
    const char *name;     /* "device" for --device */
    const char *metavar;  /* "D" for an option with a value; NULL for a flag */
    const char *help;
    const char *value;    /* filled in: the value, or "1" for a flag that was given */
} cli_option;

typedef struct cli_command {
    const char *name;
    const char *usage;    /* "duocl devices [--json]" */
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_command;

/* Parses argv[1..] of a command. Fills option values and up to max_positional
 * positionals. Returns CLI_OK, CLI_HELP_SHOWN after printing --help, or
 * CLI_USER_ERROR after printing what was wrong (with a hint). */
int cli_parse(const cli_command *command, int argc, char **argv, cli_option *options,
              int option_count, const char **positionals, int min_positional,
              int max_positional, const char *positional_help);

/* Prints "duocl: error: <message>" for a failed status and returns its exit code. */
int cli_report(duo_status status);

/* The exit code for a status: 1 for bad input, 2 for internal failures. */
int cli_exit_code(duo_status status);

/* An option's value as a whole number (decimal digits, no exponent) or a
 * real number from lo to hi. true with *out set, or true with *out
 * unchanged when the option was not given; false after printing
 * "duocl COMMAND: --NAME 'VALUE': allowed a whole number from LO to HI". */
bool cli_whole(const char *command, const cli_option *option, long lo, long hi, long *out);
/* Upper bounds of --batch (sequences; the device's memory decides what
 * fits) and --tokens (per domain). */
#define CLI_MAX_BATCH (1L << 24)
#define CLI_MAX_TOKENS (1L << 40)
bool cli_real(const char *command, const cli_option *option, double lo, double hi, double *out);

/* --device if given, else $DUOCL_DEVICE, else NULL (the default device). */
const char *cli_device_selector(const cli_option *device_option);

/* The device selector of this rank (include/duocl/comm.h) for a command's
 * selector (cli_device_selector's): a comma list gives rank r entry r mod n
 * (with one rank, the first); one selector with several ranks gives the
 * rank's local rank (mod the count) among the devices it matches (no
 * selector: among the devices of the default device's type) as a flat index
 * in buf. *out is the selector to use. false after printing what is wrong. */
bool cli_rank_device(const char *command, const char *selector, char *buf, size_t cap,
                     const char **out);

/* Progress on stderr: on a terminal one line redrawn ("\r<label>
 * done/total ETA") at most 4 times a second; into a file or a pipe (batch
 * logs, nohup) plain lines, one per 10% done (at most one per 5 s) or 30 s, and one at the end. */
typedef struct cli_progress {
    const char *label;
    double start, last;
    int tty;           /* 0 not known yet, 1 a terminal, -1 not */
    uint64_t last_done;
} cli_progress;
void cli_progress_update(cli_progress *p, uint64_t done, uint64_t total);
void cli_progress_end(cli_progress *p);

/* Ctrl-C while a long library call runs: the first one sets the returned
 * flag (pass it as the call's stop flag: it saves what it can and returns
 * DUO_ERR_INTERRUPTED) and prints `message` (a string that lives on); a
 * second one kills the process at once. cli_release_interrupts puts the
 * previous handler back. */
volatile sig_atomic_t *cli_catch_interrupts(const char *message);
void cli_release_interrupts(void);

/* --domains a,b,c split into names (pointing into buf): their count; 0 when
 * the option is absent; -1 after printing what is allowed. */
int cli_domain_list(const char *command, const cli_option *domains, char *buf, size_t cap,
                    char **names, int max);

/* The distance used for "did you mean" hints. */
int cli_edit_distance(const char *a, const char *b);

#endif
