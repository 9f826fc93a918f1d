/* Tables of duocl bench and of its profile (bench_compare.c puts runs side by side). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_cli.h"
#include "cli.h"
#include "commands.h"
#include "base/fileio.h"
#include "model/model.h"

void bench_print_header(FILE *out, const duo_bench_report *r)
{
    const duo_model_config *m = &r->model;
    fprintf(out, "device   %s [%s]\n", r->device, r->platform);
    fprintf(out, "driver   %s, profile %s, %u compute units%s%s\n", r->driver, r->profile,
            r->compute_units, r->environment[0] ? ", " : "", r->environment);
    fprintf(out, "CLBlast  %s\n", r->gemm_tuning);
    fprintf(out, "model    %s: L=%d d=%d H=%d T=%d V=%d F=%d/%d, batch %d (N=%d tokens)\n",
            r->config, m->n_layers, m->d_model, m->n_heads, m->ctx, m->vocab, m->ffn_big,
            m->ffn_small, r->batch, r->batch * m->ctx);
    fprintf(out, "timing   median of %d runs after %d warm-up, [min - max]; cases of a section "
                 "run round-robin\n", r->repeat, r->warmup);
}

static double ms(double seconds) { return seconds * 1e3; }

/* Rate at a given time (GFLOP/s or per second). */
static double rate_at(const duo_bench_case *c, double seconds)
{
    double rate = c->work / seconds;
    return strcmp(c->unit, "GFLOP/s") == 0 ? rate * 1e-9 : rate;
}

static void print_time_row(FILE *out, const duo_bench_case *c, int name_width)
{
    fprintf(out, "  %-*s %-34s %10.3f  [%8.3f - %8.3f]", name_width, c->name, c->shape,
            ms(c->seconds.median), ms(c->seconds.min), ms(c->seconds.max));
    if (!isnan(c->cores))
        fprintf(out, " %5.2f", c->cores);
    if (!isnan(c->device_median))
        fprintf(out, "  dev %9.3f", ms(c->device_median));
}

static void print_gemm(FILE *out, const duo_bench_report *r, int first)
{
    fprintf(out, "\nGEMM (CLBlast)                   shape                                  ms "
                 " [min - max]        cores  GFLOP/s [range]\n");
    double rates[256];
    int n = 0;
    for (int i = first; i < r->count; i++) {
        const duo_bench_case *c = &r->cases[i];
        print_time_row(out, c, 30);
        fprintf(out, "  %7.1f [%5.1f - %5.1f]\n", duo_bench_rate(c), rate_at(c, c->seconds.max),
                rate_at(c, c->seconds.min));
        if (n < 256)
            rates[n++] = duo_bench_rate(c);
    }
    duo_bench_stats s;
    duo_bench_stats_of(rates, n, &s);
    fprintf(out, "  median over shapes %.1f GFLOP/s (slowest %.1f, fastest %.1f)\n", s.median,
            s.min, s.max);
}

static void print_ops(FILE *out, const duo_bench_report *r, int first, const char *section)
{
    bool ffn = strcmp(section, "ffn") == 0;
    fprintf(out, "\n%-32s %-34s %10s  [min - max]        cores\n",
            ffn ? "routed FFN block, 50% routing" : "op (launcher)", "shape", "ms");
    for (int i = first; i < r->count; i++)
        if (strcmp(r->cases[i].section, section) == 0) {
            print_time_row(out, &r->cases[i], 30);
            fputc('\n', out);
        }
    if (ffn && !isnan(r->ffn_forward_outside_gemm))
        fprintf(out, "  outside GEMMs (compaction + SwiGLU, timed alone): forward %.1f%% of the "
                     "block (compaction %.1f%%), backward %.1f%% (compaction %.1f%%)\n",
                100 * r->ffn_forward_outside_gemm, 100 * r->ffn_forward_compaction,
                100 * r->ffn_backward_outside_gemm, 100 * r->ffn_backward_compaction);
}

/* The host's blocking calls (reads, writes, finishes, waits) per run of each
 * case and, for training, where in the step they happen. */
static void print_blocking(FILE *out, const duo_bench_report *r, int first, const char *section)
{
    bool any = false;
    for (int i = first; i < r->count; i++) {
        const duo_bench_case *c = &r->cases[i];
        if (strcmp(c->section, section) != 0 || isnan(c->blocking))
            continue;
        fprintf(out, "%s %s %.0f", any ? "," : "  blocking calls (host waits for the device) per run:",
                c->name, c->blocking);
        any = true;
    }
    if (any)
        fputc('\n', out);
    if (strcmp(section, "train") == 0 && !isnan(r->step_blocking_before_loss))
        fprintf(out, "  blocking calls in one step: %.0f from its start to the loss read-back, "
                     "%.0f loss read-back, %.0f after it (gradient norm, AdamW); %.0f uploading "
                     "the batch before it\n", r->step_blocking_before_loss, r->step_blocking_loss,
                r->step_blocking_after_loss, r->step_blocking_batch);
}

static void print_rates(FILE *out, const duo_bench_report *r, int first, const char *title)
{
    const duo_bench_case *all_big = duo_bench_report_find(r, "eval", "all-big");
    bool eval = strcmp(title, "eval") == 0;
    fprintf(out, "\n%-14s %-44s %10s  [min - max]        cores      rate [range]%s\n", title,
            "what", "ms", eval ? "              time/all-big  FFN FLOPs  all FLOPs" : "");
    for (int i = first; i < r->count; i++) {
        const duo_bench_case *c = &r->cases[i];
        fprintf(out, "  %-12s %-44s %10.1f  [%8.1f - %8.1f] %5.2f  %8.1f %s [%.1f - %.1f]", c->name,
                c->shape, ms(c->seconds.median), ms(c->seconds.min), ms(c->seconds.max), c->cores,
                duo_bench_rate(c), c->unit, rate_at(c, c->seconds.max), rate_at(c, c->seconds.min));
        char pattern[DUO_MAX_LAYERS + 1];
        if (eval && all_big && sscanf(c->shape, "pattern %32[SBK]", pattern) == 1 &&
            (int)strlen(pattern) == r->model.n_layers) {
            char big[DUO_MAX_LAYERS + 1];
            memset(big, 'B', sizeof big);
            big[r->model.n_layers] = '\0';
            fprintf(out, "  %8.3f  %9.3f  %9.3f", c->seconds.median / all_big->seconds.median,
                    duo_bench_forward_flops(&r->model, pattern, true) /
                        duo_bench_forward_flops(&r->model, big, true),
                    duo_bench_forward_flops(&r->model, pattern, false) /
                        duo_bench_forward_flops(&r->model, big, false));
        }
        fputc('\n', out);
    }
    print_blocking(out, r, first, title);
}

static void print_startup(FILE *out, const duo_bench_report *r, int first)
{
    fprintf(out, "\nstart-up (fresh process to first GEMM done)   s [min - max]      median parts\n");
    for (int i = first; i < r->count; i++) {
        const duo_bench_case *c = &r->cases[i];
        fprintf(out, "  %-6s PoCL cache %-6s %d run(s)  %8.3f  [%.3f - %.3f]  %s\n", c->name,
                strcmp(c->name, "cold") == 0 ? "empty" : "warm", c->seconds.n, c->seconds.median,
                c->seconds.min, c->seconds.max, c->shape);
    }
}

void bench_print_section(FILE *out, const duo_bench_report *r, const char *section, int first)
{
    if (strcmp(section, "gemm") == 0)
        print_gemm(out, r, first);
    else if (strcmp(section, "ops") == 0) {
        print_ops(out, r, first, "op");
        print_ops(out, r, first, "ffn");
    } else if (strcmp(section, "startup") == 0)
        print_startup(out, r, first);
    else
        print_rates(out, r, first, section);
    fflush(out);
}

/* ---- profile ---- */

typedef struct profile_row {
    const char *name, *category;
    double *durations;
    int n;
    double total;
    long blocking_min, blocking_max; /* blocking calls per run */
} profile_row;

static int by_total(const void *a, const void *b)
{
    const profile_row *x = a, *y = b;
    int c = strcmp(x->category, y->category);
    if (c)
        return c;
    return (x->total < y->total) - (x->total > y->total);
}

void bench_print_profile(FILE *out, const duo_trace *trace)
{
    int n = duo_trace_count(trace);
    profile_row *rows = calloc((size_t)n + 1, sizeof *rows);
    double *all = malloc(((size_t)n + 1) * sizeof *all);
    if (!rows || !all) {
        free(rows);
        free(all);
        return;
    }
    int count = 0, used = 0;
    /* Group the events by name, keeping each group's durations together. */
    for (int i = 0; i < n; i++) {
        const duo_trace_event *e = duo_trace_at(trace, i);
        bool seen = false;
        for (int k = 0; k < count && !seen; k++)
            seen = strcmp(rows[k].name, e->name) == 0 && strcmp(rows[k].category, e->category) == 0;
        if (seen)
            continue;
        profile_row *row = &rows[count++];
        row->name = e->name;
        row->category = e->category;
        row->durations = all + used;
        row->blocking_min = row->blocking_max = e->blocking;
        for (int j = i; j < n; j++) {
            const duo_trace_event *f = duo_trace_at(trace, j);
            if (strcmp(f->name, e->name) == 0 && strcmp(f->category, e->category) == 0) {
                row->durations[row->n++] = f->dur_us;
                row->total += f->dur_us;
                row->blocking_min = f->blocking < row->blocking_min ? f->blocking : row->blocking_min;
                row->blocking_max = f->blocking > row->blocking_max ? f->blocking : row->blocking_max;
            }
        }
        used += row->n;
    }
    qsort(rows, (size_t)count, sizeof *rows, by_total);
    fprintf(out, "\nprofile (%s): per case and per piece of one profiled step; blocking: the "
                 "host's blocking calls (reads, writes, finishes, waits) per run\n",
            duo_trace_uses_events(trace) ? "device times from OpenCL marker events"
                                         : "host times around a queue finish");
    fprintf(out, "  %-10s %-34s %6s %12s %12s %7s %9s\n", "category", "name", "runs", "median ms",
            "total ms", "share", "blocking");
    for (int start = 0; start < count;) {
        int end = start;
        double sum = 0;
        while (end < count && strcmp(rows[end].category, rows[start].category) == 0)
            sum += rows[end++].total;
        for (int k = start; k < end; k++) {
            duo_bench_stats s;
            duo_bench_stats_of(rows[k].durations, rows[k].n, &s);
            char blocking[32];
            if (rows[k].blocking_min == rows[k].blocking_max)
                snprintf(blocking, sizeof blocking, "%ld", rows[k].blocking_min);
            else
                snprintf(blocking, sizeof blocking, "%ld-%ld", rows[k].blocking_min,
                         rows[k].blocking_max);
            fprintf(out, "  %-10s %-34s %6d %12.3f %12.3f %6.1f%% %9s\n", rows[k].category,
                    rows[k].name, rows[k].n, s.median * 1e-3, rows[k].total * 1e-3,
                    sum > 0 ? 100 * rows[k].total / sum : 0.0, blocking);
        }
        start = end;
    }
    free(rows);
    free(all);
}
