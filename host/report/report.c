/* duocl report: one self-contained HTML page (inline CSS and SVG, nothing
 * fetched) with everything a run directory holds: config and device,
 * training curves, perplexity vs budget, where BIG layers go, router
 * training, token difficulty and the paper's claims checked against the
 * numbers. Charts are drawn by gnuplot (SVG terminal) in a child process. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/error.h"
#include "base/fileio.h"
#include "report.h"
#include "study/routing_spec.h"
#include "study/run_files.h"


/* ---- reading the run ---------------------------------------------------- */

static void load_input(rpt_run *run, rpt_input *in, const char *file)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", run->dir, file);
    in->file = file;
    struct stat st;
    in->present = stat(path, &st) == 0;
    if (!in->present)
        return;
    uint8_t *text;
    size_t n;
    if (duo_read_whole_file(path, file, &text, &n) != DUO_OK) {
        snprintf(in->problem, sizeof in->problem, "%.250s", duo_last_error());
    } else {
        in->json = cJSON_Parse((const char *)text);
        free(text);
        if (!cJSON_IsObject(in->json)) {
            cJSON_Delete(in->json);
            in->json = NULL;
            snprintf(in->problem, sizeof in->problem, "%.180s is not a valid JSON object (damaged? run its command again)", path);
        }
    }
    if (!in->json)
        rpt_warn(run, "%s: %s", file, in->problem);
}

/* A JSON-lines file as an array of its objects; NULL if it is missing.
 * Lines that do not parse (a crash mid-write) are skipped. */
static cJSON *load_jsonl(rpt_run *run, const char *path)
{
    uint8_t *text;
    size_t n;
    if (duo_read_whole_file(path, "log", &text, &n) != DUO_OK)
        return NULL;
    cJSON *records = cJSON_CreateArray();
    int bad = 0;
    for (char *line = (char *)text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strspn(line, " \t\r") == strlen(line))
            continue;
        cJSON *record = cJSON_Parse(line);
        if (cJSON_IsObject(record))
            cJSON_AddItemToArray(records, record);
        else {
            cJSON_Delete(record);
            bad++;
        }
    }
    free(text);
    if (bad)
        rpt_warn(run, "%s: skipped %d line(s) that are not JSON objects", path, bad);
    return records;
}

/* "router:runs/x/router/k2-SB/router.ckpt,exact" -> k 2, "SB", exact
 * (study/routing_spec.c reads the spec); a spec it refuses keeps k = -1. */
static void parse_router_spec(rpt_router_eval *r)
{
    duo_routing_spec spec;
    r->k = -1;
    if (duo_routing_spec_parse(r->spec, 0, &spec) == DUO_OK) {
        r->exact = spec.exact;
        r->k = spec.router_budget;
        if (r->k >= 0)
            snprintf(r->alphabet, sizeof r->alphabet, "%s", duo_alphabet_name(spec.router_alphabet));
    }
    /* Issue 16's routers: oracle-taught, signal, seed (report_reach.c). */
    rpt_router_kind kind = RPT_ROUTER_BUDGET_LOSS;
    int folder_k, seed = 1;
    bool folder_exact;
    if (rpt_router_spec_info(r->spec, &kind, &folder_k, &seed, &folder_exact) && r->k < 0) {
        r->k = folder_k;
        r->exact = folder_exact;
    }
    r->kind = (int)kind;
    r->seed = seed;
    char tags[32];
    snprintf(tags, sizeof tags, "%s%s", kind == RPT_ROUTER_ORACLE_TAUGHT ? " oracle-taught"
                                        : kind == RPT_ROUTER_SIGNAL      ? " signal"
                                                                         : "",
             seed == 2 ? " s2" : seed > 2 ? " s3+" : "");
    if (r->k >= 0)
        snprintf(r->label, sizeof r->label, "%s k=%d%s%s%s%s",
                 kind == RPT_ROUTER_SIGNAL ? "signal" : "router", r->k,
                 strcmp(r->alphabet, "SB") && r->alphabet[0] ? " " : "",
                 strcmp(r->alphabet, "SB") ? r->alphabet : "",
                 kind == RPT_ROUTER_SIGNAL ? tags + 7 : tags, r->exact ? " (exact)" : "");
    else
        snprintf(r->label, sizeof r->label, "router%s", r->exact ? " (exact)" : "");
}

static int compare_router_evals(const void *a, const void *b)
{
    const rpt_router_eval *x = a, *y = b;
    if (x->k != y->k)
        return x->k - y->k;
    if (x->exact != y->exact)
        return x->exact - y->exact;
    /* The budget-loss router of seed 1 first (the claims take the first of
     * each budget), then oracle-taught, signal; seeds in order. */
    if (x->kind != y->kind)
        return x->kind - y->kind;
    if (x->seed != y->seed)
        return x->seed - y->seed;
    return strcmp(x->spec, y->spec);
}

static int compare_router_logs(const void *a, const void *b)
{
    const rpt_router_log *x = a, *y = b;
    return x->k != y->k ? x->k - y->k : strcmp(x->name, y->name);
}

static void load_routers(rpt_run *run)
{
    const cJSON *entry;
    cJSON_ArrayForEach(entry, run->eval.json)
        if (entry->string &&
            (strncmp(entry->string, "router:", 7) == 0 || strncmp(entry->string, "signal:", 7) == 0) &&
            cJSON_IsObject(entry) &&
            run->n_router_evals < RPT_MAX_ROUTERS) {
            rpt_router_eval *r = &run->router_eval[run->n_router_evals++];
            r->spec = entry->string;
            r->entry = entry;
            parse_router_spec(r);
        }
    qsort(run->router_eval, (size_t)run->n_router_evals, sizeof run->router_eval[0], compare_router_evals);

    char path[1400];
    snprintf(path, sizeof path, "%s/%s", run->dir, DUO_RUN_ROUTERS);
    DIR *dir = opendir(path);
    if (!dir)
        return;
    for (struct dirent *e; (e = readdir(dir)) != NULL && run->n_router_logs < RPT_MAX_ROUTERS;) {
        /* The name goes into gnuplot scripts and HTML as it is. */
        if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof run->router_log[0].name ||
            strspn(e->d_name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
                strlen(e->d_name))
            continue;
        snprintf(path, sizeof path, "%s/%s/%s/%s", run->dir, DUO_RUN_ROUTERS, e->d_name,
                 DUO_ROUTER_LOG);
        cJSON *records = load_jsonl(run, path);
        if (!records)
            continue;
        rpt_router_log *log = &run->router_log[run->n_router_logs++];
        snprintf(log->name, sizeof log->name, "%.63s", e->d_name); /* checked above to fit */
        log->records = records;
        if (sscanf(log->name, "k%d", &log->k) != 1)
            log->k = -1;
    }
    closedir(dir);
    qsort(run->router_log, (size_t)run->n_router_logs, sizeof run->router_log[0], compare_router_logs);
}

duo_status rpt_run_open(const char *dir, const duo_report_options *options, rpt_run *run)
{
    *run = (rpt_run){.dir = dir};
    if (options) {
        run->warn = options->warn;
        run->user = options->user;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return duo_fail(DUO_ERR_IO, "run directory '%s' not found (make one with 'duocl train CONFIG "
                        "--run-dir %s')", dir, dir);
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, DUO_RUN_CONFIG);
    if (stat(path, &st) != 0)
        return duo_fail(DUO_ERR_IO, "'%s' is not a run directory: it has no config.json (make one "
                        "with 'duocl train CONFIG --run-dir %s')", dir, dir);
    DUO_TRY(duo_config_load(path, &run->config));
    size_t n;
    DUO_TRY(duo_read_whole_file(path, "config", (uint8_t **)&run->config_text, &n));
    load_input(run, &run->eval, DUO_RUN_EVAL);
    load_input(run, &run->oracle, DUO_RUN_ORACLE);
    load_input(run, &run->difficulty, DUO_RUN_DIFFICULTY);
    snprintf(path, sizeof path, "%s/%s", dir, DUO_RUN_LOG);
    run->log = load_jsonl(run, path);
    duo_clear_error();
    load_routers(run);
    return DUO_OK;
}

void rpt_run_close(rpt_run *run)
{
    free(run->config_text);
    cJSON_Delete(run->eval.json);
    cJSON_Delete(run->oracle.json);
    cJSON_Delete(run->difficulty.json);
    cJSON_Delete(run->log);
    for (int i = 0; i < run->n_router_logs; i++)
        cJSON_Delete(run->router_log[i].records);
}

/* ---- the page ----------------------------------------------------------- */

static const char CSS[] =
    "*{box-sizing:border-box}"
    "body{margin:0;font:15px/1.45 'DejaVu Sans',system-ui,sans-serif;color:#1d1d1f;background:#f4f5f7}"
    "header{background:#1f2a37;color:#fff;padding:18px 32px 12px}"
    "header h1{margin:0 0 4px;font-size:24px}header p{margin:2px 0;color:#c8d0da;font-size:13px}"
    "nav{margin-top:10px}nav a{color:#9fd3ff;margin-right:16px;text-decoration:none;font-size:14px}"
    "main{max-width:1320px;margin:0 auto;padding:8px 24px 40px}"
    "section{background:#fff;border:1px solid #dde1e6;border-radius:6px;margin:18px 0;padding:6px 22px 18px}"
    "h2{font-size:20px;margin:14px 0 8px;border-bottom:2px solid #eef0f3;padding-bottom:6px}"
    "h3{font-size:16px;margin:16px 0 6px}"
    "p.lead{color:#444;margin:6px 0 10px;max-width:1000px}"
    "table{border-collapse:collapse;margin:6px 0 10px;font-size:13.5px}"
    "th,td{border-bottom:1px solid #e6e8eb;padding:4px 10px;text-align:left;vertical-align:top}"
    "th{background:#f6f7f9;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "code,pre{font-family:'DejaVu Sans Mono',monospace;font-size:12.5px}"
    "code{background:#f1f3f5;padding:1px 4px;border-radius:3px}"
    "pre{background:#f6f7f9;padding:10px;overflow:auto;max-height:420px}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:14px}"
    ".grid3{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}"
    ".cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:0 28px}"
    ".cols table{width:100%}.cols th{white-space:nowrap;width:1%}"
    "figure.chart{margin:6px 0;border:1px solid #eceef1;border-radius:4px;padding:6px}"
    "figure.chart svg{display:block;width:100%;height:auto}"
    "figcaption{font-size:13px;color:#444;margin:6px 4px 2px}"
    ".chart-note{background:#fff8e1;border:1px dashed #d9a400;padding:22px 14px;color:#5c4400;font-size:14px}"
    ".missing{background:#fff4e5;border-left:4px solid #f0a000;padding:10px 14px;margin:10px 0;color:#4d3300}"
    ".grid>.missing,.grid3>.missing{align-self:start}"
    ".warn{background:#fdecea;border-left:4px solid #d93025;padding:8px 14px;margin:8px 0;color:#5f1410}"
    ".info{background:#eef6fc;border-left:4px solid #1f78b4;padding:8px 14px;margin:8px 0;color:#0d3552}"
    ".status{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12.5px;font-weight:600;white-space:nowrap}"
    ".s-yes{background:#d7f0dd;color:#11602a}.s-no{background:#fbd9d6;color:#8a1c12}"
    ".s-part{background:#fdecc8;color:#7a4c00}.s-na{background:#e8eaed;color:#4a4f57}"
    "table.claims td{font-size:13.5px}table.claims td.evidence{font-size:12.5px;color:#333}"
    ".passage{font-family:'DejaVu Sans Mono',monospace;font-size:13px;line-height:1.75;white-space:pre-wrap;"
    "overflow-wrap:anywhere;border:1px solid #e3e5e8;padding:8px 10px;border-radius:4px;background:#fff}"
    ".passage span{border-radius:2px}.passage .nl{opacity:.55}.passage .esc{font-size:10px;opacity:.7}"
    ".passage .wb{color:#b0b4ba;background:none}.passage .first{color:#777;text-decoration:underline dotted}"
    ".legend{display:flex;align-items:center;gap:8px;font-size:12.5px;color:#444;margin:4px 0}"
    ".legend .bar{width:220px;height:12px;border:1px solid #ccc}"
    "details summary{cursor:pointer;color:#1f5f99;margin:6px 0}"
    ".small{font-size:12.5px;color:#555}";

static void page_start(rpt_buf *h, const rpt_run *run)
{
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
    rb_puts(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>duocl report: ");
    rb_html(h, run->dir);
    rb_printf(h, "</title>\n<style>%s</style>\n</head><body>\n<header><h1>duocl report: ", CSS);
    rb_html(h, run->dir);
    rb_printf(h, "</h1><p>Written %s by duocl %s. Duo-LLM study (Alizadeh et al., 2024): a model with a "
                 "big and a small FFN in every layer, routed per token.</p>\n<nav>", when, DUOCL_VERSION);
    static const char *const toc[][2] = {
        {"claims", "Claims"}, {"config", "Config &amp; device"}, {"training", "Training"},
        {"budget", "Perplexity vs budget"}, {"placement", "Where BIG goes"},
        {"router", "Router training"}, {"difficulty", "Token difficulty"}};
    for (size_t i = 0; i < sizeof toc / sizeof toc[0]; i++)
        rb_printf(h, "<a href=\"#%s\">%s</a>", toc[i][0], toc[i][1]);
    rb_puts(h, "</nav></header>\n<main>\n");
}

static void row(rpt_buf *h, const char *name, const char *format, ...) __attribute__((format(printf, 3, 4)));
static void row(rpt_buf *h, const char *name, const char *format, ...)
{
    char value[512];
    va_list args;
    va_start(args, format);
    vsnprintf(value, sizeof value, format, args);
    va_end(args);
    rb_printf(h, "<tr><th>%s</th><td>", name);
    rb_html(h, value);
    rb_puts(h, "</td></tr>\n");
}

/* The devices that wrote the results (they may differ between stages). */
static void devices_row(rpt_buf *h, const rpt_run *run)
{
    const char *seen[16];
    int n = 0;
    const cJSON *sources[2] = {run->oracle.json, NULL};
    const char *device = rj_str(sources[0], "device");
    if (device)
        seen[n++] = device;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, run->eval.json) {
        const char *d = rj_str(entry, "device");
        bool known = !d;
        for (int i = 0; i < n && !known; i++)
            known = strcmp(seen[i], d) == 0;
        if (!known && n < 16)
            seen[n++] = d;
    }
    rb_puts(h, "<tr><th>device</th><td>");
    if (n == 0)
        rb_puts(h, "not recorded yet (eval.json and oracle.json name the device that made them)");
    for (int i = 0; i < n; i++) {
        rb_puts(h, i ? "<br>" : "");
        rb_html(h, seen[i]);
    }
    rb_puts(h, "</td></tr>\n");
}

/* 52500 -> "52.5 K", 1.4e9 -> "1.4 B". */
static const char *human(double x, char *buf, size_t cap)
{
    static const char *const units[] = {"", " K", " M", " B", " T"};
    int u = 0;
    while (fabs(x) >= 1000 && u < 4) {
        x /= 1000;
        u++;
    }
    snprintf(buf, cap, "%.3g%s", x, units[u]);
    return buf;
}

static void section_config(rpt_buf *h, const rpt_run *run)
{
    const duo_model_config *m = &run->config.model;
    const duo_train_config *t = &run->config.train;
    double d = m->d_model, L = m->n_layers;
    double big = L * 3 * d * m->ffn_big, small = L * 3 * d * m->ffn_small, attention = L * 4 * d * d;
    double embedding = (double)m->vocab * d, norms = (2 * L + 1) * d;
    rb_puts(h, "<section id=\"config\"><h2>Config and device</h2>\n<div class=\"cols\"><table>\n");
    row(h, "layers L", "%d", m->n_layers);
    row(h, "d_model / heads", "%d / %d (head dim %d)", m->d_model, m->n_heads, m->d_model / m->n_heads);
    row(h, "FFN width big / small", "%d / %d (%.0fx smaller)", m->ffn_big, m->ffn_small,
        (double)m->ffn_big / m->ffn_small);
    row(h, "context / vocab", "%d tokens / %d", m->ctx, m->vocab);
    char b[5][32];
    row(h, "parameters", "%s: big FFNs %s, small FFNs %s, attention %s, embeddings %s (tied)",
        human(big + small + attention + embedding + norms, b[0], 32), human(big, b[1], 32), human(small, b[2], 32),
        human(attention, b[3], 32), human(embedding, b[4], 32));
    rb_puts(h, "</table><table>\n");
    long last_step = 0;
    double elapsed = NAN;
    const cJSON *record;
    cJSON_ArrayForEach(record, run->log)
        if (rj_str(record, "type") && strcmp(rj_str(record, "type"), "train") == 0) {
            last_step = rj_whole(record, "step", 0, LONG_MAX, last_step);
            elapsed = rj_num(record, "elapsed_s");
        }
    row(h, "training steps", "%ld of %d done, batch %d x %d tokens (%s tokens)", last_step, t->steps,
        t->batch, m->ctx, human((double)last_step * t->batch * m->ctx, b[0], 32));
    if (isfinite(elapsed))
        row(h, "training time", "%.0f s (%.1f min)", elapsed, elapsed / 60);
    row(h, "optimizer", "AdamW lr %g (%s, warm-up %d, min %g), betas %g/%g, weight decay %g, clip %g", t->lr,
        duo_schedule_kind_name(t->schedule), t->warmup, t->min_lr, t->beta1, t->beta2, t->weight_decay,
        t->grad_clip);
    row(h, "stage-1 routes", "p_big %g, p_small %g, p_skip %g, seed %llu", t->p_big, t->p_small, t->p_skip,
        (unsigned long long)t->seed);
    char domains[512] = "";
    for (int i = 0; i < t->n_domains; i++) {
        char one[64];
        snprintf(one, sizeof one, "%s%s (%g)", i ? ", " : "", t->domains[i].name, t->domains[i].weight);
        strncat(domains, one, sizeof domains - strlen(domains) - 1);
    }
    row(h, "domains (weight)", "%s", domains);
    row(h, "data", "tokenizer %s, shards %s", run->config.data.tokenizer, run->config.data.shards);
    devices_row(h, run);
    rb_puts(h, "</table></div>\n<h3>Inputs</h3>\n<table><tr><th>file</th><th>status</th><th>made by</th></tr>\n");
    const struct { const char *file; bool present; const char *problem; const char *command; } inputs[] = {
        {DUO_RUN_CONFIG, true, "", "duocl train"},
        {DUO_RUN_LOG, run->log != NULL, "", "duocl train"},
        {DUO_RUN_EVAL, run->eval.present, run->eval.problem, "duocl eval RUN --routes SPEC"},
        {DUO_RUN_ORACLE, run->oracle.present, run->oracle.problem, "duocl oracle RUN"},
        {DUO_RUN_ROUTERS "/*/" DUO_ROUTER_LOG, run->n_router_logs > 0, "", "duocl router train RUN --budget K"},
        {DUO_RUN_DIFFICULTY, run->difficulty.present, run->difficulty.problem, "duocl difficulty RUN --budget K"},
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        rb_printf(h, "<tr><td><code>%s</code></td><td>", inputs[i].file);
        if (!inputs[i].present)
            rb_puts(h, "<span class=\"status s-na\">missing</span>");
        else if (inputs[i].problem[0]) {
            rb_puts(h, "<span class=\"status s-no\">unreadable</span> ");
            rb_html(h, inputs[i].problem);
        } else
            rb_puts(h, "<span class=\"status s-yes\">found</span>");
        rb_printf(h, "</td><td><code>%s</code></td></tr>\n", inputs[i].command);
    }
    rb_puts(h, "</table>\n<details><summary>config.json (resolved: every default filled in)</summary><pre>");
    rb_html(h, run->config_text);
    rb_puts(h, "</pre></details></section>\n");
}

void rpt_render(rpt_run *run, rpt_plotter *plotter, rpt_buf *html)
{
    page_start(html, run);
    rpt_section_claims(run, html);
    section_config(html, run);
    rpt_section_training(run, plotter, html);
    rpt_section_budget(run, plotter, html);
    rpt_section_reach(run, html);
    rpt_section_placement(run, plotter, html);
    rpt_section_router(run, plotter, html);
    rpt_section_difficulty(run, html);
    rpt_section_signals(run, html);
    rb_puts(html, "</main>\n</body></html>\n");
}

static duo_status render(rpt_run *run, const char *out_path, duo_report_summary *summary)
{
    rpt_buf html = {0};
    rpt_plotter plotter;
    rpt_plotter_init(&plotter);
    rpt_render(run, &plotter, &html);
    rpt_plotter_done(&plotter);
    duo_status st = DUO_OK;
    if (html.failed)
        st = duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory while writing the report");
    if (st == DUO_OK) {
        const void *parts[] = {html.data};
        size_t sizes[] = {html.len};
        st = duo_write_file_atomic(out_path, "report", parts, sizes, 1);
    }
    summary->charts_drawn = plotter.drawn;
    summary->charts_failed = plotter.failed;
    summary->gnuplot_unavailable = plotter.unavailable;
    summary->warnings = run->warnings;
    rb_free(&html);
    return st;
}

duo_status duo_report_write(const char *run_dir, const duo_report_options *options,
                            duo_report_summary *summary)
{
    *summary = (duo_report_summary){0};
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", run_dir);
    for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--)
        dir[n - 1] = '\0';
    if (options && options->out_path)
        snprintf(summary->path, sizeof summary->path, "%s", options->out_path);
    else
        snprintf(summary->path, sizeof summary->path, "%s/%s", dir, DUO_RUN_REPORT);
    rpt_run run;
    duo_status st = rpt_run_open(dir, options, &run);
    if (st == DUO_OK)
        st = render(&run, summary->path, summary);
    rpt_run_close(&run);
    return st;
}
