/* duocl bench compare A.json B.json ...: runs side by side, each after the
 * first with its speed relative to the first. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "bench_cli.h"
#include "cli.h"
#include "commands.h"

enum { MAX_RUNS = 8 };

/* The value compare shows: the rate when the case has work, else the time,
 * in seconds when the first run's took a second or more, else in ms. */
static double shown(const duo_bench_case *c, bool seconds)
{
    return c->work > 0 ? duo_bench_rate(c) : seconds ? c->seconds.median : c->seconds.median * 1e3;
}

static void compare_row(const duo_bench_report *runs, int n, const duo_bench_case *c0)
{
    char label[96];
    snprintf(label, sizeof label, "%s %s", c0->section, c0->name);
    bool seconds = c0->seconds.median >= 1.0;
    printf("%-40s %-11s", label, c0->work > 0 ? c0->unit : seconds ? "s" : "ms");
    for (int f = 0; f < n; f++) {
        const duo_bench_case *c = duo_bench_report_find(&runs[f], c0->section, c0->name);
        const duo_bench_case *first = duo_bench_report_find(&runs[0], c0->section, c0->name);
        if (!c) {
            printf(" %22s", "-");
            continue;
        }
        char cell[48];
        if (f == 0 || !first)
            snprintf(cell, sizeof cell, "%.4g", shown(c, seconds));
        else /* speed relative to the first run: its time over this one's */
            snprintf(cell, sizeof cell, "%.4g (%.2fx)", shown(c, seconds),
                     first->seconds.median / c->seconds.median);
        printf(" %22s", cell);
    }
    printf("\n");
}

int bench_compare(int argc, char **argv)
{
    const char *files[MAX_RUNS];
    cli_option none[1];
    int code = cli_parse(&cli_bench_command, argc, argv, none, 0, files, 1, MAX_RUNS,
                         "FILES are JSON files of 'duocl bench --json'. Columns after the first "
                         "show (speed relative to the first), time of the first / time of this.");
    if (code != CLI_OK)
        return code;
    int n = 0;
    while (n < MAX_RUNS && files[n])
        n++;
    duo_bench_report runs[MAX_RUNS];
    duo_status st = DUO_OK;
    int loaded = 0;
    for (; loaded < n && st == DUO_OK; loaded++) {
        uint8_t *text;
        size_t len;
        st = duo_read_whole_file(files[loaded], "bench results", &text, &len);
        if (st == DUO_OK) {
            st = duo_bench_report_from_json((const char *)text, files[loaded], &runs[loaded]);
            free(text);
        }
        if (st != DUO_OK)
            break;
    }
    if (st == DUO_OK) {
        for (int f = 0; f < n; f++) {
            const duo_bench_report *r = &runs[f];
            bool named = strstr(r->label, r->device) != NULL; /* the default label */
            printf("[%d] %s  (%s; %s%s%s%s%s, %d runs, load average %.1f-%.1f; CLBlast %s)\n",
                   f + 1, r->label, files[f], named ? "" : r->device, named ? "" : "; ",
                   r->environment[0] && !named ? r->environment : "",
                   r->environment[0] && !named ? "; " : "", r->date, r->repeat, r->load_start,
                   r->load_end, r->gemm_tuning);
        }
        printf("\n%-40s %-11s", "case", "unit");
        for (int f = 0; f < n; f++) {
            char head[16];
            snprintf(head, sizeof head, "[%d]", f + 1);
            printf(" %22s", head);
        }
        printf("\n");
        for (int i = 0; i < runs[0].count; i++)
            compare_row(runs, n, &runs[0].cases[i]);
        /* Cases only later runs have. */
        for (int f = 1; f < n; f++)
            for (int i = 0; i < runs[f].count; i++) {
                const duo_bench_case *c = &runs[f].cases[i];
                bool earlier = false;
                for (int g = 0; g < f && !earlier; g++)
                    earlier = duo_bench_report_find(&runs[g], c->section, c->name) != NULL;
                if (!earlier)
                    compare_row(runs, n, c);
            }
        printf("%-40s %-11s", "ffn forward outside GEMMs", "fraction");
        for (int f = 0; f < n; f++)
            printf(" %22.3f", runs[f].ffn_forward_outside_gemm);
        printf("\n%-40s %-11s", "ffn backward outside GEMMs", "fraction");
        for (int f = 0; f < n; f++)
            printf(" %22.3f", runs[f].ffn_backward_outside_gemm);
        printf("\n");
    }
    for (int f = 0; f < loaded && f < n; f++)
        duo_bench_report_free(&runs[f]);
    return cli_report(st);
}
