/* The benchmark machinery: statistics, the marker-event trace, the
 * round-robin runner and the JSON report (the suites are in bench_suites.c
 * and bench_ops.c). */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "bench.h"
#include "base/clock.h"
#include "base/fileio.h"
#include "base/json_file.h"

/* CPU seconds of this process (every thread, PoCL's workers included). */
static double cpu_seconds(void)
{
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0)
        return NAN;
    return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec +
           (double)u.ru_stime.tv_sec + 1e-6 * (double)u.ru_stime.tv_usec;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Linear interpolation between order statistics (numpy's default). */
static double quantile(const double *sorted, int n, double q)
{
    double pos = q * (n - 1);
    int lo = (int)floor(pos);
    int hi = lo + 1 < n ? lo + 1 : lo;
    return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

void duo_bench_stats_of(double *samples, int n, duo_bench_stats *out)
{
    out->n = n;
    if (n <= 0) {
        out->median = out->min = out->max = out->q1 = out->q3 = NAN;
        return;
    }
    qsort(samples, (size_t)n, sizeof *samples, compare_doubles);
    out->min = samples[0];
    out->max = samples[n - 1];
    out->median = quantile(samples, n, 0.5);
    out->q1 = quantile(samples, n, 0.25);
    out->q3 = quantile(samples, n, 0.75);
}

double duo_bench_rate(const duo_bench_case *c)
{
    if (c->work <= 0 || !(c->seconds.median > 0))
        return NAN;
    double rate = c->work / c->seconds.median;
    return strcmp(c->unit, "GFLOP/s") == 0 ? rate * 1e-9 : rate;
}

/* ---- trace ---- */

struct duo_trace {
    duo_runtime *rt;
    bool events;
    duo_trace_event *list;
    int count, capacity;
    cl_event open;         /* the begin marker of the open bracket */
    double open_host;      /* host clock at begin (without events) */
    unsigned long open_blocking; /* the runtime's blocking calls at begin */
    char open_name[64], open_category[16];
    double origin_us;      /* first timestamp, so the trace starts near 0 */
    bool has_origin;
};

duo_status duo_trace_create(duo_runtime *rt, duo_trace **out)
{
    duo_trace *t = calloc(1, sizeof *t);
    if (!t)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for a trace");
    t->rt = rt;
    t->events = rt->profiling;
    *out = t;
    return DUO_OK;
}

void duo_trace_destroy(duo_trace *t)
{
    if (!t)
        return;
    if (t->open)
        clReleaseEvent(t->open);
    free(t->list);
    free(t);
}

bool duo_trace_uses_events(const duo_trace *t) { return t->events; }

duo_status duo_trace_begin(duo_trace *t, const char *name, const char *category)
{
    if (t->open)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "trace: '%s' begun inside '%s'", name, t->open_name);
    snprintf(t->open_name, sizeof t->open_name, "%s", name);
    snprintf(t->open_category, sizeof t->open_category, "%s", category);
    if (t->events)
        DUO_TRY(duo_queue_marker(t->rt, &t->open));
    else
        t->open_host = duo_now_seconds();
    t->open_blocking = duo_blocking_total(t->rt);
    return DUO_OK;
}

static duo_status marker_end_ns(cl_event e, cl_ulong *ns)
{
    DUO_CL(clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_END, sizeof *ns, ns, NULL),
           "reading a trace marker's time");
    return DUO_OK;
}

duo_status duo_trace_end(duo_trace *t)
{
    double start_us, end_us;
    /* Before this bracket's own wait. */
    long blocking = (long)(duo_blocking_total(t->rt) - t->open_blocking);
    if (t->events) {
        if (!t->open)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT, "trace: end without begin");
        cl_event close;
        DUO_TRY(duo_queue_marker(t->rt, &close));
        cl_ulong a = 0, b = 0;
        duo_status st = duo_event_wait(t->rt, 1, &close);
        if (st == DUO_OK)
            st = marker_end_ns(t->open, &a);
        if (st == DUO_OK)
            st = marker_end_ns(close, &b);
        clReleaseEvent(close);
        clReleaseEvent(t->open);
        t->open = NULL;
        DUO_TRY(st);
        start_us = (double)a * 1e-3;
        end_us = (double)b * 1e-3;
    } else {
        DUO_TRY(duo_runtime_finish(t->rt));
        start_us = t->open_host * 1e6;
        end_us = duo_now_seconds() * 1e6;
    }
    if (t->count == t->capacity) {
        int grown = t->capacity ? 2 * t->capacity : 256;
        duo_trace_event *list = realloc(t->list, (size_t)grown * sizeof *list);
        if (!list)
            return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for trace events");
        t->list = list;
        t->capacity = grown;
    }
    if (!t->has_origin) {
        t->origin_us = start_us;
        t->has_origin = true;
    }
    duo_trace_event *e = &t->list[t->count++];
    snprintf(e->name, sizeof e->name, "%s", t->open_name);
    snprintf(e->category, sizeof e->category, "%s", t->open_category);
    e->start_us = start_us - t->origin_us;
    e->dur_us = end_us - start_us;
    e->blocking = blocking;
    return DUO_OK;
}

int duo_trace_count(const duo_trace *t) { return t->count; }
const duo_trace_event *duo_trace_at(const duo_trace *t, int i) { return &t->list[i]; }

duo_status duo_trace_write_chrome(const duo_trace *t, const char *path)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "traceEvents");
    for (int i = 0; i < t->count; i++) {
        const duo_trace_event *e = &t->list[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", e->name);
        cJSON_AddStringToObject(o, "cat", e->category);
        cJSON_AddStringToObject(o, "ph", "X");
        cJSON_AddNumberToObject(o, "ts", e->start_us);
        cJSON_AddNumberToObject(o, "dur", e->dur_us);
        cJSON_AddNumberToObject(o, "pid", 1);
        cJSON_AddNumberToObject(o, "tid", 1);
        cJSON *args = cJSON_AddObjectToObject(o, "args");
        cJSON_AddNumberToObject(args, "blocking_calls", (double)e->blocking);
        cJSON_AddItemToArray(list, o);
    }
    cJSON_AddStringToObject(root, "displayTimeUnit", "ms");
    cJSON_AddStringToObject(root, "otherData", t->events ? "device times from OpenCL marker events"
                                                         : "host times around a queue finish");
    duo_status st = duo_write_json_file(path, "Chrome trace", root, true);
    cJSON_Delete(root);
    return st;
}

/* ---- runner ---- */

static duo_status run_once(duo_runtime *rt, duo_bench_case *c, duo_trace *trace, double *host,
                           double *device, double *cpu)
{
    double cpu0 = cpu_seconds();
    if (trace)
        DUO_TRY(duo_trace_begin(trace, c->name, c->section));
    double t0 = duo_now_seconds();
    unsigned long blocking = duo_blocking_total(rt);
    duo_status st = c->run(c->context, c->arg);
    c->blocking = (double)(duo_blocking_total(rt) - blocking);
    /* The closing marker goes in right behind the work, before the finish,
     * so its timestamp is not pushed back by the host's wait. */
    if (st == DUO_OK && trace)
        st = duo_trace_end(trace);
    if (st == DUO_OK)
        st = duo_runtime_finish(rt);
    *host = duo_now_seconds() - t0;
    *cpu = cpu_seconds() - cpu0;
    if (st != DUO_OK)
        return duo_fail_context(st, "benchmark case %s/%s", c->section, c->name);
    if (trace)
        *device = duo_trace_at(trace, duo_trace_count(trace) - 1)->dur_us * 1e-6;
    return DUO_OK;
}

duo_status duo_bench_run(duo_runtime *rt, duo_bench_case *cases, int count,
                         const duo_bench_run_options *o)
{
    int repeat = o->repeat < 1 ? 1 : o->repeat > DUO_BENCH_MAX_REPEAT ? DUO_BENCH_MAX_REPEAT
                                                                      : o->repeat;
    double host, device = NAN, cpu = 0;
    for (int i = 0; i < count; i++) {
        for (int w = 0; w < o->warmup; w++)
            DUO_TRY(run_once(rt, &cases[i], NULL, &host, &device, &cpu));
        cases[i].cores = 0;
    }
    double *wall = calloc((size_t)count, sizeof *wall);
    double *dev = malloc((size_t)count * (size_t)repeat * sizeof *dev);
    if (!dev || !wall) {
        free(dev);
        free(wall);
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for benchmark samples");
    }
    duo_status st = DUO_OK;
    for (int rep = 0; rep < repeat && st == DUO_OK; rep++)
        for (int i = 0; i < count && st == DUO_OK; i++) {
            device = NAN;
            st = run_once(rt, &cases[i], o->trace, &cases[i].samples[rep], &device, &cpu);
            dev[i * repeat + rep] = device;
            cases[i].cores += cpu; /* summed here, divided by the wall time below */
            wall[i] += cases[i].samples[rep];
            if (o->progress)
                o->progress(o->progress_context, rep * count + i + 1, repeat * count);
        }
    for (int i = 0; i < count && st == DUO_OK; i++) {
        double sorted[DUO_BENCH_MAX_REPEAT];
        memcpy(sorted, cases[i].samples, (size_t)repeat * sizeof *sorted);
        duo_bench_stats_of(sorted, repeat, &cases[i].seconds);
        duo_bench_stats d;
        duo_bench_stats_of(dev + i * repeat, o->trace ? repeat : 0, &d);
        cases[i].device_median = d.median;
        cases[i].cores = wall[i] > 0 ? cases[i].cores / wall[i] : NAN;
    }
    free(dev);
    free(wall);
    return st;
}

/* ---- report ---- */

void duo_bench_report_init(duo_bench_report *r)
{
    memset(r, 0, sizeof *r);
    r->ffn_forward_outside_gemm = r->ffn_backward_outside_gemm = NAN;
    r->load_start = r->load_end = NAN;
    r->ffn_forward_compaction = r->ffn_backward_compaction = NAN;
    r->step_blocking_batch = r->step_blocking_before_loss = NAN;
    r->step_blocking_loss = r->step_blocking_after_loss = NAN;
}

void duo_bench_report_free(duo_bench_report *r)
{
    free(r->cases);
    r->cases = NULL;
    r->count = r->capacity = 0;
}

duo_status duo_bench_report_add(duo_bench_report *r, const duo_bench_case *c)
{
    if (r->count == r->capacity) {
        int grown = r->capacity ? 2 * r->capacity : 64;
        duo_bench_case *cases = realloc(r->cases, (size_t)grown * sizeof *cases);
        if (!cases)
            return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for benchmark cases");
        r->cases = cases;
        r->capacity = grown;
    }
    duo_bench_case *copy = &r->cases[r->count++];
    *copy = *c;
    copy->run = NULL;
    copy->context = NULL;
    copy->arg = 0;
    return DUO_OK;
}

const duo_bench_case *duo_bench_report_find(const duo_bench_report *r, const char *section,
                                            const char *name)
{
    for (int i = 0; i < r->count; i++)
        if (strcmp(r->cases[i].section, section) == 0 && strcmp(r->cases[i].name, name) == 0)
            return &r->cases[i];
    return NULL;
}

static void add_stats(cJSON *parent, const char *key, const duo_bench_stats *s)
{
    cJSON *o = cJSON_AddObjectToObject(parent, key);
    cJSON_AddNumberToObject(o, "n", s->n);
    cJSON_AddNumberToObject(o, "median", s->median);
    cJSON_AddNumberToObject(o, "min", s->min);
    cJSON_AddNumberToObject(o, "max", s->max);
    cJSON_AddNumberToObject(o, "q1", s->q1);
    cJSON_AddNumberToObject(o, "q3", s->q3);
}

duo_status duo_bench_report_to_json(const duo_bench_report *r, char **out)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", "duocl-bench");
    cJSON_AddNumberToObject(root, "version", DUO_BENCH_FORMAT_VERSION);
    cJSON_AddStringToObject(root, "label", r->label);
    cJSON *dev = cJSON_AddObjectToObject(root, "device");
    cJSON_AddStringToObject(dev, "name", r->device);
    cJSON_AddStringToObject(dev, "platform", r->platform);
    cJSON_AddStringToObject(dev, "driver", r->driver);
    cJSON_AddStringToObject(dev, "profile", r->profile);
    cJSON_AddNumberToObject(dev, "compute_units", r->compute_units);
    cJSON_AddStringToObject(root, "environment", r->environment);
    cJSON_AddStringToObject(root, "gemm_tuning", r->gemm_tuning);
    cJSON_AddStringToObject(root, "date", r->date);
    cJSON_AddNumberToObject(root, "load_start", r->load_start);
    cJSON_AddNumberToObject(root, "load_end", r->load_end);
    cJSON_AddStringToObject(root, "config", r->config);
    cJSON_AddNumberToObject(root, "repeat", r->repeat);
    cJSON_AddNumberToObject(root, "warmup", r->warmup);
    cJSON *m = cJSON_AddObjectToObject(root, "model");
    cJSON_AddNumberToObject(m, "vocab", r->model.vocab);
    cJSON_AddNumberToObject(m, "d_model", r->model.d_model);
    cJSON_AddNumberToObject(m, "n_layers", r->model.n_layers);
    cJSON_AddNumberToObject(m, "n_heads", r->model.n_heads);
    cJSON_AddNumberToObject(m, "ctx", r->model.ctx);
    cJSON_AddNumberToObject(m, "ffn_big", r->model.ffn_big);
    cJSON_AddNumberToObject(m, "ffn_small", r->model.ffn_small);
    cJSON_AddNumberToObject(root, "batch", r->batch);
    cJSON *der = cJSON_AddObjectToObject(root, "derived");
    cJSON_AddNumberToObject(der, "ffn_forward_outside_gemm", r->ffn_forward_outside_gemm);
    cJSON_AddNumberToObject(der, "ffn_backward_outside_gemm", r->ffn_backward_outside_gemm);
    cJSON_AddNumberToObject(der, "ffn_forward_compaction", r->ffn_forward_compaction);
    cJSON_AddNumberToObject(der, "ffn_backward_compaction", r->ffn_backward_compaction);
    cJSON_AddNumberToObject(der, "step_blocking_batch", r->step_blocking_batch);
    cJSON_AddNumberToObject(der, "step_blocking_before_loss", r->step_blocking_before_loss);
    cJSON_AddNumberToObject(der, "step_blocking_loss", r->step_blocking_loss);
    cJSON_AddNumberToObject(der, "step_blocking_after_loss", r->step_blocking_after_loss);
    cJSON *list = cJSON_AddArrayToObject(root, "cases");
    for (int i = 0; i < r->count; i++) {
        const duo_bench_case *c = &r->cases[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "section", c->section);
        cJSON_AddStringToObject(o, "name", c->name);
        cJSON_AddStringToObject(o, "shape", c->shape);
        cJSON_AddNumberToObject(o, "work", c->work);
        cJSON_AddStringToObject(o, "unit", c->unit);
        cJSON_AddNumberToObject(o, "rate", duo_bench_rate(c));
        add_stats(o, "seconds", &c->seconds);
        cJSON_AddNumberToObject(o, "device_median", c->device_median);
        cJSON_AddNumberToObject(o, "cores", c->cores);
        cJSON_AddNumberToObject(o, "blocking_calls", c->blocking);
        cJSON *s = cJSON_AddArrayToObject(o, "samples");
        for (int k = 0; k < c->seconds.n && k < DUO_BENCH_MAX_REPEAT; k++)
            cJSON_AddItemToArray(s, cJSON_CreateNumber(c->samples[k]));
        cJSON_AddItemToArray(list, o);
    }
    *out = cJSON_Print(root);
    cJSON_Delete(root);
    return *out ? DUO_OK : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the bench JSON");
}

/* ---- reading ---- */

typedef struct reader {
    const char *source;
    duo_status status;
} reader;

static const cJSON *field(reader *rd, const cJSON *o, const char *key, bool number)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, key);
    bool ok = number ? (cJSON_IsNumber(f) || cJSON_IsNull(f)) : cJSON_IsString(f);
    if (!ok && rd->status == DUO_OK)
        rd->status = duo_fail(DUO_ERR_FORMAT, "%s: '%s' is missing or not a %s", rd->source, key,
                              number ? "number" : "string");
    return ok ? f : NULL;
}

/* A number, or null for one that is unknown (NaN). A value too large for a
 * double (1e999) is refused: it would be written back as null. */
static double number(reader *rd, const cJSON *o, const char *key)
{
    const cJSON *f = field(rd, o, key, true);
    if (!f || !cJSON_IsNumber(f))
        return NAN;
    if (!isfinite(f->valuedouble) && rd->status == DUO_OK)
        rd->status = duo_fail(DUO_ERR_FORMAT, "%s: '%s' is not a finite number", rd->source, key);
    return f->valuedouble;
}

/* A whole number in [lo, hi]: a count or a size. Anything else (null,
 * a fraction, out of range) is a format error, so no NaN or huge value is
 * ever converted to an int. */
static double whole(reader *rd, const cJSON *o, const char *key, double lo, double hi)
{
    const cJSON *f = field(rd, o, key, true);
    if (!f)
        return lo;
    double v = cJSON_IsNumber(f) ? f->valuedouble : NAN;
    if (!(v >= lo && v <= hi && v == floor(v))) {
        if (rd->status == DUO_OK)
            rd->status = duo_fail(DUO_ERR_FORMAT, "%s: '%s' must be a whole number from %.0f to "
                                  "%.0f", rd->source, key, lo, hi);
        return lo;
    }
    return v;
}

/* A number added after the format's first files: NaN when absent (or not finite). */
static double optional_number(const cJSON *o, const char *key)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(f) && isfinite(f->valuedouble) ? f->valuedouble : NAN;
}

static void string(reader *rd, const cJSON *o, const char *key, char *dst, size_t cap)
{
    const cJSON *f = field(rd, o, key, false);
    snprintf(dst, cap, "%s", f ? f->valuestring : "");
}

static const cJSON *object(reader *rd, const cJSON *o, const char *key)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsObject(f) && rd->status == DUO_OK)
        rd->status = duo_fail(DUO_ERR_FORMAT, "%s: '%s' is missing or not an object", rd->source, key);
    return cJSON_IsObject(f) ? f : NULL;
}

static void read_case(reader *rd, const cJSON *o, duo_bench_case *c)
{
    memset(c, 0, sizeof *c);
    string(rd, o, "section", c->section, sizeof c->section);
    string(rd, o, "name", c->name, sizeof c->name);
    string(rd, o, "shape", c->shape, sizeof c->shape);
    string(rd, o, "unit", c->unit, sizeof c->unit);
    c->work = number(rd, o, "work");
    c->device_median = number(rd, o, "device_median");
    c->cores = optional_number(o, "cores");
    c->blocking = optional_number(o, "blocking_calls");
    const cJSON *s = object(rd, o, "seconds");
    if (s) {
        c->seconds.n = (int)whole(rd, s, "n", 0, DUO_BENCH_MAX_REPEAT);
        c->seconds.median = number(rd, s, "median");
        c->seconds.min = number(rd, s, "min");
        c->seconds.max = number(rd, s, "max");
        c->seconds.q1 = number(rd, s, "q1");
        c->seconds.q3 = number(rd, s, "q3");
    }
    /* Exactly seconds.n samples: to_json writes them back from that count. */
    const cJSON *samples = cJSON_GetObjectItemCaseSensitive(o, "samples");
    if (!cJSON_IsArray(samples) || cJSON_GetArraySize(samples) != c->seconds.n) {
        if (rd->status == DUO_OK)
            rd->status = duo_fail(DUO_ERR_FORMAT, "%s: case '%s': 'samples' must be an array of "
                                  "seconds.n = %d numbers", rd->source, c->name, c->seconds.n);
        c->seconds.n = 0;
        return;
    }
    int k = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, samples)
        c->samples[k++] = cJSON_IsNumber(x) && isfinite(x->valuedouble) ? x->valuedouble : NAN;
}

duo_status duo_bench_report_from_json(const char *text, const char *source, duo_bench_report *out)
{
    duo_bench_report_init(out);
    cJSON *root = cJSON_Parse(text);
    if (!root)
        return duo_fail(DUO_ERR_FORMAT, "%s: not valid JSON", source);
    reader rd = {source, DUO_OK};
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsString(format) || strcmp(format->valuestring, "duocl-bench") != 0) {
        cJSON_Delete(root);
        return duo_fail(DUO_ERR_FORMAT, "%s: not a duocl bench file (no \"format\": "
                        "\"duocl-bench\"); write one with 'duocl bench --json FILE'", source);
    }
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsNumber(version) || version->valuedouble != DUO_BENCH_FORMAT_VERSION) {
        char got[32] = "none";
        if (cJSON_IsNumber(version))
            snprintf(got, sizeof got, "%g", version->valuedouble);
        cJSON_Delete(root);
        return duo_fail(DUO_ERR_FORMAT, "%s: bench format version %s, this duocl reads %d; rerun "
                        "'duocl bench' with this version", source, got, DUO_BENCH_FORMAT_VERSION);
    }
    string(&rd, root, "label", out->label, sizeof out->label);
    const cJSON *dev = object(&rd, root, "device");
    if (dev) {
        string(&rd, dev, "name", out->device, sizeof out->device);
        string(&rd, dev, "platform", out->platform, sizeof out->platform);
        string(&rd, dev, "driver", out->driver, sizeof out->driver);
        string(&rd, dev, "profile", out->profile, sizeof out->profile);
        out->compute_units = (unsigned)whole(&rd, dev, "compute_units", 0, UINT32_MAX);
    }
    string(&rd, root, "environment", out->environment, sizeof out->environment);
    const cJSON *tuning = cJSON_GetObjectItemCaseSensitive(root, "gemm_tuning");
    snprintf(out->gemm_tuning, sizeof out->gemm_tuning, "%s",
             cJSON_IsString(tuning) ? tuning->valuestring : "not recorded");
    string(&rd, root, "date", out->date, sizeof out->date);
    out->load_start = optional_number(root, "load_start");
    out->load_end = optional_number(root, "load_end");
    string(&rd, root, "config", out->config, sizeof out->config);
    out->repeat = (int)whole(&rd, root, "repeat", 0, DUO_BENCH_MAX_REPEAT);
    out->warmup = (int)whole(&rd, root, "warmup", 0, INT_MAX);
    const cJSON *m = object(&rd, root, "model");
    if (m) {
        out->model.vocab = (int)whole(&rd, m, "vocab", 0, INT_MAX);
        out->model.d_model = (int)whole(&rd, m, "d_model", 0, INT_MAX);
        out->model.n_layers = (int)whole(&rd, m, "n_layers", 0, INT_MAX);
        out->model.n_heads = (int)whole(&rd, m, "n_heads", 0, INT_MAX);
        out->model.ctx = (int)whole(&rd, m, "ctx", 0, INT_MAX);
        out->model.ffn_big = (int)whole(&rd, m, "ffn_big", 0, INT_MAX);
        out->model.ffn_small = (int)whole(&rd, m, "ffn_small", 0, INT_MAX);
    }
    out->batch = (int)whole(&rd, root, "batch", 0, INT_MAX);
    const cJSON *der = object(&rd, root, "derived");
    if (der) {
        out->ffn_forward_outside_gemm = number(&rd, der, "ffn_forward_outside_gemm");
        out->ffn_backward_outside_gemm = number(&rd, der, "ffn_backward_outside_gemm");
        out->ffn_forward_compaction = number(&rd, der, "ffn_forward_compaction");
        out->ffn_backward_compaction = number(&rd, der, "ffn_backward_compaction");
        out->step_blocking_batch = optional_number(der, "step_blocking_batch");
        out->step_blocking_before_loss = optional_number(der, "step_blocking_before_loss");
        out->step_blocking_loss = optional_number(der, "step_blocking_loss");
        out->step_blocking_after_loss = optional_number(der, "step_blocking_after_loss");
    }
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases");
    if (!cJSON_IsArray(cases) && rd.status == DUO_OK)
        rd.status = duo_fail(DUO_ERR_FORMAT, "%s: 'cases' is missing or not an array", source);
    const cJSON *o;
    cJSON_ArrayForEach(o, cases)
    {
        duo_bench_case c;
        read_case(&rd, o, &c);
        if (rd.status == DUO_OK)
            rd.status = duo_bench_report_add(out, &c);
    }
    cJSON_Delete(root);
    if (rd.status != DUO_OK)
        duo_bench_report_free(out);
    return rd.status;
}
