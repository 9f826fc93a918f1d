/* duocl bench's machinery on the tiny config: the statistics on hand-worked
 * samples; every suite runs and gives each case positive, ordered times
 * (min <= median <= max) and, with profiling, device times from marker
 * events; the JSON report reads back to the same cases and numbers (to
 * 1e-14 relative: cJSON prints a double with 15 significant digits when
 * that reads back within its own epsilon test); bad files are refused with a
 * message saying why; the Chrome trace is written. Speed is never asserted. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "duocl/config.h"
#include "duocl/runtime.h"
#include "base/fileio.h"
#include "unitcheck.h"

static void stats_match_hand_worked_quantiles(void)
{
    double odd[] = {5, 1, 4, 2, 3};
    duo_bench_stats s;
    duo_bench_stats_of(odd, 5, &s);
    unit_check("odd_median", s.median == 3 && s.min == 1 && s.max == 5, "median %g min %g max %g",
               s.median, s.min, s.max);
    unit_check("odd_quartiles", s.q1 == 2 && s.q3 == 4, "q1 %g q3 %g", s.q1, s.q3);
    double even[] = {4, 3, 2, 1};
    duo_bench_stats_of(even, 4, &s);
    /* Linear interpolation: position 1.5 -> 2.5, 0.75 -> 1.75, 2.25 -> 3.25. */
    unit_check("even_median_interpolates", s.median == 2.5, "median %g", s.median);
    unit_check("even_quartiles_interpolate", s.q1 == 1.75 && s.q3 == 3.25, "q1 %g q3 %g", s.q1, s.q3);
    duo_bench_stats_of(even, 0, &s);
    unit_check("no_samples_gives_nan", isnan(s.median) && s.n == 0, "median %g", s.median);
}

static duo_bench_report report;
static duo_trace *trace;

static void every_suite_gives_ordered_positive_times(void)
{
    duo_config cfg;
    char path[4200];
    snprintf(path, sizeof path, "%sconfigs/tiny.json", unit_source_dir());
    if (!unit_ok("load_tiny_config", duo_config_load(path, &cfg)))
        return;
    cfg.train.batch = 2;
    duo_runtime_options ro = {.device = getenv("DUOCL_DEVICE"), .profiling = true};
    duo_runtime *rt;
    if (!unit_ok("runtime", duo_runtime_create(&ro, &rt)))
        return;
    unit_ok("trace", duo_trace_create(rt, &trace));
    duo_bench_report_init(&report);
    report.model = cfg.model;
    report.batch = cfg.train.batch;
    snprintf(report.label, sizeof report.label, "test \"quoted\" label");
    duo_bench_suite_options o = {.config = &cfg, .run = {.warmup = 0, .repeat = 2, .trace = trace},
                                 .oracle_batch = 1, .seed = 7};
    unit_ok("gemm_suite", duo_bench_gemm_suite(rt, &o, &report));
    unit_ok("op_suite", duo_bench_op_suite(rt, &o, &report));
    unit_ok("train_suite", duo_bench_train_suite(rt, &o, &report));
    unit_ok("eval_suite", duo_bench_eval_suite(rt, &o, &report));
    unit_ok("oracle_suite", duo_bench_oracle_suite(rt, &o, &report));
    duo_runtime_destroy(rt);

    static const struct { const char *section; int count; } want[] = {
        {"gemm", 21}, {"op", 23}, {"ffn", 8}, {"train", 1}, {"eval", 3}, {"oracle", 1}};
    for (size_t s = 0; s < sizeof want / sizeof want[0]; s++) {
        int n = 0;
        for (int i = 0; i < report.count; i++)
            n += strcmp(report.cases[i].section, want[s].section) == 0;
        unit_check("case_count", n == want[s].count, "section %s: %d cases, want %d",
                   want[s].section, n, want[s].count);
    }
    for (int i = 0; i < report.count; i++) {
        const duo_bench_case *c = &report.cases[i];
        const duo_bench_stats *s = &c->seconds;
        bool ok = s->n == 2 && s->min > 0 && s->min <= s->median && s->median <= s->max &&
                  isfinite(s->max) && c->device_median > 0 && isfinite(c->device_median) &&
                  (c->work == 0 || duo_bench_rate(c) > 0);
        unit_check("case_times", ok, "%s/%s: n %d min %g median %g max %g device %g rate %g",
                   c->section, c->name, s->n, s->min, s->median, s->max, c->device_median,
                   duo_bench_rate(c));
    }
    unit_check("ffn_fractions_finite",
               isfinite(report.ffn_forward_outside_gemm) && isfinite(report.ffn_backward_compaction),
               "forward outside %g, backward compaction %g", report.ffn_forward_outside_gemm,
               report.ffn_backward_compaction);
    const duo_bench_case *oracle = duo_bench_report_find(&report, "oracle", "search SB");
    unit_check("oracle_counts_every_pattern", oracle && oracle->work == 16, "work %g",
               oracle ? oracle->work : -1);
}

static bool near(double a, double b)
{
    return a == b || (isnan(a) && isnan(b)) || fabs(a - b) <= 1e-14 * fmax(fabs(a), fabs(b));
}

static void report_reads_back(void)
{
    char *text = NULL;
    if (!unit_ok("to_json", duo_bench_report_to_json(&report, &text)))
        return;
    duo_bench_report back;
    if (unit_ok("from_json", duo_bench_report_from_json(text, "<test>", &back))) {
        unit_check("same_count", back.count == report.count, "%d vs %d", back.count, report.count);
        unit_check("same_label", strcmp(back.label, report.label) == 0, "'%s'", back.label);
        for (int i = 0; i < back.count && i < report.count; i++) {
            const duo_bench_case *a = &report.cases[i], *b = &back.cases[i];
            bool same = strcmp(a->section, b->section) == 0 && strcmp(a->name, b->name) == 0 &&
                        strcmp(a->shape, b->shape) == 0 && near(a->work, b->work) &&
                        near(a->seconds.median, b->seconds.median) &&
                        near(a->seconds.q3, b->seconds.q3) && near(a->samples[1], b->samples[1]) &&
                        near(a->device_median, b->device_median);
            unit_check("case_reads_back", same, "%s/%s: median %.17g vs %.17g", a->section,
                       a->name, a->seconds.median, b->seconds.median);
        }
        unit_check("derived_reads_back",
                   near(back.ffn_forward_outside_gemm, report.ffn_forward_outside_gemm),
                   "%.17g vs %.17g", back.ffn_forward_outside_gemm, report.ffn_forward_outside_gemm);
        duo_bench_report_free(&back);
    }
    free(text);
}

static void bad_files_are_refused(void)
{
    duo_bench_report r;
    unit_fails("not_json", duo_bench_report_from_json("{nope", "a.json", &r), DUO_ERR_FORMAT,
               "a.json", "not valid JSON");
    unit_fails("not_a_bench_file", duo_bench_report_from_json("{\"x\": 1}", "b.json", &r),
               DUO_ERR_FORMAT, "b.json", "duocl bench --json");
    unit_fails("newer_version",
               duo_bench_report_from_json("{\"format\": \"duocl-bench\", \"version\": 99}", "c.json",
                                          &r),
               DUO_ERR_FORMAT, "version 99", NULL);
    unit_fails("missing_cases",
               duo_bench_report_from_json("{\"format\": \"duocl-bench\", \"version\": 1}", "d.json",
                                          &r),
               DUO_ERR_FORMAT, "d.json", "is missing");
}

static void chrome_trace_is_written(void)
{
    if (!trace)
        return;
    unit_check("trace_has_events", duo_trace_count(trace) > 2 * report.count,
               "%d events for %d cases", duo_trace_count(trace), report.count);
    unit_check("trace_uses_events", duo_trace_uses_events(trace), "profiling queue");
    char path[] = "/tmp/duocl-test-trace-XXXXXX";
    int fd = mkstemp(path);
    if (!unit_check("temp_file", fd >= 0, "mkstemp failed"))
        return;
    close(fd);
    uint8_t *data = NULL;
    size_t n = 0;
    if (unit_ok("write_chrome", duo_trace_write_chrome(trace, path)) &&
        unit_ok("read_back", duo_read_whole_file(path, "trace", &data, &n)))
        unit_check("chrome_format",
                   strncmp((char *)data, "{\"traceEvents\":[{", 17) == 0 &&
                       strstr((char *)data, "\"ph\":\"X\"") && strstr((char *)data, "train.backward"),
                   "starts with %.40s", (char *)data);
    free(data);
    remove(path);
}

int main(void)
{
    UNIT_RUN(stats_match_hand_worked_quantiles);
    UNIT_RUN(every_suite_gives_ordered_positive_times);
    UNIT_RUN(report_reads_back);
    UNIT_RUN(bad_files_are_refused);
    UNIT_RUN(chrome_trace_is_written);
    duo_trace_destroy(trace);
    duo_bench_report_free(&report);
    return unit_summary("test_bench");
}
