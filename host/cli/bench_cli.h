/* Printing for duocl bench (host/cli/bench_print.c) and bench compare. */
#ifndef DUOCL_CLI_BENCH_CLI_H
#define DUOCL_CLI_BENCH_CLI_H

#include <stdio.h>

#include "bench/bench.h"

/* Device, driver, model and how the times were taken. */
void bench_print_header(FILE *out, const duo_bench_report *r);

/* The table of one section: the cases from index `first` on. */
void bench_print_section(FILE *out, const duo_bench_report *r, const char *section, int first);

/* Trace events summed per name: count, median, total and share, device times. */
void bench_print_profile(FILE *out, const duo_trace *trace);

/* duocl bench compare A.json B.json ...: argv[0] is "compare". */
int bench_compare(int argc, char **argv);

#endif
