/* duocl report RUN: the run's report page (the report/ layer writes it). */
#include <stdio.h>

#include "commands.h"
#include "duocl/report.h"

static const char HELP[] =
    "RUN is a run directory ('duocl train' makes one). The report shows what RUN\n"
    "holds; each section whose input is missing says which command produces it:\n"
    "  config.json, log.jsonl  duocl train      training curves, config\n"
    "  eval.json               duocl eval       routers and other routings\n"
    "  oracle.json             duocl oracle     perplexity vs budget, placement\n"
    "  router/*/log.jsonl      duocl router train\n"
    "  difficulty.json         duocl difficulty token difficulty as coloured text\n"
    "Charts are drawn with gnuplot (Debian's gnuplot-nox; $DUOCL_GNUPLOT overrides\n"
    "the program). Without it the report still renders, with a note in place of\n"
    "each chart. The page opens offline: styles and charts are inline.\n"
    "Exit status 1 only when RUN is not a readable run directory.";

enum { OUT, N_OPTIONS };

static void print_warning(const char *message, void *user)
{
    (void)user;
    fprintf(stderr, "duocl report: warning: %s\n", message);
}

static int run_report(int argc, char **argv)
{
    cli_option o[N_OPTIONS] = {
        {"out", "FILE", "where to write the page (default RUN/report.html)", NULL},
    };
    const char *dir;
    int code = cli_parse(&cli_report_command, argc, argv, o, N_OPTIONS, &dir, 1, 1, HELP);
    if (code != CLI_OK)
        return code;
    duo_report_options options = {.out_path = o[OUT].value, .warn = print_warning};
    duo_report_summary r;
    duo_status st = duo_report_write(dir, &options, &r);
    if (st == DUO_OK)
        fprintf(stderr, "duocl report: wrote %s (%d chart%s drawn%s)\n", r.path, r.charts_drawn,
                r.charts_drawn == 1 ? "" : "s",
                r.gnuplot_unavailable ? "; gnuplot unavailable, notes in place of the charts"
                : r.charts_failed     ? "; some charts failed, see the warnings"
                                      : "");
    return cli_report(st);
}

const cli_command cli_report_command = {
    .name = "report",
    .usage = "duocl report RUN [--out FILE]",
    .summary = "write RUN/report.html: curves, budgets, placement, difficulty, the paper's claims",
    .run = run_report,
};
