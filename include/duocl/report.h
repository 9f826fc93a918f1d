/* The study's report: one self-contained HTML page (inline CSS and SVG,
 * nothing fetched) with everything a run folder holds: config and device,
 * training curves, perplexity vs budget, where BIG layers go, router
 * training, token difficulty as coloured text and the paper's claims checked
 * against the numbers. Each section whose input is missing says which command
 * makes it. Charts are drawn by gnuplot ($DUOCL_GNUPLOT, else "gnuplot") in a
 * child process; without it the page has a note in place of each chart. */
#ifndef DUOCL_REPORT_H
#define DUOCL_REPORT_H

#include <stdbool.h>

#include "duocl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct duo_report_options {
    const char *out_path; /* NULL: RUN/report.html */
    /* Each problem noticed while rendering (a damaged input, a failed chart);
     * may be NULL. */
    void (*warn)(const char *message, void *user);
    void *user;
} duo_report_options;

typedef struct duo_report_summary {
    char path[1400];          /* the page written */
    int charts_drawn, charts_failed;
    bool gnuplot_unavailable; /* notes stand in place of the charts */
    int warnings;
} duo_report_summary;

/* Writes the run's report page: one self-contained HTML file with every
 * section whose input the run folder holds. Fails only when run_dir is not a
 * readable run directory or the page cannot be written. */
duo_status duo_report_write(const char *run_dir, const duo_report_options *options,
                            duo_report_summary *summary);

#ifdef __cplusplus
}
#endif
#endif
