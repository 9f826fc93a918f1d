/* duocl report: the sections made of charts: training curves, perplexity vs
 * budget, where BIG layers go (heat maps) and router training. Each chart is
 * a gnuplot script with its data inline (data blocks), drawn by rpt_chart;
 * a table with the same numbers sits beside it, so nothing depends on the
 * chart being drawn. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/measures.h"
#include "report.h"

/* Colours for series that are not one of the fixed kinds (routers, domains). */
static const char *const PALETTE[] = {"#1f78b4", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
                                      "#7570b3", "#d95f02", "#1b9e77"};
enum { PALETTE_N = sizeof PALETTE / sizeof PALETTE[0] };

static const char *type_of(const cJSON *record)
{
    const char *t = rj_str(record, "type");
    return t ? t : "";
}

/* A number for a data block: gnuplot reads "?" as missing. */
static void datum(rpt_buf *s, double x)
{
    if (isfinite(x))
        rb_printf(s, " %.7g", x);
    else
        rb_puts(s, " ?");
}

/* ---- training ----------------------------------------------------------- */

typedef struct val_point {
    long step;
    double nats[3], bytes[3]; /* big, random, small; pooled over domains */
} val_point;

static int route_index(const char *routes)
{
    return !routes ? -1 : strcmp(routes, "big") == 0 ? 0 : strcmp(routes, "random") == 0 ? 1
                        : strcmp(routes, "small") == 0 ? 2 : -1;
}

/* Bits per byte of a domain under all-big, random and all-small at a step. */
static void validation_at(const rpt_run *run, long step, const char *domain, double bpb[3])
{
    bpb[0] = bpb[1] = bpb[2] = NAN;
    const cJSON *r;
    cJSON_ArrayForEach(r, run->log) {
        int m = route_index(rj_str(r, "routes"));
        if (strcmp(type_of(r), "eval") == 0 && rj_whole(r, "step", 0, LONG_MAX, -1) == step && m >= 0 &&
            rj_str(r, "domain") && strcmp(rj_str(r, "domain"), domain) == 0)
            bpb[m] = rj_num(r, "bits_per_byte");
    }
}

static void validation_table(rpt_buf *h, const rpt_run *run, long last)
{
    rb_printf(h, "<table><tr><th>domain (step %ld)</th><th>all-big</th><th>random routes</th>"
                 "<th>all-small</th><th>small &minus; big</th></tr>\n", last);
    for (int d = 0; d < run->config.train.n_domains; d++) {
        const char *name = run->config.train.domains[d].name;
        double bpb[3];
        validation_at(run, last, name, bpb);
        rb_printf(h, "<tr><td>%s</td><td class=\"num\">%.4f</td><td class=\"num\">%.4f</td>"
                     "<td class=\"num\">%.4f</td><td class=\"num\">%+.4f</td></tr>\n",
                  name, bpb[0], bpb[1], bpb[2], bpb[2] - bpb[0]);
    }
    rb_puts(h, "</table>\n");
}

/* With one validation only (train.eval_every 0) a curve has one point: bars
 * per domain of what random routes and all-small cost over all-big say more. */
static void validation_bars(rpt_run *run, rpt_plotter *p, rpt_buf *h, long step)
{
    rpt_buf s = {0};
    rb_puts(&s, "$final << EOD\n");
    for (int d = 0; d < run->config.train.n_domains; d++) {
        double bpb[3];
        validation_at(run, step, run->config.train.domains[d].name, bpb);
        rb_printf(&s, "%s", run->config.train.domains[d].name);
        datum(&s, bpb[1] - bpb[0]);
        datum(&s, bpb[2] - bpb[0]);
        rb_puts(&s, "\n");
    }
    rb_puts(&s, "EOD\nset style data histograms\nset style histogram clustered gap 1\n"
                "set style fill solid 0.85 border lc rgb '#555555'\nset boxwidth 0.9\nset yrange [0:*]\n"
                "set xtics scale 0\n");
    rb_printf(&s, "set xrange [-0.6:%g]\n", run->config.train.n_domains - 0.4);
    rb_puts(&s, "set ylabel 'bits / byte above all-big'\nset key top right\n"
                "plot $final using 2:xtic(1) lc rgb '#7570b3' title 'random routes', "
                "'' using 3 lc rgb '#999999' title 'all-small'\n");
    char caption[256];
    snprintf(caption, sizeof caption, "Validation at step %ld (the only one: train.eval_every is 0): how many bits "
             "per byte random routes and all-small lose against all-big, per domain (values in the table).", step);
    rpt_chart(p, run, h, "chart-val-bpb", 600, 380, s.data, caption);
    rb_free(&s);
}

void rpt_section_training(rpt_run *run, rpt_plotter *p, rpt_buf *h)
{
    rb_puts(h, "<section id=\"training\"><h2>Training (stage 1: random routes)</h2>\n");
    if (!run->log) {
        rpt_missing(h, "log.jsonl is missing, so there are no training curves.", "duocl train CONFIG --run-dir RUN",
                    run->dir);
        rb_puts(h, "</section>\n");
        return;
    }
    int n_train = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, run->log)
        n_train += strcmp(type_of(r), "train") == 0;
    /* Moving mean over a window of about 1/25 of the run: per-step losses
     * are noisy (random routes, small batches). */
    int window = n_train / 25 > 1 ? n_train / 25 : 1;
    double *losses = calloc((size_t)(n_train ? n_train : 1), sizeof *losses);
    val_point *val = calloc((size_t)cJSON_GetArraySize(run->log) + 1, sizeof *val);
    int n_val = 0;
    rpt_buf s = {0};
    rb_puts(&s, "$train << EOD\n");
    int i = 0;
    double sum = 0;
    cJSON_ArrayForEach(r, run->log) {
        long step = rj_whole(r, "step", 0, LONG_MAX, -1);
        if (step < 0)
            continue; /* not a step's record */
        if (strcmp(type_of(r), "train") == 0 && losses) {
            losses[i] = rj_num(r, "loss");
            sum += losses[i];
            if (i >= window)
                sum -= losses[i - window];
            int n = i + 1 < window ? i + 1 : window;
            rb_printf(&s, "%ld", step);
            datum(&s, losses[i]);
            datum(&s, sum / n);
            rb_puts(&s, "\n");
            i++;
        } else if (strcmp(type_of(r), "eval") == 0 && val) {
            int m = route_index(rj_str(r, "routes"));
            if (m < 0)
                continue;
            if (n_val == 0 || val[n_val - 1].step != step)
                val[n_val++] = (val_point){.step = step};
            val[n_val - 1].nats[m] += rj_num(r, "loss") * rj_num(r, "tokens");
            val[n_val - 1].bytes[m] += rj_num(r, "bytes");
        }
    }
    rb_puts(&s, "EOD\n");
    rb_printf(h, "<p class=\"lead\">Every token goes to the big or the small FFN at random in every layer "
                 "(p_big %g). Left: training loss (nats per token). Right: validation bits per byte "
                 "under three routings, all domains pooled (total nats / ln 2 / total bytes); the gap "
                 "between all-small and all-big is what routing can play with.</p>\n<div class=\"grid\">",
              run->config.train.p_big);
    char caption[256];
    snprintf(caption, sizeof caption, "Training loss per step (light) and its moving mean over %d step%s.",
             window, window == 1 ? "" : "s");
    rb_printf(&s, "set xlabel 'step'\nset ylabel 'training loss (nats / token)'\nset key top right\n"
                  "plot $train using 1:2 with lines lc rgb '#b7cbe0' lw 1 title 'per step', "
                  "'' using 1:3 with lines lt 9 lw 2.4 title 'moving mean'\n");
    rpt_chart(p, run, h, "chart-train-loss", 600, 380, s.data ? s.data : "", caption);
    s.len = 0;
    if (n_val == 0) {
        rb_puts(h, "<div class=\"missing\">No validation records in log.jsonl yet (training validates every "
                   "train.eval_every steps and at the end).</div>");
    } else if (n_val == 1) {
        validation_bars(run, p, h, val[0].step);
    } else {
        rb_puts(&s, "$val << EOD\n");
        for (int v = 0; v < n_val; v++) {
            rb_printf(&s, "%ld", val[v].step);
            for (int m = 0; m < 3; m++)
                datum(&s, duo_bits_per_byte(val[v].nats[m], val[v].bytes[m]));
            rb_puts(&s, "\n");
        }
        rb_puts(&s, "EOD\nset xlabel 'step'\nset ylabel 'validation bits / byte'\nset key top right\n"
                    "plot $val using 1:2 with linespoints lc rgb '#222222' lw 2 pt 7 ps 0.7 title 'all-big', "
                    "'' using 1:3 with linespoints lc rgb '#7570b3' lw 2 pt 13 ps 0.9 title 'random routes', "
                    "'' using 1:4 with linespoints lc rgb '#999999' lw 2 pt 5 ps 0.7 title 'all-small'\n");
        rpt_chart(p, run, h, "chart-val-bpb", 600, 380, s.data,
                  "Validation bits per byte vs step, all domains pooled.");
    }
    rb_puts(h, "</div>\n");
    if (n_val > 0)
        validation_table(h, run, val[n_val - 1].step);
    rb_free(&s);
    free(losses);
    free(val);
    rb_puts(h, "</section>\n");
}

/* ---- perplexity vs budget --------------------------------------------- */

/* The eval.json entry of a domain, if the entry scored it. */
static const cJSON *eval_domain(const cJSON *entry, const char *domain) { return rj_get(entry, domain); }

static void budget_table(rpt_buf *h, const cJSON *od, int L, int random_n)
{
    rb_printf(h, "<table><tr><th>k</th><th>patterns</th><th>oracle</th><th>fixed</th><th>pattern</th>"
                 "<th>random-%d</th><th>pattern</th><th>mean of all</th></tr>\n", random_n);
    for (int k = 0; k <= L; k++) {
        const cJSON *b = rpt_oracle_budget(od, k);
        if (!b)
            continue;
        rb_printf(h, "<tr><td>%d</td><td class=\"num\">%.0f</td>", k, rj_num(b, "patterns"));
        static const char *const kinds[] = {"oracle", "fixed", "random", "mean_all"};
        for (int j = 0; j < 4; j++) {
            const cJSON *m = rj_get(b, kinds[j]);
            rb_printf(h, "<td class=\"num\">%.3f <span class=\"small\">(%.4f)</span></td>", rj_num(m, "ppl"),
                      rj_num(m, "bpb"));
            if (j == 1 || j == 2) {
                rb_puts(h, "<td><code>");
                rb_html(h, rj_str(m, "pattern") ? rj_str(m, "pattern") : "");
                rb_puts(h, "</code></td>");
            }
        }
        rb_puts(h, "</tr>\n");
    }
    rb_puts(h, "</table>\n");
}

/* Other routings of eval.json at the budget they used: "pattern:..." and
 * "random:..." (routers are plotted on their own), on the oracle's scale. */
static int other_points(rpt_buf *s, const rpt_run *run, const cJSON *od, bool patterns, bool *mapped)
{
    int n = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, run->eval.json) {
        const char *spec = entry->string ? entry->string : "";
        if (strncmp(spec, patterns ? "pattern:" : "random:", patterns ? 8 : 7) != 0)
            continue;
        const cJSON *d = eval_domain(entry, od->string);
        bool m;
        if (d) {
            datum(s, rj_num(d, "budget"));
            datum(s, rpt_eval_ppl(run, od, d, &m));
            rb_puts(s, "\n");
            *mapped |= m;
            n++;
        }
    }
    return n;
}

/* Says when eval.json's routings were scored on other tokens than the
 * oracle's, and whether the charts could place them on the oracle's scale. */
static void token_sets_note(const rpt_run *run, rpt_buf *h)
{
    double eval_tokens = NAN, oracle_tokens = NAN;
    bool mismatch = false, unmappable = false;
    const cJSON *od, *entry;
    cJSON_ArrayForEach(od, rj_get(run->oracle.json, "domains"))
        cJSON_ArrayForEach(entry, run->eval.json) {
            const cJSON *d = eval_domain(entry, od->string);
            double small, big;
            if (!d || rj_num(d, "tokens") == rj_num(od, "tokens"))
                continue;
            mismatch = true;
            eval_tokens = rj_num(d, "tokens");
            oracle_tokens = rj_num(od, "tokens");
            unmappable |= !rpt_eval_references(run, od->string, eval_tokens, od, &small, &big);
        }
    if (!mismatch)
        return;
    rb_printf(h, "<div class=\"%s\">eval.json's routings were scored on %.0f tokens per domain, the oracle's "
                 "curves on %.0f. %s For the same tokens run <code>", unmappable ? "warn" : "info", eval_tokens,
              oracle_tokens,
              unmappable ? "Some have no all-small and all-big on their own tokens in eval.json, so they are "
                           "plotted with their own perplexity, which is not comparable with the curves."
                         : "The charts place each at the fraction of the all-small to all-big gap it closes on "
                           "its own tokens; the table below has their own perplexities.");
    char command[200];
    snprintf(command, sizeof command, "duocl eval RUN --routes SPEC --tokens %.0f", oracle_tokens);
    rb_command(h, command, run->dir);
    rb_puts(h, "</code> (with SPEC all-small, all-big and each router).</div>\n");
}

/* The routers of eval.json in a domain, one series per kind, seed and
 * ",exact" (every budget's point in it: the x position says the budget):
 * colour by kind (budget loss, oracle-taught, signal), filled or open for
 * argmax or exact, triangles for seed 1 and squares for other seeds. Appends
 * the data blocks to s and the plot clauses to `plot`; true if a point was
 * placed on the oracle's scale. */
static bool router_points(rpt_buf *s, const rpt_run *run, const cJSON *od, char *plot, size_t cap)
{
    static const char *const kind_colour[] = {"#1f78b4", "#e7298a", "#66a61e"};
    static const char *const kind_name[] = {"budget-loss", "oracle-taught", "signal"};
    bool mapped = false;
    for (int kind = 0; kind < 3; kind++)
        for (int other_seed = 0; other_seed < 2; other_seed++)
            for (int exact = 0; exact < 2; exact++) {
                int n = 0;
                for (int r = 0; r < run->n_router_evals; r++) {
                    const rpt_router_eval *re = &run->router_eval[r];
                    const cJSON *d = eval_domain(re->entry, od->string);
                    if (!d || re->kind != kind || (re->seed != 1) != other_seed || re->exact != exact)
                        continue;
                    if (n++ == 0)
                        rb_printf(s, "$routers%d%d%d << EOD\n", kind, other_seed, exact);
                    bool m;
                    datum(s, rj_num(d, "budget"));
                    datum(s, rpt_eval_ppl(run, od, d, &m));
                    rb_puts(s, "\n");
                    mapped |= m;
                }
                if (n == 0)
                    continue;
                rb_puts(s, "EOD\n");
                char one[200];
                snprintf(one, sizeof one, ", $routers%d%d%d using 1:2 with points pt %d ps 1.3 lc rgb '%s' title '%s%s%s'",
                         kind, other_seed, exact, other_seed ? (exact ? 4 : 5) : (exact ? 8 : 9),
                         kind_colour[kind], kind_name[kind], other_seed ? " s2+" : "",
                         exact ? " exact" : " router");
                strncat(plot, one, cap - strlen(plot) - 1);
            }
    return mapped;
}

static void budget_chart(rpt_run *run, rpt_plotter *p, rpt_buf *h, const char *domain, const cJSON *od)
{
    int L = rpt_layers(run);
    int random_n = (int)rj_whole(run->oracle.json, "random_n", 1, INT_MAX, 0);
    rpt_buf s = {0};
    bool selectors = false; /* oracle.json has the label-free selectors (issue 16) */
    rb_puts(&s, "$curves << EOD\n");
    for (int k = 0; k <= L; k++) {
        const cJSON *b = rpt_oracle_budget(od, k);
        if (!b)
            continue;
        rb_printf(&s, "%d", k);
        datum(&s, rj_num2(b, "oracle", "ppl"));
        datum(&s, rj_num2(b, "fixed", "ppl"));
        datum(&s, rj_num2(b, "random", "ppl"));
        datum(&s, rj_num2(b, "mean_all", "ppl"));
        selectors |= isfinite(rj_num2(b, "min_entropy", "ppl"));
        datum(&s, rj_num2(b, "min_entropy", "ppl"));
        datum(&s, rj_num2(b, "max_prob", "ppl"));
        datum(&s, rj_num2(b, "selection_control", "ppl"));
        rb_puts(&s, "\n");
    }
    bool mapped = false;
    rb_puts(&s, "EOD\n$patterns << EOD\n");
    bool any_pattern = other_points(&s, run, od, true, &mapped) > 0;
    rb_puts(&s, "EOD\n$randomroutes << EOD\n");
    bool any_random = other_points(&s, run, od, false, &mapped) > 0;
    rb_puts(&s, "EOD\n");
    char routers[2048] = "";
    mapped |= router_points(&s, run, od, routers, sizeof routers);
    double big = rj_num2(od, "all_big", "ppl"), small = rj_num2(od, "all_small", "ppl");
    /* The horizontal references, when oracle.json has them. */
    char refs[2][96] = {"", ""};
    if (isfinite(small))
        snprintf(refs[0], sizeof refs[0], "%.9g with lines lt 8 title 'all-small', ", small);
    if (isfinite(big))
        snprintf(refs[1], sizeof refs[1], "%.9g with lines lt 7 title 'all-big', ", big);
    rb_printf(&s, "set title '%s'\nset xlabel 'budget k: BIG layers per token (of %d)'\n"
                  "set ylabel 'perplexity (per token)'\nset xrange [-0.25:%g]\nset xtics 1\n"
                  "set offsets 0, 0, graph 0.04, graph 0.04\nset key below height 1 maxrows 7 font ',8'\n"
                  "plot %s%s"
                  "$curves using 1:5 with linespoints lt 4 title 'mean of all patterns', "
                  "'' using 1:4 with linespoints lt 3 title 'best of %d random', "
                  "'' using 1:3 with linespoints lt 2 title 'fixed (best pattern)', "
                  "'' using 1:2 with linespoints lt 1 title 'oracle (per token)'%s%s%s%s\n",
              domain, L, L + 0.25, refs[0], refs[1], random_n,
              selectors ? ", $curves using 1:6 with linespoints lc rgb '#444444' dt 2 pt 8 title 'lowest entropy', "
                          "'' using 1:7 with linespoints lc rgb '#999999' dt 2 pt 10 title 'highest max-prob', "
                          "'' using 1:8 with linespoints lc rgb '#000000' dt 3 pt 12 title 'selection-only control'"
                        : "",
              any_pattern ? ", $patterns using 1:2 with points lc rgb '#555555' pt 2 ps 0.9 title 'eval: patterns'" : "",
              any_random ? ", $randomroutes using 1:2 with points lc rgb '#7570b3' pt 4 ps 1.1 title 'eval: per-token random'" : "",
              routers);
    char id[96], caption[512];
    snprintf(id, sizeof id, "chart-budget-%s", domain);
    snprintf(caption, sizeof caption, "<b>%s</b>: perplexity vs budget on %.0f validation tokens "
             "(oracle.json). Dashed horizontal lines: all-small and all-big.%s", domain, rj_num(od, "tokens"),
             mapped ? " eval.json points: placed on this scale (see the note below)." : "");
    rpt_chart(p, run, h, id, 620, selectors || run->n_router_evals > 6 ? 640 : 500, s.data, caption);
    rb_free(&s);
}

static void router_table(rpt_buf *h, const rpt_run *run)
{
    rb_puts(h, "<h3>Routers and other routings evaluated (eval.json)</h3>\n<table><tr><th>routing</th>");
    for (int d = 0; d < run->config.train.n_domains; d++)
        rb_printf(h, "<th>%s: ppl, budget used</th>", run->config.train.domains[d].name);
    rb_puts(h, "</tr>\n");
    const cJSON *entry;
    double tokens = NAN;
    cJSON_ArrayForEach(entry, run->eval.json) {
        rb_puts(h, "<tr><td><code>");
        rb_html(h, entry->string ? entry->string : "?");
        rb_puts(h, "</code></td>");
        for (int d = 0; d < run->config.train.n_domains; d++) {
            const cJSON *v = eval_domain(entry, run->config.train.domains[d].name);
            if (v) {
                rb_printf(h, "<td class=\"num\">%.3f, %.2f</td>", rj_num(v, "ppl"), rj_num(v, "budget"));
                tokens = rj_num(v, "tokens");
            } else
                rb_puts(h, "<td>&ndash;</td>");
        }
        rb_puts(h, "</tr>\n");
    }
    rb_printf(h, "</table>\n<p class=\"small\">Perplexity per token on the %.0f validation tokens per domain that "
                 "duocl eval scored; budget used = mean BIG layers per token.</p>\n", tokens);
}

void rpt_section_budget(rpt_run *run, rpt_plotter *p, rpt_buf *h)
{
    rb_puts(h, "<section id=\"budget\"><h2>Perplexity vs budget</h2>\n");
    int random_n = (int)rj_whole(run->oracle.json, "random_n", 1, INT_MAX, 0);
    rb_printf(h, "<p class=\"lead\">Perplexity per token (exp of the mean loss in nats, the paper's measure; "
                 "bits per byte in the tables) of the stage-1 model when each token has k BIG layers. "
                 "<b>Oracle</b>: each token takes its best route with k BIG layers (needs the labels: an upper "
                 "bound for any router). <b>Fixed</b>: the one pattern with the lowest mean loss. "
                 "<b>Best of %d random</b> patterns: equals fixed wherever C(L,k) &le; %d. "
                 "Routers are plotted at the budget they actually used.</p>\n",
              random_n > 0 ? random_n : 100, random_n > 0 ? random_n : 100);
    const char *alphabet = rj_str(run->oracle.json, "alphabet");
    if (alphabet && strcmp(alphabet, "SB") != 0)
        rb_printf(h, "<div class=\"info\">The oracle searched the %s alphabet: layers that are not BIG are %s. "
                     "The paper's curves are for SB (small or big).</div>\n", strcmp(alphabet, "KB") == 0 ? "KB" : "KSB",
                  strcmp(alphabet, "KB") == 0 ? "skipped" : "small or skipped");
    if (!run->oracle.json) {
        rpt_missing(h, run->oracle.present ? "oracle.json could not be read, so there are no budget curves."
                                           : "oracle.json is missing, so there are no budget curves.",
                    "duocl oracle RUN", run->dir);
    } else {
        rb_puts(h, "<div class=\"grid\">");
        const cJSON *od;
        cJSON_ArrayForEach(od, rj_get(run->oracle.json, "domains"))
            budget_chart(run, p, h, od->string, od);
        rb_puts(h, "</div>\n");
        token_sets_note(run, h);
        rb_puts(h, "<details><summary>Numbers per domain: perplexity (bits per byte)</summary>\n");
        cJSON_ArrayForEach(od, rj_get(run->oracle.json, "domains")) {
            rb_printf(h, "<h3>%s: all-small %.3f (%.4f), all-big %.3f (%.4f)</h3>\n", od->string,
                      rj_num2(od, "all_small", "ppl"), rj_num2(od, "all_small", "bpb"),
                      rj_num2(od, "all_big", "ppl"), rj_num2(od, "all_big", "bpb"));
            budget_table(h, od, rpt_layers(run), random_n);
        }
        rb_puts(h, "</details>\n");
    }
    if (run->eval.json && cJSON_GetArraySize(run->eval.json) > 0)
        router_table(h, run);
    if (run->n_router_evals == 0) {
        rpt_missing(h, "no router has been evaluated (eval.json has no router:... entry).",
                    "duocl router train RUN --budget K, then duocl eval RUN --routes router:RUN/router/kK-SB/router.ckpt",
                    run->dir);
    }
    rb_puts(h, "</section>\n");
}

/* ---- where BIG goes (an eval.json entry holds its domains' objects, so it
 * pools like oracle.json's "domains") ---------------------------------------- */

/* values[l * nx + x]: fraction of tokens with BIG at layer l, column x. */
static void heat_map(rpt_plotter *p, rpt_run *run, rpt_buf *h, const char *id, const char *title,
                     const char *xlabel, int nx, char (*xtics)[24], int L, const double *values,
                     const char *caption)
{
    rpt_buf s = {0};
    rb_puts(&s, "$m << EOD\n");
    for (int l = 0; l < L; l++) {
        for (int x = 0; x < nx; x++)
            datum(&s, values[l * nx + x]);
        rb_puts(&s, "\n");
    }
    rb_printf(&s, "EOD\nset title '%s'\nset xlabel '%s'\nset ylabel 'layer'\nunset grid\nunset key\n"
                  "set border 0\nset tics scale 0\nset xrange [-0.5:%g]\nset yrange [-0.5:%g]\n"
                  "set palette defined (0 '#ffffff', 0.5 '#6baed6', 1 '#08306b')\nset cbrange [0:1]\n"
                  "set colorbox user origin graph 1.04, graph 0 size graph 0.05, graph 1\n"
                  "set rmargin 7\nset xtics (",
              title, xlabel, nx - 0.5, L - 0.5);
    for (int x = 0; x < nx; x++)
        rb_printf(&s, "%s'%s' %d", x ? ", " : "", xtics[x], x);
    rb_puts(&s, ")\nset ytics (");
    for (int l = 0; l < L; l++)
        rb_printf(&s, "%s'%d' %d", l ? ", " : "", l + 1, l);
    rb_printf(&s, ")\nplot $m matrix with image pixels, "
                  "$m matrix using 1:2:(sprintf('%%.2f', $3)):($3 > 0.55 ? 0xffffff : 0x222222) "
                  "with labels tc rgb variable font ',%d'\n", nx > 9 || L > 8 ? 8 : 10);
    /* Drawn about as wide as shown (three to a row) so the text stays legible. */
    int height = 120 + 30 * L;
    rpt_chart(p, run, h, id, 400, height < 260 ? 260 : height, s.data, caption);
    rb_free(&s);
}

static void oracle_layer_budget(rpt_run *run, rpt_plotter *p, rpt_buf *h, int L)
{
    char xtics[RPT_MAX_LAYERS + 1][24];
    double values[RPT_MAX_LAYERS * (RPT_MAX_LAYERS + 1)], column[RPT_MAX_LAYERS];
    int nx = 0, ks[RPT_MAX_LAYERS + 1];
    const cJSON *domains = rj_get(run->oracle.json, "domains");
    for (int k = 1; k < L; k++)
        if (rpt_pooled_big(domains, k, -1, L, column))
            ks[nx++] = k;
    for (int x = 0; x < nx; x++) {
        rpt_pooled_big(domains, ks[x], -1, L, column);
        snprintf(xtics[x], sizeof xtics[x], "%d", ks[x]);
        for (int l = 0; l < L; l++)
            values[l * nx + x] = column[l];
    }
    if (nx == 0) {
        rb_puts(h, "<div class=\"missing\">oracle.json has no budget between 1 and L-1.</div>");
        return;
    }
    heat_map(p, run, h, "chart-oracle-layer-budget", "oracle: layer x budget", "budget k (BIG layers per token)",
             nx, xtics, L, values,
             "Oracle: fraction of tokens whose best route uses BIG at each layer, per budget (all domains "
             "pooled). The paper: late layers at a low budget, spread at L/2, early layers at a high budget.");
}

/* false (nothing drawn) when no router evaluation has big_per_layer. */
static bool router_layer_budget(rpt_run *run, rpt_plotter *p, rpt_buf *h, int L)
{
    char xtics[RPT_MAX_ROUTERS][24];
    double values[RPT_MAX_LAYERS * RPT_MAX_ROUTERS], column[RPT_MAX_LAYERS];
    int nx = 0;
    for (int r = 0; r < run->n_router_evals; r++) {
        const rpt_router_eval *re = &run->router_eval[r];
        if (!rpt_pooled_big(re->entry, -1, -1, L, column))
            continue;
        snprintf(xtics[nx], sizeof xtics[nx], "%s%d%s", re->k >= 0 ? "k=" : "#", re->k >= 0 ? re->k : r,
                 re->exact ? " exact" : "");
        for (int l = 0; l < L; l++)
            values[l * RPT_MAX_ROUTERS + nx] = column[l];
        nx++;
    }
    if (nx == 0)
        return false;
    double packed[RPT_MAX_LAYERS * RPT_MAX_ROUTERS];
    for (int l = 0; l < L; l++)
        for (int x = 0; x < nx; x++)
            packed[l * nx + x] = values[l * RPT_MAX_ROUTERS + x];
    heat_map(p, run, h, "chart-router-layer-budget", "router: layer x budget", "router (trained budget k)", nx,
             xtics, L, packed,
             "Learned routers (argmax, and exact: BIG in the k layers of highest P_big): fraction of tokens "
             "on BIG per layer. The paper's routers favour later layers at every budget.");
    return true;
}

/* Layer x position bucket for one source: the oracle at budget k
 * (entry NULL), or a router's eval.json entry. */
static void position_map(rpt_run *run, rpt_plotter *p, rpt_buf *h, int L, int k, const rpt_router_eval *re)
{
    int ctx = run->config.model.ctx;
    char xtics[RPT_BUCKETS][24];
    double values[RPT_MAX_LAYERS * RPT_BUCKETS], column[RPT_MAX_LAYERS];
    const cJSON *domains = re ? re->entry : rj_get(run->oracle.json, "domains");
    for (int q = 0; q < RPT_BUCKETS; q++) {
        if (!rpt_pooled_big(domains, re ? -1 : k, q, L, column))
            return;
        snprintf(xtics[q], sizeof xtics[q], "%d", q * ctx / RPT_BUCKETS);
        for (int l = 0; l < L; l++)
            values[l * RPT_BUCKETS + q] = column[l];
    }
    char id[96], title[96], caption[256];
    if (re) {
        snprintf(id, sizeof id, "chart-router-position-%d", (int)(re - run->router_eval));
        snprintf(title, sizeof title, "%s: layer x position", re->label);
        snprintf(caption, sizeof caption, "%s: fraction of tokens on BIG per layer and position in the "
                 "window (all domains pooled).", re->label);
    } else {
        snprintf(id, sizeof id, "chart-oracle-position-k%d", k);
        snprintf(title, sizeof title, "oracle k=%d: layer x position", k);
        snprintf(caption, sizeof caption, "Oracle at budget %d: fraction of tokens on BIG per layer and "
                 "position in the window (all domains pooled).", k);
    }
    heat_map(p, run, h, id, title, "position in the window (first of each eighth)", RPT_BUCKETS, xtics, L, values,
             caption);
}

void rpt_section_placement(rpt_run *run, rpt_plotter *p, rpt_buf *h)
{
    rb_puts(h, "<section id=\"placement\"><h2>Where BIG layers go</h2>\n"
               "<p class=\"lead\">Fraction of tokens routed to the big FFN at each layer (layer 1 is the "
               "first, at the bottom), per budget and per position in the context window. Cells are "
               "labelled with the fraction.</p>\n");
    int L = rpt_layers(run);
    if (!run->oracle.json)
        rpt_missing(h, "oracle.json is missing, so the oracle's heat maps are not drawn.", "duocl oracle RUN",
                    run->dir);
    rb_puts(h, "<div class=\"grid3\">");
    if (run->oracle.json)
        oracle_layer_budget(run, p, h, L);
    bool routers = router_layer_budget(run, p, h, L);
    rb_puts(h, "</div>\n");
    if (!routers)
        rpt_missing(h, "no router evaluation in eval.json with big_per_layer, so the routers' heat maps are not "
                    "drawn.", "duocl eval RUN --routes router:RUN/router/kK-SB/router.ckpt", run->dir);
    if (!run->oracle.json && !routers) {
        rb_puts(h, "</section>\n");
        return;
    }
    rb_puts(h, "<h3>By position in the window</h3>\n<div class=\"grid3\">");
    /* Budget by budget: the oracle (at a low, the middle and a high budget,
     * and at each router's) beside the routers trained for it. */
    bool wanted[RPT_MAX_LAYERS + 1] = {false};
    const cJSON *first = cJSON_GetArrayItem(rj_get(run->oracle.json, "domains"), 0);
    int low_mid_high[3] = {1, (int)lround(L / 2.0), L - 1};
    for (int i = 0; i < 3; i++)
        if (low_mid_high[i] >= 1 && low_mid_high[i] < L)
            wanted[low_mid_high[i]] = true;
    for (int r = 0; r < run->n_router_evals; r++)
        if (run->router_eval[r].k >= 0 && run->router_eval[r].k <= L)
            wanted[run->router_eval[r].k] = true;
    for (int k = 0; k <= L; k++) {
        if (!wanted[k])
            continue;
        if (rpt_oracle_budget(first, k))
            position_map(run, p, h, L, k, NULL);
        for (int r = 0; r < run->n_router_evals; r++)
            if (run->router_eval[r].k == k)
                position_map(run, p, h, L, -1, &run->router_eval[r]);
    }
    for (int r = 0; r < run->n_router_evals; r++)
        if (run->router_eval[r].k < 0 || run->router_eval[r].k > L)
            position_map(run, p, h, L, -1, &run->router_eval[r]);
    rb_puts(h, "</div>\n</section>\n");
}

/* ---- router training ------------------------------------------------- */

void rpt_section_router(rpt_run *run, rpt_plotter *p, rpt_buf *h)
{
    rb_puts(h, "<section id=\"router\"><h2>Router training (stage 3)</h2>\n");
    if (run->n_router_logs == 0) {
        rpt_missing(h, "no router has been trained (no router/*/log.jsonl).", "duocl router train RUN --budget K",
                    run->dir);
        rb_puts(h, "</section>\n");
        return;
    }
    rb_puts(h, "<p class=\"lead\">A linear router per layer on the frozen stage-1 model; the layer output is "
               "the soft mixture of the modules with P = softmax(beta z), beta rising so assignments harden. "
               "Loss = cross-entropy + alpha (mean P_big &minus; k/L)<sup>2</sup>.</p>\n<div class=\"grid\">");
    rpt_buf ce = {0}, big = {0};
    rb_puts(&ce, "set xlabel 'router step'\nset ylabel 'cross-entropy (nats / token)'\nset key top right\nplot ");
    rb_puts(&big, "set xlabel 'router step'\nset ylabel 'mean P_big (soft)'\nset key top right\nset yrange [0:1]\nplot ");
    rpt_buf data = {0};
    for (int r = 0; r < run->n_router_logs; r++) {
        const rpt_router_log *log = &run->router_log[r];
        rb_printf(&data, "$r%d << EOD\n", r);
        const cJSON *rec;
        cJSON_ArrayForEach(rec, log->records) {
            datum(&data, rj_num(rec, "step"));
            datum(&data, rj_num(rec, "ce"));
            datum(&data, rj_num(rec, "big_fraction"));
            datum(&data, rj_num(rec, "target"));
            rb_puts(&data, "\n");
        }
        rb_puts(&data, "EOD\n");
        const char *colour = PALETTE[(log->k < 0 ? r : log->k) % PALETTE_N];
        rb_printf(&ce, "%s$r%d using 1:2 with lines lw 2 lc rgb '%s' title '%s'", r ? ", " : "", r, colour, log->name);
        rb_printf(&big, "%s$r%d using 1:3 with lines lw 2 lc rgb '%s' title '%s', $r%d using 1:4 with lines "
                        "dt (6,4) lw 1.2 lc rgb '%s' notitle", r ? ", " : "", r, colour, log->name, r, colour);
    }
    rpt_buf script = {0};
    rb_printf(&script, "%s%s\n", data.data, ce.data);
    rpt_chart(p, run, h, "chart-router-ce", 600, 360, script.data, "Router training: cross-entropy per step.");
    script.len = 0;
    rb_printf(&script, "%s%s\n", data.data, big.data);
    rpt_chart(p, run, h, "chart-router-pbig", 600, 360, script.data,
              "Router training: mean P_big per step (solid) and the budget's target k/L (dashed).");
    rb_puts(h, "</div>\n<table><tr><th>router</th><th>steps</th><th>final cross-entropy</th>"
               "<th>final P_big</th><th>target</th><th>final beta</th></tr>\n");
    for (int r = 0; r < run->n_router_logs; r++) {
        const cJSON *last = cJSON_GetArrayItem(run->router_log[r].records,
                                               cJSON_GetArraySize(run->router_log[r].records) - 1);
        rb_printf(h, "<tr><td><code>%s</code></td><td class=\"num\">%.0f</td><td class=\"num\">%.4f</td>"
                     "<td class=\"num\">%.3f</td><td class=\"num\">%.3f</td><td class=\"num\">%.3g</td></tr>\n",
                  run->router_log[r].name, rj_num(last, "step"), rj_num(last, "ce"), rj_num(last, "big_fraction"),
                  rj_num(last, "target"), rj_num(last, "beta"));
    }
    rb_puts(h, "</table>\n</section>\n");
    rb_free(&ce);
    rb_free(&big);
    rb_free(&data);
    rb_free(&script);
}
