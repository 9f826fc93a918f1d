/* Option parsing and error reporting for every command. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "cli.h"
#include "duocl/comm.h"
#include "duocl/device.h"
#include "data/corpus.h"

int cli_edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 63 || m > 63)
        return 99;
    int row[64];
    for (size_t j = 0; j <= m; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        int diagonal = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int up = row[j];
            int cost = diagonal + (a[i - 1] != b[j - 1]);
            int best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
            row[j] = cost < best ? cost : best;
            diagonal = up;
        }
    }
    return row[m];
}

static void print_help(const cli_command *command, const cli_option *options, int count,
                       const char *positional_help)
{
    printf("usage: %s\n\n%s\n", command->usage, command->summary);
    if (positional_help && *positional_help)
        printf("\n%s\n", positional_help);
    printf("\noptions:\n");
    for (int i = 0; i < count; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", options[i].name, options[i].metavar ? " " : "",
                 options[i].metavar ? options[i].metavar : "");
        printf("  %-22s %s\n", left, options[i].help);
    }
    printf("  %-22s %s\n", "--help", "show this help");
}

static cli_option *find_option(cli_option *options, int count, const char *name, size_t length)
{
    for (int i = 0; i < count; i++)
        if (strlen(options[i].name) == length && strncmp(options[i].name, name, length) == 0)
            return &options[i];
    return NULL;
}

static void unknown_option(const cli_command *command, const cli_option *options, int count,
                           const char *arg)
{
    const char *best = NULL;
    int best_distance = 4;
    char name[64];
    snprintf(name, sizeof name, "%s", arg + 2);
    name[strcspn(name, "=")] = '\0';
    for (int i = 0; i < count; i++) {
        int d = cli_edit_distance(name, options[i].name);
        if (d < best_distance) {
            best_distance = d;
            best = options[i].name;
        }
    }
    fprintf(stderr, "duocl %s: unknown option '%s'", command->name, arg);
    if (best)
        fprintf(stderr, "; did you mean '--%s'?", best);
    fprintf(stderr, " (see 'duocl %s --help')\n", command->name);
}

int cli_parse(const cli_command *command, int argc, char **argv, cli_option *options,
              int option_count, const char **positionals, int min_positional,
              int max_positional, const char *positional_help)
{
    int positional_count = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_help(command, options, option_count, positional_help);
            return CLI_HELP_SHOWN;
        }
        if (strncmp(arg, "--", 2) == 0) {
            const char *equals = strchr(arg, '=');
            size_t length = equals ? (size_t)(equals - arg - 2) : strlen(arg + 2);
            cli_option *option = find_option(options, option_count, arg + 2, length);
            if (!option) {
                unknown_option(command, options, option_count, arg);
                return CLI_USER_ERROR;
            }
            if (!option->metavar) {
                if (equals) {
                    fprintf(stderr, "duocl %s: option '--%s' takes no value\n", command->name,
                            option->name);
                    return CLI_USER_ERROR;
                }
                option->value = "1";
            } else if (equals) {
                option->value = equals + 1;
            } else if (i + 1 < argc) {
                option->value = argv[++i];
            } else {
                fprintf(stderr, "duocl %s: option '--%s' needs a value %s\n", command->name,
                        option->name, option->metavar);
                return CLI_USER_ERROR;
            }
            continue;
        }
        if (positional_count == max_positional) {
            fprintf(stderr, "duocl %s: unexpected argument '%s' (see 'duocl %s --help')\n",
                    command->name, arg, command->name);
            return CLI_USER_ERROR;
        }
        positionals[positional_count++] = arg;
    }
    if (positional_count < min_positional) {
        fprintf(stderr, "duocl %s: missing argument; usage: %s\n", command->name, command->usage);
        return CLI_USER_ERROR;
    }
    for (int i = positional_count; i < max_positional; i++)
        positionals[i] = NULL;
    return CLI_OK;
}

int cli_exit_code(duo_status status)
{
    switch (status) {
    case DUO_OK: return CLI_OK;
    case DUO_ERR_INVALID_ARGUMENT:
    case DUO_ERR_NO_PLATFORM:
    case DUO_ERR_NO_DEVICE:
    case DUO_ERR_IO:
    case DUO_ERR_FORMAT:
    case DUO_ERR_CONFIG:
    case DUO_ERR_NUMERIC:
    case DUO_ERR_INTERRUPTED:
        return CLI_USER_ERROR;
    default:
        return CLI_INTERNAL_ERROR;
    }
}

int cli_report(duo_status status)
{
    if (status != DUO_OK && duo_comm_size() > 1)
        fprintf(stderr, "duocl: rank %d: error: %s\n", duo_comm_rank(), duo_last_error());
    else if (status != DUO_OK)
        fprintf(stderr, "duocl: error: %s\n", duo_last_error());
    return cli_exit_code(status);
}

bool cli_whole(const char *command, const cli_option *option, long lo, long hi, long *out)
{
    if (!option->value)
        return true;
    const char *text = option->value;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end || errno || isspace((unsigned char)*text) || v < lo || v > hi) {
        fprintf(stderr, "duocl %s: --%s '%s': allowed a whole number from %ld to %ld\n", command,
                option->name, text, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_real(const char *command, const cli_option *option, double lo, double hi, double *out)
{
    if (!option->value)
        return true;
    const char *text = option->value;
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || isspace((unsigned char)*text) || !(v >= lo && v <= hi)) {
        fprintf(stderr, "duocl %s: --%s '%s': allowed a number from %g to %g\n", command,
                option->name, text, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

const char *cli_device_selector(const cli_option *device_option)
{
    if (device_option->value)
        return device_option->value;
    const char *env = getenv("DUOCL_DEVICE");
    return env && *env ? env : NULL;
}

bool cli_rank_device(const char *command, const char *selector, char *buf, size_t cap,
                     const char **out)
{
    int rank = duo_comm_rank(), local = duo_comm_local_rank();
    *out = selector;
    if (selector && strchr(selector, ',')) {
        /* A list: rank r takes entry r mod n. */
        int n = 1;
        for (const char *c = selector; *c; c++)
            n += *c == ',';
        const char *start = selector;
        for (int i = 0; i < rank % n; i++)
            start = strchr(start, ',') + 1;
        size_t len = strcspn(start, ",");
        if (len == 0 || len >= cap) {
            fprintf(stderr, "duocl %s: --device '%s': entry %d of the list is empty or too long "
                    "(a list is selectors separated by commas; rank r takes entry r mod n)\n",
                    command, selector, rank % n + 1);
            return false;
        }
        memcpy(buf, start, len);
        buf[len] = '\0';
        *out = buf;
        return true;
    }
    if (duo_comm_size() <= 1)
        return true;
    /* One selector, several ranks: this rank's local rank among the devices
     * it matches (no selector: the devices of the default device's type). */
    duo_device_list list;
    duo_status st = duo_devices_list(&list);
    if (st != DUO_OK) {
        cli_report(st);
        return false;
    }
    int chosen = -1, match = 0;
    st = duo_devices_select(&list, selector, &chosen);
    if (st != DUO_OK) {
        duo_devices_free(&list);
        return cli_report(st), false;
    }
    duo_device_type type = chosen >= 0 ? list.devices[chosen].type : DUO_DEVICE_OTHER;
    int count = 0, pick = -1;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < list.count; i++) {
            duo_device_list one = {.devices = &list.devices[i], .count = 1, .default_index = 0};
            int ignored;
            bool matches = selector && *selector
                               ? duo_devices_select(&one, selector, &ignored) == DUO_OK
                               : list.devices[i].type == type;
            if (!matches)
                continue;
            if (pass == 0)
                count++;
            else if (match++ == local % count)
                pick = i;
        }
    duo_clear_error(); /* the devices that did not match */
    if (pick >= 0)
        snprintf(buf, cap, "%d", list.devices[pick].index);
    duo_devices_free(&list);
    if (pick >= 0)
        *out = buf;
    return true;
}

void cli_progress_update(cli_progress *p, uint64_t done, uint64_t total)
{
    double now = duo_now_seconds();
    if (p->start == 0) {
        p->start = now;
        p->last = now;
        p->last_done = 0;
        if (p->tty == 0)
            p->tty = isatty(STDERR_FILENO) == 1 ? 1 : -1;
    }
    bool last = done >= total;
    if (p->tty > 0 && now - p->last < 0.25 && !last)
        return;
    /* Not a terminal: a line when another tenth is done (at most one per
     * 5 s), after 30 s without one, and at the end. */
    bool next_tenth = total > 0 && done * 10 / total > p->last_done * 10 / total;
    if (p->tty < 0 && !(next_tenth && now - p->last >= 5) && now - p->last < 30 && !last)
        return;
    if (p->tty < 0 && last && p->last_done >= total)
        return; /* the end was printed already */
    p->last = now;
    p->last_done = done;
    double rate = done ? (now - p->start) / (double)done : 0;
    double eta = rate * (double)(total > done ? total - done : 0);
    if (p->tty > 0)
        fprintf(stderr, "\r%s %llu/%llu  %.0f s elapsed, ETA %.0f s   ", p->label,
                (unsigned long long)done, (unsigned long long)total, now - p->start, eta);
    else
        fprintf(stderr, "%s %llu/%llu (%.0f%%)  %.0f s elapsed, ETA %.0f s\n", p->label,
                (unsigned long long)done, (unsigned long long)total,
                total ? 100.0 * (double)done / (double)total : 100.0, now - p->start, eta);
    fflush(stderr);
}

void cli_progress_end(cli_progress *p)
{
    if (p->start != 0 && p->tty > 0)
        fprintf(stderr, "\n");
    p->start = 0;
}

static volatile sig_atomic_t interrupt_requested;
static const char *interrupt_message;
static struct sigaction previous_handler, previous_term;
static bool ranks_caught;

static void on_interrupt(int signo)
{
    (void)signo;
    interrupt_requested = 1;
    ssize_t ignored = write(STDERR_FILENO, interrupt_message, strlen(interrupt_message));
    (void)ignored;
}

volatile sig_atomic_t *cli_catch_interrupts(const char *message)
{
    interrupt_requested = 0;
    interrupt_message = message;
    struct sigaction sa = {0};
    sa.sa_handler = on_interrupt;
    sa.sa_flags = SA_RESTART | SA_RESETHAND; /* a second Ctrl-C kills at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &previous_handler);
    /* Under mpirun a Ctrl-C reaches mpirun, which sends the ranks SIGTERM
     * (and SIGKILL a second later, Open MPI's odls_base_sigkill_timeout):
     * SIGTERM asks for the same stop as Ctrl-C. */
    ranks_caught = duo_comm_size() > 1;
    if (ranks_caught) {
        sigaction(SIGTERM, &sa, &previous_term);
    }
    return &interrupt_requested;
}

void cli_release_interrupts(void)
{
    sigaction(SIGINT, &previous_handler, NULL);
    if (ranks_caught) {
        sigaction(SIGTERM, &previous_term, NULL);
        ranks_caught = false;
    }
}

int cli_domain_list(const char *command, const cli_option *domains, char *buf, size_t cap,
                    char **names, int max)
{
    if (!domains->value)
        return 0;
    int n = duo_corpus_split_list(domains->value, buf, cap, names, max);
    if (n <= 0)
        fprintf(stderr, "duocl %s: --domains must list 1 to %d names separated by commas\n",
                command, max);
    return n > 0 ? n : -1;
}
