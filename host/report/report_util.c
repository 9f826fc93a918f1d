/* duocl report: the text buffer, JSON accessors and the gnuplot runner. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fileio.h"
#include "report.h"

extern char **environ;

/* ---- text buffer ------------------------------------------------------ */

static bool reserve(rpt_buf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) {
        b->failed = true;
        return false;
    }
    b->data = data;
    b->cap = cap;
    return true;
}

static void append(rpt_buf *b, const char *text, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, text, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void rb_puts(rpt_buf *b, const char *text) { append(b, text, strlen(text)); }

void rb_printf(rpt_buf *b, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int n = vsnprintf(NULL, 0, format, args);
    va_end(args);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    va_start(args, format);
    vsnprintf(b->data + b->len, (size_t)n + 1, format, args);
    va_end(args);
    b->len += (size_t)n;
}

void rb_html(rpt_buf *b, const char *text)
{
    for (const char *s = text; s && *s; s++) {
        switch (*s) {
        case '&': rb_puts(b, "&amp;"); break;
        case '<': rb_puts(b, "&lt;"); break;
        case '>': rb_puts(b, "&gt;"); break;
        case '"': rb_puts(b, "&quot;"); break;
        case '\'': rb_puts(b, "&#39;"); break;
        default: append(b, s, 1);
        }
    }
}

void rb_command(rpt_buf *b, const char *command, const char *dir)
{
    char piece[2];
    piece[1] = '\0';
    for (const char *s = command; *s;) {
        if (strncmp(s, "RUN", 3) == 0) {
            rb_html(b, dir);
            s += 3;
        } else {
            piece[0] = *s++;
            rb_html(b, piece);
        }
    }
}

void rb_free(rpt_buf *b)
{
    free(b->data);
    *b = (rpt_buf){0};
}

/* ---- JSON accessors ----------------------------------------------------- */

const cJSON *rj_get(const cJSON *object, const char *key)
{
    return cJSON_IsObject(object) ? cJSON_GetObjectItemCaseSensitive(object, key) : NULL;
}

double rj_num(const cJSON *object, const char *key)
{
    const cJSON *item = rj_get(object, key);
    return cJSON_IsNumber(item) ? item->valuedouble : NAN;
}

const char *rj_str(const cJSON *object, const char *key)
{
    const cJSON *item = rj_get(object, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

double rj_num2(const cJSON *object, const char *k1, const char *k2)
{
    return rj_num(rj_get(object, k1), k2);
}

long rj_whole(const cJSON *object, const char *key, long lo, long hi, long otherwise)
{
    double v = rj_num(object, key);
    return v >= (double)lo && v <= (double)hi && v == floor(v) && fabs(v) < 0x1p52 ? (long)v : otherwise;
}

/* ---- the run ------------------------------------------------------------ */

void rpt_warn(rpt_run *run, const char *format, ...)
{
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    if (run->warn)
        run->warn(message, run->user);
    run->warnings++;
}

int rpt_layers(const rpt_run *run)
{
    double L = rj_num(run->oracle.json, "layers");
    return isfinite(L) && L >= 1 && L <= RPT_MAX_LAYERS ? (int)L : run->config.model.n_layers;
}

const cJSON *rpt_oracle_domain(const rpt_run *run, const char *domain)
{
    return rj_get(rj_get(run->oracle.json, "domains"), domain);
}

const cJSON *rpt_oracle_budget(const cJSON *oracle_domain, int k)
{
    const cJSON *budget;
    cJSON_ArrayForEach(budget, rj_get(oracle_domain, "budgets"))
        if (rj_num(budget, "k") == k)
            return budget;
    return NULL;
}

/* Token-weighted mean over domains of big_per_layer (bucket < 0) or of
 * big_per_layer_bucket[.][bucket], for each layer. */
bool rpt_pooled_big(const cJSON *by_domain, int k, int bucket, int L, double *out)
{
    double weight = 0;
    for (int l = 0; l < L; l++)
        out[l] = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, by_domain) {
        const cJSON *src = k >= 0 ? rpt_oracle_budget(d, k) : d;
        const cJSON *arr = rj_get(src, bucket < 0 ? "big_per_layer" : "big_per_layer_bucket");
        double tokens = rj_num(d, "tokens");
        if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != L || !(tokens > 0))
            continue;
        for (int l = 0; l < L; l++) {
            const cJSON *v = cJSON_GetArrayItem(arr, l);
            if (bucket >= 0)
                v = cJSON_GetArrayItem(v, bucket);
            out[l] += tokens * (cJSON_IsNumber(v) ? v->valuedouble : 0);
        }
        weight += tokens;
    }
    for (int l = 0; l < L && weight > 0; l++)
        out[l] /= weight;
    return weight > 0;
}

/* The all-small and all-big losses on the tokens an eval.json entry scored
 * in a domain: eval.json's own all-small/all-big entries with the same token
 * count, else oracle.json's when it scored the same number of tokens. */
bool rpt_eval_references(const rpt_run *run, const char *domain, double tokens, const cJSON *od,
                         double *small, double *big)
{
    const cJSON *s = rj_get(rj_get(run->eval.json, "all-small"), domain);
    const cJSON *b = rj_get(rj_get(run->eval.json, "all-big"), domain);
    if (s && b && rj_num(s, "tokens") == tokens && rj_num(b, "tokens") == tokens) {
        *small = rj_num(s, "loss");
        *big = rj_num(b, "loss");
        return true;
    }
    if (rj_num(od, "tokens") == tokens) {
        *small = rj_num2(od, "all_small", "loss");
        *big = rj_num2(od, "all_big", "loss");
        return true;
    }
    return false;
}

double rpt_eval_ppl(const rpt_run *run, const cJSON *od, const cJSON *value, bool *mapped)
{
    double tokens = rj_num(value, "tokens"), small, big;
    *mapped = false;
    if (tokens == rj_num(od, "tokens") || !rpt_eval_references(run, od->string, tokens, od, &small, &big) ||
        !(small != big))
        return rj_num(value, "ppl");
    double closed = rpt_gap_closed(rj_num(value, "loss"), small, big);
    double small_o = rj_num2(od, "all_small", "loss"), big_o = rj_num2(od, "all_big", "loss");
    *mapped = true;
    return exp(small_o - closed * (small_o - big_o));
}

void rpt_missing(rpt_buf *html, const char *what, const char *command, const char *dir)
{
    rb_puts(html, "<div class=\"missing\"><b>Not run yet:</b> ");
    rb_html(html, what);
    rb_puts(html, " Produce it with <code>");
    rb_command(html, command, dir);
    rb_puts(html, "</code>.</div>\n");
}

/* ---- charts ------------------------------------------------------------- */

const char RPT_GNUPLOT_STYLE[] =
    "set border 3 lw 1 lc rgb '#666666'\n"
    "set tics nomirror out scale 0.6 textcolor rgb '#333333'\n"
    "set grid lc rgb '#e4e4e4' lw 1 dt 1\n"
    "set key noautotitle samplen 2.5 spacing 1.1 textcolor rgb '#222222'\n"
    "set title textcolor rgb '#111111'\n"
    /* series colours, the same in every chart: oracle, fixed, random-N,
     * mean of all patterns, router, router (exact), all-big, all-small */
    "set linetype 1 lc rgb '#1b9e77' lw 2.2 pt 7 ps 0.9\n"
    "set linetype 2 lc rgb '#d95f02' lw 2 pt 5 ps 0.8\n"
    "set linetype 3 lc rgb '#7570b3' lw 1.6 dt (6,4) pt 13 ps 1.1\n"
    "set linetype 4 lc rgb '#999999' lw 1.4 dt (2,3) pt 1 ps 0.8\n"
    "set linetype 5 lc rgb '#e7298a' lw 2 pt 9 ps 1.8\n"
    "set linetype 6 lc rgb '#e7298a' lw 2 pt 8 ps 1.8\n"
    "set linetype 7 lc rgb '#222222' lw 1.4 dt (8,4)\n"
    "set linetype 8 lc rgb '#888888' lw 1.4 dt (3,3)\n"
    "set linetype 9 lc rgb '#1f78b4' lw 1.6 pt 7 ps 0.6\n"
    "set linetype 10 lc rgb '#a6761d' lw 1.6 pt 5 ps 0.6\n";

void rpt_plotter_init(rpt_plotter *p)
{
    *p = (rpt_plotter){0};
    const char *program = getenv("DUOCL_GNUPLOT");
    p->program = program && *program ? program : "gnuplot";
    const char *base = getenv("TMPDIR");
    snprintf(p->tmp, sizeof p->tmp, "%s/duocl-report-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(p->tmp)) {
        p->unavailable = true;
        snprintf(p->why, sizeof p->why, "cannot create a temporary folder (%s) for gnuplot's files: %s",
                 p->tmp, strerror(errno));
        p->tmp[0] = '\0';
    }
}

static void remove_chart_files(const rpt_plotter *p, const char *id)
{
    static const char *const ext[] = {"gp", "svg", "log"};
    char path[512];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s.%s", p->tmp, id, ext[i]);
        remove(path);
    }
}

void rpt_plotter_done(rpt_plotter *p)
{
    if (p->tmp[0])
        rmdir(p->tmp);
}

/* Runs `program script` with output to log_path; returns the exit status
 * (127 when it could not be started) and sets errno_out on a spawn failure. */
static int run_gnuplot(const char *program, const char *script, const char *log_path, int *spawn_errno)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    char *argv[] = {(char *)program, (char *)script, NULL};
    pid_t pid;
    *spawn_errno = posix_spawnp(&pid, program, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (*spawn_errno != 0)
        return 127;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 127;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* Appends the SVG without its XML prolog and gnuplot's <title>, with every
 * id and reference to an id prefixed "ID-" (ids must be unique in a page). */
static void append_svg(rpt_buf *html, const char *svg, const char *id)
{
    const char *start = strstr(svg, "<svg");
    if (!start)
        return;
    static const char *const anchors[] = {"id='", "id=\"", "href='#", "href=\"#", "url(#"};
    for (const char *s = start; *s;) {
        if (strncmp(s, "<title>", 7) == 0) {
            const char *end = strstr(s, "</title>");
            if (end) {
                s = end + 8;
                continue;
            }
        }
        bool matched = false;
        for (size_t a = 0; a < sizeof anchors / sizeof anchors[0] && !matched; a++) {
            size_t n = strlen(anchors[a]);
            if (strncmp(s, anchors[a], n) == 0) {
                append(html, s, n);
                rb_printf(html, "%s-", id);
                s += n;
                matched = true;
            }
        }
        if (!matched)
            append(html, s++, 1);
    }
}

static void chart_note(rpt_buf *html, const char *id, const char *why, const char *caption_html)
{
    rb_printf(html, "<figure class=\"chart no-chart\" id=\"%s\"><div class=\"chart-note\">"
                    "<b>Chart not drawn:</b> ", id);
    rb_html(html, why);
    rb_printf(html, "</div><figcaption>%s</figcaption></figure>\n", caption_html);
}

void rpt_chart(rpt_plotter *p, rpt_run *run, rpt_buf *html, const char *id, int width, int height,
               const char *script, const char *caption_html)
{
    if (p->unavailable) {
        chart_note(html, id, p->why, caption_html);
        return;
    }
    char gp[512], svg_path[512], log_path[512];
    snprintf(gp, sizeof gp, "%s/%s.gp", p->tmp, id);
    snprintf(svg_path, sizeof svg_path, "%s/%s.svg", p->tmp, id);
    snprintf(log_path, sizeof log_path, "%s/%s.log", p->tmp, id);
    FILE *f = fopen(gp, "w");
    if (!f) {
        p->failed++;
        rpt_warn(run, "chart %s: cannot write %s", id, gp);
        chart_note(html, id, "its gnuplot script could not be written to the temporary folder.", caption_html);
        return;
    }
    fprintf(f, "set terminal svg size %d,%d dynamic noenhanced font 'DejaVu Sans,12' "
               "background '#ffffff'\nset output '%s'\nset encoding utf8\n%s\n%s\n",
            width, height, svg_path, RPT_GNUPLOT_STYLE, script);
    fclose(f);
    int spawn_errno = 0;
    int status = run_gnuplot(p->program, gp, log_path, &spawn_errno);
    uint8_t *svg = NULL;
    size_t n = 0;
    if (status == 127) {
        p->unavailable = true;
        snprintf(p->why, sizeof p->why,
                 "gnuplot could not be started ('%s': %s). Install Debian's gnuplot-nox "
                 "(scripts/setup.sh does) or point DUOCL_GNUPLOT at a gnuplot, then run duocl report again.",
                 p->program, spawn_errno ? strerror(spawn_errno) : "not found");
        rpt_warn(run, "%s", p->why);
        chart_note(html, id, p->why, caption_html);
    } else if (status != 0 || duo_read_whole_file(svg_path, "chart", &svg, &n) != DUO_OK) {
        uint8_t *log = NULL;
        size_t log_n = 0;
        char why[600];
        if (duo_read_whole_file(log_path, "gnuplot log", &log, &log_n) == DUO_OK && log_n > 300)
            log[300] = '\0';
        snprintf(why, sizeof why, "gnuplot failed (exit status %d): %s", status,
                 log && log_n ? (const char *)log : "no message");
        free(log);
        p->failed++;
        rpt_warn(run, "chart %s: %s", id, why);
        chart_note(html, id, why, caption_html);
    } else {
        p->drawn++;
        rb_printf(html, "<figure class=\"chart\" id=\"%s\">", id);
        append_svg(html, (const char *)svg, id);
        rb_printf(html, "<figcaption>%s</figcaption></figure>\n", caption_html);
    }
    free(svg);
    remove_chart_files(p, id);
}
