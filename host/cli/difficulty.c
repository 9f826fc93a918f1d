/* duocl difficulty: are the tokens with high loss the ones that gain from
 * compute? Per-token losses under all-small, all-big and oracle(k) from the
 * oracle's RUN/oracle_tokens.bin (PAPER.md result 8). No device needed. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "duocl/comm.h"
#include "duocl/difficulty.h"
#include "duocl/runtime.h"

static const char HELP[] =
    "RUN is a run directory on which 'duocl oracle RUN' has been run: this reads its\n"
    "config.json (for the tokenizer) and oracle_tokens.bin (per-token losses).\n"
    "Per token: loss under all-small, all-big and oracle(K) (the best route with K BIG\n"
    "layers for that token), and benefit = loss_small - loss_oracle(K). Per domain:\n"
    "the mean of each; Spearman rank correlations (average ranks for ties) of\n"
    "loss_small and of loss_big with benefit; the fraction of the hardest 10% of\n"
    "tokens (highest loss_small) that are also in the 10% with the highest benefit\n"
    "(chance: 10%); the N tokens with the highest benefit and the N with the highest\n"
    "loss_small, each with the text before it; and a passage (the first tokens of the\n"
    "domain, every position) with every token's losses and benefit, for coloured\n"
    "text. --skip-first P leaves the first P positions of each window (little\n"
    "context) out of the statistics and the top lists.\n"
    "Text is escaped so a terminal and JSON show it safely: \\n \\t \\r \\\\ and \\xNN\n"
    "for other control bytes and invalid UTF-8. Losses are in nats per token.\n"
    "Writes RUN/difficulty.json (or --out; temporary file + rename) and prints a\n"
    "summary.\n"
    "--signals also runs the model (on --device) once with every layer small over\n"
    "the oracle's windows and correlates label-free per-token signals with the\n"
    "benefit (Spearman, per domain, \"signals\" in the JSON): entropy_small,\n"
    "maxprob_small, prev_loss_small (previous position's all-small loss), position,\n"
    "token_freq (log count of the input token in 256 training windows),\n"
    "hidden_norm_l<l> (norm of the residual stream entering layer l) and\n"
    "router_logit_l<l> (RUN/router/k<K>-SB's z_big - z_small, when it exists).";

enum { BUDGET, TOP, CONTEXT, PASSAGE, SKIP_FIRST, OUT, SIGNALS, DEVICE, N_OPTIONS };

static bool parse_count(const char *text, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* One ranked list as a table. */
static void print_top(const char *title, const duo_difficulty_token *top, size_t n, int ctx,
                      int context_bytes)
{
    printf("  %s:\n    benefit  small    big  oracle   pos  %*s [token]\n", title, context_bytes + 2,
           "text before");
    for (size_t j = 0; j < n; j++) {
        const duo_difficulty_token *t = &top[j];
        printf("    %7.3f %6.3f %6.3f %7.3f %5llu  %*s [%s]\n", t->benefit, t->loss_small, t->loss_big,
               t->loss_oracle, (unsigned long long)(t->index % (uint64_t)ctx), context_bytes + 2,
               t->context, t->token);
    }
}

void cli_print_difficulty_event(const duo_difficulty_event *e, void *user)
{
    (void)user;
    if (e->kind == DUO_DIFFICULTY_EVENT_START) {
        printf("token difficulty at budget %d (oracle with %d of %d layers BIG), from %s\n", e->budget,
               e->budget, e->layers, e->source);
        return;
    }
    const duo_difficulty_stats *s = e->stats;
    printf("\n%s: %llu tokens", e->name, (unsigned long long)s->tokens);
    if (e->skip_first)
        printf(" (window positions %d to %d)", e->skip_first, e->ctx - 1);
    printf("\n");
    printf("  mean loss: all-small %.4f, all-big %.4f, oracle(%d) %.4f; benefit %.4f "
           "(%.1f%% of tokens gain)\n", s->mean_small, s->mean_big, e->budget, s->mean_oracle,
           s->mean_benefit, 100 * s->fraction_gain);
    printf("  rank correlation with benefit: loss_small %+.3f, loss_big %+.3f "
           "(loss_small with loss_big %+.3f)\n", s->spearman_small_benefit, s->spearman_big_benefit,
           s->spearman_small_big);
    printf("  of the %llu hardest tokens (top 10%% by loss_small), %llu (%.1f%%) are also in the top 10%% "
           "by benefit (chance %.1f%%)\n", (unsigned long long)s->top_count,
           (unsigned long long)s->top_overlap, 100.0 * (double)s->top_overlap / (double)s->top_count,
           100.0 * (double)s->top_count / (double)s->tokens);
    print_top("highest benefit", e->top_benefit, e->n_top, e->ctx, (int)e->context_bytes);
    print_top("highest all-small loss", e->top_loss_small, e->n_top, e->ctx, (int)e->context_bytes);
}

/* Per domain, the three signals most correlated with the benefit (by |rho|). */
static void print_signals(const duo_difficulty_summary *s)
{
    printf("\ncheap signals, Spearman with the benefit (strongest three; all in the JSON):\n");
    for (int d = 0; d < s->n_domains; d++) {
        const duo_difficulty_domain_summary *ds = &s->domain[d];
        bool used[DUO_DIFFICULTY_MAX_SIGNALS] = {false};
        printf("  %-10s", ds->name);
        for (int r = 0; r < 3 && r < ds->n_signals; r++) {
            int best = -1;
            for (int c = 0; c < ds->n_signals; c++)
                if (!used[c] && isfinite(ds->signal_spearman[c]) &&
                    (best < 0 || fabs(ds->signal_spearman[c]) > fabs(ds->signal_spearman[best])))
                    best = c;
            if (best < 0)
                break;
            used[best] = true;
            printf("  %s %+.3f", ds->signal_name[best], ds->signal_spearman[best]);
        }
        printf("\n");
    }
}

static int run_difficulty(int argc, char **argv)
{
    cli_option o[N_OPTIONS] = {
        {"budget", "K", "oracle budget: BIG layers per token (required; one the oracle searched)", NULL},
        {"top", "N", "tokens in each top list (default 10)", NULL},
        {"context", "BYTES", "bytes of text shown before each top token (default 40)", NULL},
        {"passage", "N", "tokens of each domain's passage in the JSON (default 400)", NULL},
        {"skip-first", "P", "leave the first P positions of every window out of the statistics and top\n"
                            "                         lists (they have little context; default 0)", NULL},
        {"out", "PATH", "where to write the JSON (default RUN/difficulty.json)", NULL},
        {"signals", NULL, "also the cheap signals' correlation with the benefit (runs the model)",
         NULL},
        {"device", "D", "device selector for --signals (default: $DUOCL_DEVICE, else the best)",
         NULL},
    };
    const char *run_dir;
    int code = cli_parse(&cli_difficulty_command, argc, argv, o, N_OPTIONS, &run_dir, 1, 1, HELP);
    if (code != CLI_OK)
        return code;
    duo_difficulty_options opt = duo_difficulty_default_options();
    long k, top = (long)opt.top, context = (long)opt.context_bytes, passage = (long)opt.passage,
         skip_first = 0;
    if (!o[BUDGET].value) {
        fprintf(stderr, "duocl difficulty: --budget K is required (a budget the oracle searched)\n");
        return CLI_USER_ERROR;
    }
    if (!parse_count(o[BUDGET].value, 0, DUO_DIFFICULTY_MAX_BUDGET, &k) ||
        (o[TOP].value && !parse_count(o[TOP].value, 0, 100000, &top)) ||
        (o[CONTEXT].value && !parse_count(o[CONTEXT].value, 0, 4096, &context)) ||
        (o[PASSAGE].value && !parse_count(o[PASSAGE].value, 0, 1000000, &passage)) ||
        (o[SKIP_FIRST].value && !parse_count(o[SKIP_FIRST].value, 0, 1 << 24, &skip_first))) {
        fprintf(stderr, "duocl difficulty: --budget allows 0 to %d, --top 0 to 100000, --context 0 to 4096, "
                        "--passage 0 to 1000000, --skip-first 0 to ctx-1 (whole numbers)\n",
                DUO_DIFFICULTY_MAX_BUDGET);
        return CLI_USER_ERROR;
    }
    opt.run_dir = run_dir;
    opt.out = o[OUT].value;
    opt.budget = (int)k;
    opt.skip_first = (int)skip_first;
    opt.top = (size_t)top;
    opt.context_bytes = (size_t)context;
    opt.passage = (size_t)passage;
    opt.callback = cli_print_difficulty_event;
    duo_difficulty_summary summary;
    duo_runtime *rt = NULL;
    duo_status st = DUO_OK;
    if (o[SIGNALS].value)
        st = duo_runtime_create(&(duo_runtime_options){.device = cli_device_selector(&o[DEVICE])},
                                &rt);
    opt.runtime = rt;
    if (st == DUO_OK)
        st = duo_difficulty_run(&opt, &summary);
    if (st == DUO_OK && rt)
        print_signals(&summary);
    duo_runtime_destroy(rt);
    fflush(stdout); /* the summary before the line on stderr */
    if (st == DUO_OK && duo_comm_rank() == 0) /* under mpirun rank 0 wrote it */
        fprintf(stderr, "wrote %s\n", summary.path);
    return cli_report(st);
}

const cli_command cli_difficulty_command = {
    .name = "difficulty",
    .usage = "duocl difficulty RUN --budget K [--top N] [--skip-first P] [--out PATH] [--signals]",
    .summary = "per-token difficulty: loss vs the benefit of compute (needs 'duocl oracle')",
    .run = run_difficulty,
};
