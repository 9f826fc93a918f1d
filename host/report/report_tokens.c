/* duocl report: token difficulty (PAPER.md result 8) as coloured text. A
 * passage per domain from difficulty.json, each token coloured twice: by its
 * loss under all-small (how hard it is) and by its benefit at the oracle's
 * budget k, loss_small - loss_oracle(k) (how much compute helps it). */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* Undoes duo_escape_text ("\\n", "\\t", "\\r", "\\\\", "\\xNN") into bytes;
 * returns the count (at most cap). */
static size_t unescape(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*s && n < cap) {
        unsigned byte;
        if (s[0] == '\\' && s[1] == 'x' && sscanf(s + 2, "%2x", &byte) == 1) {
            out[n++] = (uint8_t)byte;
            s += 4;
        } else if (s[0] == '\\' && s[1]) {
            out[n++] = s[1] == 'n' ? '\n' : s[1] == 't' ? '\t' : s[1] == 'r' ? '\r' : (uint8_t)s[1];
            s += 2;
        } else
            out[n++] = (uint8_t)*s++;
    }
    return n;
}

static bool valid_utf8(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = b[i] < 0x80 ? 1 : (b[i] & 0xE0) == 0xC0 ? 2 : (b[i] & 0xF0) == 0xE0 ? 3
                   : (b[i] & 0xF8) == 0xF0 ? 4 : 0;
        if (len == 0 || i + len > n)
            return false;
        for (size_t j = 1; j < len; j++)
            if ((b[i + j] & 0xC0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

/* Text of bytes for the passage: newline as a visible mark and a break, tab
 * and CR as marks, bytes that are not UTF-8 as small \xNN. */
static void bytes_html(rpt_buf *h, const uint8_t *b, size_t n)
{
    bool utf8 = valid_utf8(b, n);
    char piece[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        if (b[i] == '\n')
            rb_puts(h, "<span class=\"nl\">&#8629;</span>\n");
        else if (b[i] == '\t')
            rb_puts(h, "<span class=\"nl\">&#8677;</span>   ");
        else if (b[i] == '\r')
            rb_puts(h, "<span class=\"nl\">&#9229;</span>");
        else if (b[i] < 0x20 || b[i] == 0x7f || (b[i] >= 0x80 && !utf8))
            rb_printf(h, "<span class=\"esc\">\\x%02X</span>", b[i]);
        else {
            piece[0] = (char)b[i];
            rb_html(h, piece);
        }
    }
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of |values| (or of the values) over every domain's passage. */
static double passage_quantile(const cJSON *domains, const char *key, bool absolute, double q)
{
    size_t n = 0, cap = 0;
    double *v = NULL;
    const cJSON *d, *x;
    cJSON_ArrayForEach(d, domains)
        cJSON_ArrayForEach(x, rj_get(rj_get(d, "passage"), key)) {
            if (n == cap) {
                cap = cap ? 2 * cap : 1024;
                double *grown = realloc(v, cap * sizeof *v);
                if (!grown)
                    break;
                v = grown;
            }
            if (n < cap && cJSON_IsNumber(x))
                v[n++] = absolute ? fabs(x->valuedouble) : x->valuedouble;
        }
    double result = NAN;
    if (n > 0) {
        qsort(v, n, sizeof *v, compare_doubles);
        result = v[(size_t)(q * (double)(n - 1))];
    }
    free(v);
    return result;
}

/* White to `to` by t in [0, 1]. */
static void colour(rpt_buf *h, double t, const int to[3])
{
    t = !(t > 0) ? 0 : t > 1 ? 1 : t; /* NaN: white */
    int rgb[3];
    for (int c = 0; c < 3; c++)
        rgb[c] = (int)lround(255 + (to[c] - 255) * t);
    rb_printf(h, "background:#%02x%02x%02x%s", rgb[0], rgb[1], rgb[2], t > 0.62 ? ";color:#fff" : "");
}

static const int LOSS_RGB[3] = {203, 24, 29}, GAIN_RGB[3] = {0, 109, 44}, LOSS_GAIN_RGB[3] = {84, 39, 143};

static double item(const cJSON *array, int i)
{
    const cJSON *x = cJSON_GetArrayItem(array, i);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

/* One coloured rendering of a passage: by loss_small, or by benefit. */
static void passage(rpt_buf *h, const cJSON *p, bool by_benefit, double low, double scale)
{
    const cJSON *tokens = rj_get(p, "tokens"), *small = rj_get(p, "loss_small"), *big = rj_get(p, "loss_big");
    const cJSON *oracle = rj_get(p, "loss_oracle"), *benefit = rj_get(p, "benefit");
    int n = cJSON_GetArraySize(tokens), ctx = (int)rj_whole(p, "window_length", 1, INT_MAX, 0);
    rb_puts(h, "<div class=\"passage\">");
    /* The window's first input is context only: nothing predicts it. */
    const char *first = rj_str(p, "first_input");
    if (first) {
        uint8_t bytes[64];
        rb_puts(h, "<span class=\"first\" title=\"the first input: no loss\">");
        bytes_html(h, bytes, unescape(first, bytes, sizeof bytes));
        rb_puts(h, "</span>");
    }
    for (int i = 0; i < n;) {
        /* Byte tokens of one multi-byte character are drawn as one glyph,
         * coloured by the strongest of them. */
        uint8_t bytes[64];
        size_t len = 0;
        int count = 0;
        for (int j = i; j < n && j < i + 4; j++) {
            const cJSON *t = cJSON_GetArrayItem(tokens, j);
            len += unescape(cJSON_IsString(t) ? t->valuestring : "", bytes + len, sizeof bytes - len);
            if (valid_utf8(bytes, len) || j == i + 3 || (ctx > 0 && (j + 1) % ctx == 0)) {
                count = j - i + 1;
                break;
            }
        }
        if (count == 0 || !valid_utf8(bytes, len)) {
            const cJSON *t = cJSON_GetArrayItem(tokens, i);
            len = unescape(cJSON_IsString(t) ? t->valuestring : "", bytes, sizeof bytes);
            count = 1;
        }
        if (ctx > 0 && i > 0 && i % ctx == 0)
            rb_puts(h, "<span class=\"wb\" title=\"a new window starts: the next token has no context\">"
                       "&#9474;</span>");
        double strongest = 0;
        rb_puts(h, "<span title=\"");
        for (int j = i; j < i + count; j++) {
            double v = by_benefit ? item(benefit, j) : item(small, j);
            if (j == i || fabs(v) > fabs(strongest))
                strongest = v;
            rb_printf(h, "%spos %d: small %.2f, big %.2f, oracle %.2f, benefit %+.2f",
                      j > i ? "&#10;" : "", ctx > 0 ? j % ctx : j, item(small, j), item(big, j), item(oracle, j),
                      item(benefit, j));
        }
        rb_puts(h, "\" style=\"");
        if (by_benefit)
            colour(h, fabs(strongest) / scale, strongest >= 0 ? GAIN_RGB : LOSS_GAIN_RGB);
        else
            colour(h, (strongest - low) / scale, LOSS_RGB);
        rb_puts(h, "\">");
        bytes_html(h, bytes, len);
        rb_puts(h, "</span>");
        i += count;
    }
    rb_puts(h, "</div>\n");
}

static void legend(rpt_buf *h, const char *label, const char *gradient, const char *left, const char *right)
{
    rb_printf(h, "<div class=\"legend\"><span>%s</span><span>%s</span><span class=\"bar\" style=\"background:"
                 "linear-gradient(to right,%s)\"></span><span>%s</span></div>\n", label, left, gradient, right);
}

static void top_table(rpt_buf *h, const char *title, const cJSON *list)
{
    rb_printf(h, "<h4>%s</h4><table><tr><th>text before</th><th>token</th><th>all-small</th><th>all-big</th>"
                 "<th>oracle</th><th>benefit</th><th>position</th></tr>\n", title);
    const cJSON *t;
    cJSON_ArrayForEach(t, list) {
        rb_puts(h, "<tr><td><code>");
        rb_html(h, rj_str(t, "context") ? rj_str(t, "context") : "");
        rb_puts(h, "</code></td><td><code><b>");
        /* Spaces drawn as a visible mark: " " alone would be an empty cell. */
        for (const char *c = rj_str(t, "token") ? rj_str(t, "token") : ""; *c; c++) {
            char one[2] = {*c, 0};
            if (*c == ' ')
                rb_puts(h, "&#9251;");
            else
                rb_html(h, one);
        }
        rb_printf(h, "</b></code></td><td class=\"num\">%.2f</td><td class=\"num\">%.2f</td><td class=\"num\">%.2f"
                     "</td><td class=\"num\">%+.2f</td><td class=\"num\">%.0f</td></tr>\n",
                  rj_num(t, "loss_small"), rj_num(t, "loss_big"), rj_num(t, "loss_oracle"), rj_num(t, "benefit"),
                  rj_num(t, "position"));
    }
    rb_puts(h, "</table>\n");
}

void rpt_section_difficulty(rpt_run *run, rpt_buf *h)
{
    rb_puts(h, "<section id=\"difficulty\"><h2>Token difficulty</h2>\n");
    const cJSON *doc = run->difficulty.json, *domains = rj_get(doc, "domains");
    if (!doc || !cJSON_IsObject(domains)) {
        rpt_missing(h, run->difficulty.present ? "difficulty.json could not be read."
                                               : "difficulty.json is missing, so there is no coloured text.",
                    "duocl difficulty RUN --budget K (after duocl oracle RUN)", run->dir);
        rb_puts(h, "</section>\n");
        return;
    }
    int k = (int)rj_whole(doc, "budget", 0, RPT_MAX_LAYERS, -1);
    /* Loss colours span the 5th to the 95th percentile of the passages'
     * losses (shared by every domain), for contrast; benefit is centred on 0. */
    double loss_low = passage_quantile(domains, "loss_small", false, 0.05);
    double loss_scale = passage_quantile(domains, "loss_small", false, 0.95) - loss_low;
    double gain_scale = passage_quantile(domains, "benefit", true, 0.95);
    if (!(loss_scale > 0))
        loss_scale = 1;
    if (!(gain_scale > 0))
        gain_scale = 1;
    rb_printf(h, "<p class=\"lead\">The first tokens of each domain's validation text, coloured twice. "
                 "<b>Left</b>: loss under all-small (how hard the token is). <b>Right</b>: its benefit at "
                 "budget k=%d, loss_small &minus; loss_oracle(%d): how much the best route with %d BIG "
                 "layer%s lowers its loss. The paper's point: the two do not mark the same tokens. Hover a "
                 "token for its numbers (nats per token); &#9474; marks the start of a window (no context "
                 "before it).</p>\n", k, k, k, k == 1 ? "" : "s");
    char left[64], right[64];
    snprintf(left, sizeof left, "%.1f or less", loss_low);
    snprintf(right, sizeof right, "%.1f nats or more", loss_low + loss_scale);
    legend(h, "loss under all-small:", "#ffffff,#cb181d", left, right);
    snprintf(left, sizeof left, "&minus;%.2f", gain_scale);
    snprintf(right, sizeof right, "+%.2f nats", gain_scale);
    legend(h, "benefit:", "#54278f,#ffffff,#006d2c", left, right);
    const cJSON *d;
    cJSON_ArrayForEach(d, domains) {
        const cJSON *p = rj_get(d, "passage");
        rb_printf(h, "<div class=\"domain-passage\" id=\"passage-%s\"><h3>%s</h3>\n", d->string, d->string);
        rb_printf(h, "<p class=\"small\">Mean loss over %.0f tokens: all-small %.3f, all-big %.3f, oracle(%d) %.3f; "
                     "benefit %.3f, positive for %.0f%% of tokens. Spearman rank correlation of loss_small with "
                     "benefit %+.2f. Of the hardest 10%% of tokens, %.0f%% are among the 10%% that gain most "
                     "(chance %.0f%%).</p>\n", rj_num(d, "tokens"), rj_num2(d, "mean", "loss_small"),
                  rj_num2(d, "mean", "loss_big"), k, rj_num2(d, "mean", "loss_oracle"), rj_num2(d, "mean", "benefit"),
                  100 * rj_num(d, "fraction_gain"), rj_num2(d, "spearman", "loss_small_benefit"),
                  100 * rj_num2(d, "top10_overlap", "fraction"), 100 * rj_num2(d, "top10_overlap", "chance"));
        if (!p) {
            rb_puts(h, "<div class=\"missing\">difficulty.json has no passage for this domain (written with "
                       "--passage 0?).</div></div>\n");
            continue;
        }
        rb_puts(h, "<div class=\"grid\"><div><div class=\"small\">loss under all-small</div>");
        passage(h, p, false, loss_low, loss_scale);
        rb_printf(h, "</div><div><div class=\"small\">benefit at k=%d</div>", k);
        passage(h, p, true, 0, gain_scale);
        rb_puts(h, "</div></div>\n<details><summary>Tokens with the highest benefit and with the highest "
                   "all-small loss</summary>\n");
        top_table(h, "highest benefit", rj_get(d, "top_benefit"));
        top_table(h, "highest loss under all-small", rj_get(d, "top_loss_small"));
        rb_puts(h, "</details></div>\n");
    }
    rb_puts(h, "</section>\n");
}
