/* duocl oracle: the best route per token by exhaustive search, per budget,
 * against the best fixed pattern and the best of N random patterns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "duocl/comm.h"
#include "duocl/oracle.h"

static const char HELP[] =
    "RUN is a run directory written by 'duocl train' (its config and checkpoint).\n"
    "For each budget k (the number of BIG layers of a token's route) every route\n"
    "pattern with k BIG layers is applied to every token of the validation windows.\n"
    "Reported per domain and budget: oracle (per-token minimum: needs the labels, an\n"
    "upper bound for any router), fixed (the best single pattern), random-N (the best\n"
    "of N patterns drawn at random), the mean over all patterns, and where the\n"
    "oracle's BIG layers go (per layer, per layer and position bucket).\n"
    "Alphabets: SB (small or big at every layer), KB (skip or big), KSB (skip, small\n"
    "or big). The budget counts BIG layers only: skips are free, so with KB a budget\n"
    "k route runs k big FFNs and skips the FFN in the other L-k layers.\n"
    "Also the varying-budget experiment: a per-token budget that falls linearly along\n"
    "the sequence (--vary, default L/2 to L/6) against the constant budget of the same\n"
    "mean. Beside the oracle, label-free selectors (per token the pattern with the\n"
    "lowest entropy or highest max-probability, scored on the true token) and the\n"
    "selection-only control (the oracle's gain against labels drawn from all-big;\n"
    "README). Writes RUN/oracle.json and RUN/oracle_tokens.bin (per-token losses; see\n"
    "README). Results are written only when complete (temporary file + rename).";

enum { BUDGETS, ALPHABET, RANDOM, TOKENS, DOMAINS, BATCH, CHECKPOINT, DEVICE, VARY, NO_SHARE, N_OPTIONS };

/* "1,3,5" as bits; false for anything but whole numbers 0..63 (the library
 * checks them against the model's layers). */
static bool parse_budgets(const char *text, uint64_t *out)
{
    *out = 0;
    char buf[256];
    if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf)
        return false;
    for (char *item = strtok(buf, ","); item; item = strtok(NULL, ",")) {
        char *end;
        long k = strtol(item, &end, 10);
        if (*end || end == item || k < 0 || k > 63)
            return false;
        *out |= 1ull << k;
    }
    return *out != 0;
}

/* "K0:K1", each a whole number 0..63 (the library checks them against L). */
static bool parse_vary(const char *text, int *from, int *to)
{
    char *end;
    long a = strtol(text, &end, 10);
    if (end == text || *end != ':' || a < 0 || a > 63)
        return false;
    const char *second = end + 1;
    long b = strtol(second, &end, 10);
    if (end == second || *end || b < 0 || b > 63)
        return false;
    *from = (int)a;
    *to = (int)b;
    return true;
}

static void print_table(const duo_oracle_domain_summary *r)
{
    printf("\n%s: %llu tokens; all-small %.4f, all-big %.4f bits/byte\n", r->name,
           (unsigned long long)r->tokens, r->all_small.bits_per_byte, r->all_big.bits_per_byte);
    printf("  k  patterns   oracle    fixed (pattern)         random-N  mean      [bits/byte]\n");
    for (int k = 0; k <= DUO_ORACLE_MAX_LAYERS; k++) {
        if (!r->searched[k])
            continue;
        const duo_oracle_budget_summary *b = &r->budget[k];
        printf("  %-2d %-8d   %.4f   %.4f (%-12s)  %.4f    %.4f\n", k, b->patterns,
               b->oracle.bits_per_byte, b->fixed.bits_per_byte, b->fixed_pattern,
               b->random.bits_per_byte, b->mean_all.bits_per_byte);
    }
    printf("  k  lowest-entropy  highest-max-prob  selection-control  [bits/byte; label-free, control]\n");
    for (int k = 0; k <= DUO_ORACLE_MAX_LAYERS; k++)
        if (r->searched[k])
            printf("  %-2d %.4f          %.4f            %.4f\n", k,
                   r->budget[k].min_entropy.bits_per_byte, r->budget[k].max_prob.bits_per_byte,
                   r->budget[k].control.bits_per_byte);
}

/* A progress bar per domain, its table when done, the search's cost at the end. */
void cli_print_oracle_event(const duo_oracle_event *e, void *display)
{
    cli_oracle_display *d = display;
    switch (e->kind) {
    case DUO_ORACLE_EVENT_DOMAIN_START:
        snprintf(d->label, sizeof d->label, "oracle %s: patterns", e->name);
        d->bar = (cli_progress){.label = d->label};
        break;
    case DUO_ORACLE_EVENT_PATTERNS:
        cli_progress_update(&d->bar, e->done, e->total);
        break;
    case DUO_ORACLE_EVENT_DOMAIN_DONE:
        cli_progress_end(&d->bar);
        print_table(e->domain);
        break;
    case DUO_ORACLE_EVENT_SEARCHED:
        fprintf(stderr, "prefix sharing: %llu layer evaluations instead of %llu (%.1f%%)\n",
                (unsigned long long)e->summary->layer_evals,
                (unsigned long long)e->summary->naive_layer_evals,
                100.0 * (double)e->summary->layer_evals / (double)e->summary->naive_layer_evals);
        break;
    }
}

static int run_oracle(int argc, char **argv)
{
    cli_option o[N_OPTIONS] = {
        {"budgets", "LIST", "budgets to search, e.g. 1,3,5 (default: 0..L)", NULL},
        {"alphabet", "A", "SB, KB or KSB (default SB)", NULL},
        {"random", "N", "N of random-N: patterns drawn at random (default 100)", NULL},
        {"tokens", "N", "validation tokens per domain (default 8192)", NULL},
        {"domains", "LIST", "comma-separated domains (default: all of the run's)", NULL},
        {"batch", "B", "windows per forward pass (default: the run's train.batch)", NULL},
        {"checkpoint", "PATH", "checkpoint to load (default RUN/checkpoints/final or latest)", NULL},
        {"device", "D", "device selector (default: $DUOCL_DEVICE, else the best device)", NULL},
        {"vary", "K0:K1", "varying-budget experiment from K0 to K1 big layers (default L/2:L/6)", NULL},
        {"no-prefix-sharing", NULL, "run every pattern from scratch (slower; same results)", NULL},
    };
    const char *run_dir;
    int code = cli_parse(&cli_oracle_command, argc, argv, o, N_OPTIONS, &run_dir, 1, 1, HELP);
    if (code != CLI_OK)
        return code;
    /* Under mpirun each rank opens its own device and searches its share of
     * the batches; rank 0 prints and writes. */
    char device[256];
    const char *selector;
    if (!cli_rank_device("oracle", cli_device_selector(&o[DEVICE]), device, sizeof device, &selector))
        return CLI_USER_ERROR;
    cli_oracle_display d = {.label = ""};
    duo_oracle_options opt = {.run_dir = run_dir, .checkpoint = o[CHECKPOINT].value,
                              .domains = o[DOMAINS].value, .device = selector,
                              .alphabet = DUO_ALPHABET_SB, .random_n = DUO_ORACLE_DEFAULT_RANDOM,
                              .no_prefix_sharing = o[NO_SHARE].value != NULL, .vary = o[VARY].value != NULL,
                              .callback = cli_print_oracle_event, .user = &d};
    if (o[ALPHABET].value && !duo_alphabet_parse(o[ALPHABET].value, &opt.alphabet)) {
        fprintf(stderr, "duocl oracle: --alphabet '%s': allowed SB, KB, KSB\n", o[ALPHABET].value);
        return CLI_USER_ERROR;
    }
    long random_n = opt.random_n, tokens = DUO_ORACLE_DEFAULT_TOKENS, batch = 0; /* 0: the run's */
    if (!cli_whole("oracle", &o[RANDOM], 1, 1000000, &random_n) ||
        !cli_whole("oracle", &o[TOKENS], 1, CLI_MAX_TOKENS, &tokens) ||
        !cli_whole("oracle", &o[BATCH], 1, CLI_MAX_BATCH, &batch))
        return CLI_USER_ERROR;
    opt.random_n = (int)random_n;
    opt.tokens = (size_t)tokens;
    opt.batch = (size_t)batch;
    if ((o[BUDGETS].value && !parse_budgets(o[BUDGETS].value, &opt.budgets)) ||
        (opt.vary && !parse_vary(o[VARY].value, &opt.vary_from, &opt.vary_to))) {
        fprintf(stderr, "duocl oracle: --budgets/--vary: allowed budgets are 0 to L (the model's "
                        "layers), as in --budgets 1,3,5 --vary 3:1\n");
        return CLI_USER_ERROR;
    }
    duo_oracle_summary *summary = malloc(sizeof *summary);
    duo_status st = summary ? duo_oracle_run(NULL, &opt, summary) : DUO_ERR_OUT_OF_MEMORY;
    cli_progress_end(&d.bar);
    if (st == DUO_OK && duo_comm_rank() == 0)
        fprintf(stderr, "wrote %s and %s\n", summary->path, summary->tokens_path);
    free(summary);
    return cli_report(st);
}

const cli_command cli_oracle_command = {
    .name = "oracle",
    .usage = "duocl oracle RUN [--budgets LIST] [--alphabet SB|KB|KSB] [--random N] [--tokens N]",
    .summary = "find the best routes per token by exhaustive search, per budget",
    .run = run_oracle,
};
