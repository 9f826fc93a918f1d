/* "How much of the oracle can a router reach?" (issue 16): per domain, a
 * table over the budgets of fixed, random-N, the routers of eval.json
 * (budget-loss and oracle-taught, each seed, and the signal router), the
 * label-free selectors (lowest entropy, highest max-prob), the
 * selection-only control and the oracle: perplexity and the share of the
 * fixed -> oracle gap each recovers, in loss (nats):
 *   gap% = 100 (loss_fixed - loss_method) / (loss_fixed - loss_oracle).
 * Rows whose input is absent (an older oracle.json, a router not trained or
 * not evaluated) show "-". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* Router folder names: k<K>-<A>[-oracle|-signal][-s<S>] (study/router_train.c). */
bool rpt_router_spec_info(const char *spec, rpt_router_kind *kind, int *k, int *seed, bool *exact)
{
    const char *p = strstr(spec, "/router/");
    if (!p || (strncmp(spec, "router:", 7) != 0 && strncmp(spec, "signal:", 7) != 0))
        return false;
    p += 8;
    char folder[64];
    size_t n = strcspn(p, "/,");
    if (n == 0 || n >= sizeof folder || p[0] != 'k')
        return false;
    memcpy(folder, p, n);
    folder[n] = '\0';
    char *end;
    long budget = strtol(folder + 1, &end, 10);
    if (end == folder + 1 || *end != '-' || budget < 0 || budget > RPT_MAX_LAYERS)
        return false;
    *k = (int)budget;
    *seed = 1;
    *kind = strncmp(spec, "signal:", 7) == 0 ? RPT_ROUTER_SIGNAL : RPT_ROUTER_BUDGET_LOSS;
    for (char *tag = strchr(end + 1, '-'); tag; tag = strchr(tag + 1, '-')) {
        if (strncmp(tag, "-oracle", 7) == 0 && (tag[7] == '-' || tag[7] == '\0'))
            *kind = RPT_ROUTER_ORACLE_TAUGHT;
        else if (strncmp(tag, "-signal", 7) == 0 && (tag[7] == '-' || tag[7] == '\0'))
            *kind = RPT_ROUTER_SIGNAL;
        else if (tag[1] == 's' && tag[2] >= '1' && tag[2] <= '9')
            *seed = atoi(tag + 2);
    }
    size_t len = strlen(spec);
    *exact = len > 6 && strcmp(spec + len - 6, ",exact") == 0;
    return true;
}

/* One cell: perplexity and the share of the gap, from a loss in nats. */
static void cell(rpt_buf *h, double loss, double fixed, double oracle, double budget)
{
    if (!isfinite(loss)) {
        rb_puts(h, "<td>&ndash;</td>");
        return;
    }
    double gap = fixed - oracle;
    rb_printf(h, "<td class=\"num\">%.3f", exp(loss));
    if (gap > 0)
        rb_printf(h, " <span class=\"small\">(%.0f%%)</span>", 100.0 * (fixed - loss) / gap);
    if (isfinite(budget))
        rb_printf(h, " <span class=\"small\">@%.2f</span>", budget);
    rb_puts(h, "</td>");
}

/* The eval.json loss of the routers of `kind` and `seed` trained for budget
 * k, routed with exactly k BIG layers per token (the ",exact" entry) or by
 * argmax, in this domain, on the oracle's scale. */
static double router_loss(rpt_run *run, const cJSON *od, rpt_router_kind kind, int seed, int k,
                          bool want_exact, double *budget)
{
    const cJSON *entry;
    *budget = NAN;
    cJSON_ArrayForEach(entry, run->eval.json) {
        rpt_router_kind got_kind;
        int got_k, got_seed;
        bool exact;
        if (!entry->string ||
            !rpt_router_spec_info(entry->string, &got_kind, &got_k, &got_seed, &exact) ||
            got_kind != kind || got_seed != seed || got_k != k || exact != want_exact)
            continue;
        const cJSON *d = rj_get(entry, od->string);
        if (!d)
            continue;
        bool mapped;
        double ppl = rpt_eval_ppl(run, od, d, &mapped);
        *budget = rj_num(d, "budget");
        return ppl > 0 ? log(ppl) : NAN;
    }
    return NAN;
}

typedef struct row {
    const char *label;
    const char *key, *field; /* oracle.json budget entry: key's "loss" */
    rpt_router_kind kind;    /* eval.json routers when key is NULL */
    int seed;
    bool exact; /* the router's ",exact" entry: exactly k BIG layers per token */
} row;

static void domain_table(rpt_run *run, rpt_buf *h, const cJSON *od, int L, int random_n)
{
    static const row rows[] = {
        {"fixed (best pattern)", "fixed", "loss", 0, 0, false},
        {"best of N random patterns", "random", "loss", 0, 0, false},
        {"budget-loss router, seed 1", NULL, NULL, RPT_ROUTER_BUDGET_LOSS, 1, true},
        {"budget-loss router, seed 2", NULL, NULL, RPT_ROUTER_BUDGET_LOSS, 2, true},
        {"oracle-taught router, seed 1", NULL, NULL, RPT_ROUTER_ORACLE_TAUGHT, 1, true},
        {"oracle-taught router, seed 2", NULL, NULL, RPT_ROUTER_ORACLE_TAUGHT, 2, true},
        {"signal router", NULL, NULL, RPT_ROUTER_SIGNAL, 1, false},
        {"confidence oracle: lowest entropy", "min_entropy", "loss", 0, 0, false},
        {"confidence oracle: highest max-prob", "max_prob", "loss", 0, 0, false},
        {"selection-only control", "selection_control", "loss", 0, 0, false},
        {"oracle (per token, with the label)", "oracle", "loss", 0, 0, false},
    };
    rb_printf(h, "<h3>%s</h3>\n<table><tr><th>method</th>", od->string);
    for (int k = 1; k < L; k++)
        if (rpt_oracle_budget(od, k))
            rb_printf(h, "<th>k = %d</th>", k);
    rb_puts(h, "</tr>\n");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (strcmp(rows[i].label, "best of N random patterns") == 0)
            rb_printf(h, "<tr><td>best of %d random patterns</td>", random_n);
        else
            rb_printf(h, "<tr><td>%s</td>", rows[i].label);
        for (int k = 1; k < L; k++) {
            const cJSON *b = rpt_oracle_budget(od, k);
            if (!b)
                continue;
            double fixed = rj_num2(b, "fixed", "loss"), oracle = rj_num2(b, "oracle", "loss");
            double loss, budget = NAN;
            if (rows[i].key)
                loss = rj_num2(b, rows[i].key, rows[i].field);
            else
                loss = router_loss(run, od, rows[i].kind, rows[i].seed, k, rows[i].exact, &budget);
            cell(h, loss, fixed, oracle, budget);
        }
        rb_puts(h, "</tr>\n");
    }
    rb_puts(h, "</table>\n");
}

void rpt_section_reach(rpt_run *run, rpt_buf *h)
{
    if (!run->oracle.json)
        return; /* the budget section says how to make oracle.json */
    int L = rpt_layers(run);
    int random_n = (int)rj_whole(run->oracle.json, "random_n", 1, 1000000, 100);
    rb_puts(h, "<section id=\"reach\"><h2>How much of the oracle can a router reach?</h2>\n");
    rb_puts(h, "<p class=\"lead\">Per domain and budget k: perplexity per token and, in brackets, the "
               "share of the fixed &rarr; oracle gap recovered, computed in loss (nats): "
               "100 (loss<sub>fixed</sub> &minus; loss) / (loss<sub>fixed</sub> &minus; "
               "loss<sub>oracle</sub>); @ = the budget a router actually used (mean BIG layers per "
               "token). Routers come from eval.json (folders <code>k&lt;K&gt;-SB</code>, "
               "<code>-oracle</code> for the oracle-taught ones, <code>-s2</code> for seed 2, "
               "<code>signal:</code> for the signal router), placed on the oracle's token scale like "
               "the chart's points. The trained routers are shown routing exactly k BIG layers "
               "per token (their <code>,exact</code> evaluation: argmax routing may use another "
               "budget), the signal router by its per-layer thresholds. "
               "<b>Confidence oracle</b>: per token, the pattern whose prediction has the lowest "
               "entropy (or highest max-probability), scored on the true token: what a selector "
               "that sees only the model's outputs could do, at the cost of running every pattern. "
               "<b>Selection-only control</b>: the oracle against labels drawn from the all-big "
               "prediction, where no pattern is better than all-big in expectation, so its gain "
               "over its fixed pattern is what selection by the label alone buys among these "
               "candidates; shown as fixed minus that gain. &ndash;: not measured (an older "
               "oracle.json, or a router not trained or not evaluated).</p>\n");
    const cJSON *od;
    cJSON_ArrayForEach(od, rj_get(run->oracle.json, "domains"))
        if (od->string && cJSON_IsObject(od))
            domain_table(run, h, od, L, random_n);
    rb_puts(h, "</section>\n");
}
