/* duocl report: the paper's claims (PAPER.md, "Results to reproduce")
 * checked against this run's numbers. Each row states its criterion and
 * shows the numbers it was decided on; a claim whose inputs are missing is
 * "not run" with the command that makes them. A claim that holds in some
 * domains only is "partly". */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

typedef enum { ST_NA, ST_NO, ST_PART, ST_YES } claim_status;

/* From how many of the checked cases held. */
static claim_status tally(int held, int checked)
{
    return checked == 0 ? ST_NA : held == checked ? ST_YES : held == 0 ? ST_NO : ST_PART;
}

static void claim_row(rpt_buf *h, const char *number, const char *claim, claim_status st, const char *evidence)
{
    static const char *const names[] = {"not run", "not reproduced", "partly", "reproduced"};
    static const char *const classes[] = {"s-na", "s-no", "s-part", "s-yes"};
    rb_printf(h, "<tr><td>%s</td><td>%s</td><td><span class=\"status %s\">%s</span></td>"
                 "<td class=\"evidence\">%s</td></tr>\n", number, claim, classes[st], names[st], evidence);
}

/* Why a claim could not be checked, and the command (with RUN for the run
 * directory) that makes its inputs. */
static void not_run(rpt_buf *e, const char *why, const char *command, const char *dir)
{
    rb_printf(e, "%s Run <code>", why);
    rb_command(e, command, dir);
    rb_puts(e, "</code>.");
}

#define EACH_DOMAIN(od, run) cJSON_ArrayForEach(od, rj_get((run)->oracle.json, "domains"))

static const char NEED_ORACLE[] = "duocl oracle RUN";

/* 1. The oracle beats best-of-N random at every budget. */
static void claim_oracle_vs_random(rpt_run *run, rpt_buf *h, rpt_buf *e)
{
    int L = rpt_layers(run), held = 0, checked = 0;
    const cJSON *od;
    EACH_DOMAIN(od, run) {
        int ok = 0, n = 0, worst_k = -1;
        double worst = INFINITY, gap = rj_num2(od, "all_small", "ppl") - rj_num2(od, "all_big", "ppl");
        for (int k = 1; k < L; k++) {
            const cJSON *b = rpt_oracle_budget(od, k);
            if (!b)
                continue;
            double margin = rj_num2(b, "random", "ppl") - rj_num2(b, "oracle", "ppl");
            n++;
            ok += margin > 0;
            if (margin < worst) {
                worst = margin;
                worst_k = k;
            }
        }
        if (n == 0)
            continue;
        checked++;
        held += ok == n;
        rb_printf(e, "%s: below random at %d of %d budgets; smallest margin %.3f ppl at k=%d (%.0f%% of the "
                     "all-small to all-big gap).<br>", od->string, ok, n, worst, worst_k, 100 * worst / gap);
    }
    if (checked == 0)
        not_run(e, "Needs oracle.json with budgets between 1 and L-1.", NEED_ORACLE, run->dir);
    else
        rb_printf(e, "<span class=\"small\">Criterion: oracle perplexity below best-of-%.0f random at every "
                     "budget 1..L-1, in every domain.</span>", rj_num(run->oracle.json, "random_n"));
    claim_row(h, "1", "The oracle beats best-of-100-random by a wide margin at every budget.", tally(held, checked),
              e->data);
}

/* Fraction of the all-small to all-big loss gap that a loss closes. */
static double gap_closed(double loss, double small, double big) { return (small - loss) / (small - big); }

/* 2. The router lands near fixed / random, far from the oracle. */
static void claim_router(rpt_run *run, rpt_buf *h, rpt_buf *e)
{
    int held = 0, checked = 0, unmatched = 0;
    double router_tokens = NAN;
    for (int r = 0; r < run->n_router_evals; r++) {
        const rpt_router_eval *re = &run->router_eval[r];
        if (re->k < 0 || strcmp(re->alphabet, "SB") != 0)
            continue;
        bool first = true;
        const cJSON *od;
        EACH_DOMAIN(od, run) {
            const cJSON *d = rj_get(re->entry, od->string), *b = rpt_oracle_budget(od, re->k);
            double small, big;
            if (!d || !b)
                continue;
            if (!rpt_eval_references(run, od->string, rj_num(d, "tokens"), od, &small, &big)) {
                unmatched++;
                router_tokens = rj_num(d, "tokens");
                continue;
            }
            double g_router = gap_closed(rj_num(d, "loss"), small, big);
            double g_fixed = gap_closed(rj_num2(b, "fixed", "loss"), rj_num2(od, "all_small", "loss"),
                                        rj_num2(od, "all_big", "loss"));
            double g_oracle = gap_closed(rj_num2(b, "oracle", "loss"), rj_num2(od, "all_small", "loss"),
                                         rj_num2(od, "all_big", "loss"));
            bool near_fixed = fabs(g_router - g_fixed) < fabs(g_router - g_oracle);
            checked++;
            held += near_fixed;
            if (first)
                rb_printf(e, "<b>%s</b> (budget used %.2f): ", re->label, rj_num(d, "budget"));
            rb_printf(e, "%s%s %.0f%% (fixed %.0f%%, oracle %.0f%%)", first ? "" : "; ", od->string,
                      100 * g_router, 100 * g_fixed, 100 * g_oracle);
            first = false;
        }
        if (!first)
            rb_puts(e, "<br>");
    }
    if (checked == 0 && unmatched > 0) {
        char command[256];
        snprintf(command, sizeof command, "duocl eval RUN --routes all-small --tokens %.0f (and all-big)",
                 router_tokens);
        not_run(e, "The routers were scored on tokens that neither eval.json's all-small and all-big nor the "
                "oracle share, so they cannot be compared with the oracle.", command, run->dir);
    } else if (checked == 0) {
        not_run(e, "Needs oracle.json and an SB router evaluated at a budget the oracle searched.",
                "duocl router train RUN --budget K; duocl eval RUN --routes "
                "router:RUN/router/kK-SB/router.ckpt (and --routes all-small, all-big)", run->dir);
    } else
        rb_puts(e, "<span class=\"small\">Percentages: how much of the all-small to all-big loss gap each "
                   "closes at the router's budget k (over 100%: better than all-big). Criterion: the router "
                   "is closer to fixed than to the oracle.</span>");
    claim_row(h, "2", "The router lands near best-of-100-random and the fixed pattern, far from the oracle.",
              tally(held, checked), e->data);
}

/* 3a. Fixed perplexity falls steadily as BIG layers are added. */
static void claim_fixed_falls(rpt_run *run, rpt_buf *h, rpt_buf *e)
{
    int L = rpt_layers(run), held = 0, checked = 0;
    const cJSON *od;
    EACH_DOMAIN(od, run) {
        double first = NAN, last = NAN, prev = NAN, rise = 0;
        int rise_k = -1, n = 0;
        for (int k = 0; k <= L; k++) {
            const cJSON *b = rpt_oracle_budget(od, k);
            if (!b)
                continue;
            double v = rj_num2(b, "fixed", "ppl");
            if (n++ == 0)
                first = v;
            if (isfinite(prev) && v - prev > rise) {
                rise = v - prev;
                rise_k = k;
            }
            prev = last = v;
        }
        if (n < 3)
            continue;
        checked++;
        double fall = first - last;
        bool ok = fall > 0 && rise <= 0.02 * fall;
        held += ok;
        rb_printf(e, "%s: %.3f &rarr; %.3f", od->string, first, last);
        if (rise_k >= 0)
            rb_printf(e, "; largest rise +%.4f at k=%d (%.1f%% of the fall)", rise, rise_k,
                      fall > 0 ? 100 * rise / fall : INFINITY);
        rb_puts(e, ".<br>");
    }
    if (checked == 0)
        not_run(e, "Needs oracle.json with at least three budgets.", NEED_ORACLE, run->dir);
    else
        rb_puts(e, "<span class=\"small\">Criterion: fixed perplexity lower at k=L than at k=0 and no step up "
                   "larger than 2% of that fall.</span>");
    claim_row(h, "3a", "Fixed-pattern perplexity falls steadily as big layers are added.", tally(held, checked),
              e->data);
}

/* 3b. The oracle curve is U-shaped: best inside, worse toward k = L. */
static void claim_oracle_u(rpt_run *run, rpt_buf *h, rpt_buf *e)
{
    int L = rpt_layers(run), held = 0, checked = 0;
    const cJSON *od;
    EACH_DOMAIN(od, run) {
        const cJSON *top = rpt_oracle_budget(od, L);
        int best_k = -1, n = 0;
        double best = INFINITY;
        for (int k = 0; k <= L; k++) {
            const cJSON *b = rpt_oracle_budget(od, k);
            if (b && ++n && rj_num2(b, "oracle", "ppl") < best) {
                best = rj_num2(b, "oracle", "ppl");
                best_k = k;
            }
        }
        if (!top || n < 3)
            continue;
        checked++;
        double at_l = rj_num2(top, "oracle", "ppl");
        bool ok = best_k > 0 && best_k < L && at_l > best;
        held += ok;
        rb_printf(e, "%s: lowest at k=%d (%.3f), at k=L=%d %.3f.<br>", od->string, best_k, best, L, at_l);
    }
    if (checked == 0)
        not_run(e, "Needs oracle.json with k=L and at least three budgets.", NEED_ORACLE, run->dir);
    else
        rb_printf(e, "<span class=\"small\">Criterion: the oracle's lowest perplexity is at some 0 &lt; k &lt; L "
                     "(the paper: near L/2 = %g) and k=L is worse.</span>", L / 2.0);
    claim_row(h, "3b", "The oracle curve is U-shaped: best near k = L/2, worse toward k = L.", tally(held, checked),
              e->data);
}

/* 3c. Router perplexity falls as its budget rises. */
static void claim_router_falls(rpt_run *run, rpt_buf *h, rpt_buf *e)
{
    int held = 0, checked = 0;
    for (int d = 0; d < run->config.train.n_domains; d++) {
        const char *name = run->config.train.domains[d].name;
        int n = 0, prev_k = -1;
        double prev = NAN;
        bool ok = true;
        for (int r = 0; r < run->n_router_evals; r++) {
            const rpt_router_eval *re = &run->router_eval[r];
            const cJSON *v = rj_get(re->entry, name);
            if (re->exact || re->k < 0 || !v || re->k == prev_k || strcmp(re->alphabet, "SB"))
                continue;
            rb_printf(e, "%s%s k=%d: %.3f", n ? ", " : "", n ? "" : name, re->k, rj_num(v, "ppl"));
            ok &= !(n > 0 && rj_num(v, "ppl") >= prev);
            prev = rj_num(v, "ppl");
            prev_k = re->k;
            n++;
        }
        if (n > 0)
            rb_puts(e, ".<br>");
        if (n >= 2) {
            checked++;
            held += ok;
        }
    }
    if (checked == 0) {
        e->len = 0;
        if (e->data)
            e->data[0] = '\0';
        not_run(e, "Needs SB routers evaluated (argmax) at two or more budgets.",
                "duocl router train RUN --budget K for two budgets, then duocl eval RUN --routes "
                "router:RUN/router/kK-SB/router.ckpt", run->dir);
    } else
        rb_puts(e, "<span class=\"small\">Criterion: perplexity lower at every larger trained budget "
                   "(argmax routers, per domain).</span>");
    claim_row(h, "3c", "Router perplexity falls as big layers are added.", tally(held, checked), e->data);
}

/* 4. The oracle with one big layer beats all-big. */
static void claim_one_big(rpt_run *run, rpt_buf *h, rpt_buf *e)
{
    int held = 0, checked = 0;
    const cJSON *od;
    EACH_DOMAIN(od, run) {
        const cJSON *b = rpt_oracle_budget(od, 1);
        if (!b)
            continue;
        double oracle = rj_num2(b, "oracle", "ppl"), big = rj_num2(od, "all_big", "ppl");
        checked++;
        held += oracle < big;
        rb_printf(e, "%s: oracle k=1 %.3f vs all-big %.3f (%+.2f%%).<br>", od->string, oracle, big,
                  100 * (oracle / big - 1));
    }
    if (checked == 0)
        not_run(e, "Needs oracle.json with budget 1.", NEED_ORACLE, run->dir);
    else
        rb_puts(e, "<span class=\"small\">Criterion: oracle(k=1) perplexity below all-big's, per domain.</span>");
    claim_row(h, "4", "<b>The oracle with one big layer beats the model with big FFNs in every layer.</b>",
              tally(held, checked), e->data);
}

/* 5. A budget falling along the sequence is worse than a constant one. With
 * few layers the varying budget's mean is often not a whole number (L=4: 2
 * to 1, mean 1.5); the constant baseline is then the oracle's loss
 * interpolated between the budgets around that mean, which is what a mix of
 * tokens at those two budgets gives. */
static void claim_varying(rpt_run *run, rpt_buf *h, rpt_buf *e)
{
    int held = 0, checked = 0;
    bool unequal = false;
    const cJSON *od;
    EACH_DOMAIN(od, run) {
        const cJSON *v = rj_get(od, "varying_budget");
        if (!v)
            continue;
        double mean = rj_num(v, "mean_budget"), varying = rj_num2(v, "oracle_varying", "loss");
        const cJSON *lo = rpt_oracle_budget(od, (int)floor(mean)), *hi = rpt_oracle_budget(od, (int)ceil(mean));
        double constant;
        char what[96];
        if (lo && hi) {
            double f = mean - floor(mean);
            constant = (1 - f) * rj_num2(lo, "oracle", "loss") + f * rj_num2(hi, "oracle", "loss");
            if (f > 0)
                snprintf(what, sizeof what, "constant %.2f (between k=%.0f and %.0f)", mean, floor(mean), ceil(mean));
            else
                snprintf(what, sizeof what, "constant %.0f", mean);
        } else if (rj_get(v, "oracle_constant")) {
            constant = rj_num2(v, "oracle_constant", "loss");
            snprintf(what, sizeof what, "constant %.0f", rj_num(v, "constant_budget"));
            unequal |= fabs(mean - rj_num(v, "constant_budget")) > 1e-9;
        } else
            continue;
        checked++;
        held += varying > constant;
        rb_printf(e, "%s: %.0f &rarr; %.0f (mean %.2f) %.4f vs %s %.4f.<br>", od->string, rj_num(v, "from"),
                  rj_num(v, "to"), mean, exp(varying), what, exp(constant));
    }
    if (checked == 0)
        not_run(e, "Needs oracle.json with the varying-budget experiment (every budget it passes through "
                "searched).", NEED_ORACLE, run->dir);
    else {
        rb_puts(e, "<span class=\"small\">Oracle perplexity, per domain. Criterion: the budget that falls "
                   "along the window is worse than a constant budget with the same mean.</span>");
        if (unequal)
            rb_puts(e, " <span class=\"small\"><b>Caveat:</b> the constant budget differs from the varying "
                       "one's mean, so the comparison is not like for like.</span>");
    }
    claim_row(h, "5", "A budget that changes along the sequence (6 &rarr; 2 big layers) is worse than a constant 4.",
              tally(held, checked), e->data);
}

/* Centre of the BIG layers: 0 = all at the first layer, 1 = all at the last. */
static double centre(const double *f, int L)
{
    double sum = 0, weighted = 0;
    for (int l = 0; l < L; l++) {
        sum += f[l];
        weighted += l * f[l];
    }
    return sum > 0 && L > 1 ? weighted / sum / (L - 1) : NAN;
}

static void fractions(rpt_buf *e, const double *f, int L)
{
    rb_puts(e, " [");
    for (int l = 0; l < L; l++)
        rb_printf(e, "%s%.2f", l ? " " : "", f[l]);
    rb_puts(e, "]");
}

/* 6. Where the oracle puts BIG: late at a low budget, even at L/2, early at a high one. */
static void claim_oracle_placement(rpt_run *run, rpt_buf *h, rpt_buf *e)
{
    int L = rpt_layers(run), held = 0, checked = 0;
    const cJSON *domains = rj_get(run->oracle.json, "domains");
    const struct { int k; const char *want; } cases[] = {{1, "late"}, {(int)lround(L / 2.0), "even"}, {L - 1, "early"}};
    for (int i = 0; i < 3; i++) {
        double f[RPT_MAX_LAYERS];
        int k = cases[i].k;
        if (k < 1 || k >= L || (i > 0 && k == cases[i - 1].k))
            continue;
        if (!rpt_pooled_big(domains, k, -1, L, f)) {
            rb_printf(e, "k=%d (paper: %s): not searched by the oracle.<br>", k, cases[i].want);
            continue;
        }
        double c = centre(f, L);
        bool ok = cases[i].want[0] == 'l' ? c > 0.5 : cases[i].want[0] == 'e' && cases[i].want[1] == 'a'
                                                          ? c < 0.5 : fabs(c - 0.5) <= 0.1;
        checked++;
        held += ok;
        rb_printf(e, "k=%d: centre %.2f (paper: %s) %s; per layer", k, c, cases[i].want, ok ? "&#10003;" : "&#10007;");
        fractions(e, f, L);
        rb_puts(e, "<br>");
    }
    if (checked == 0)
        not_run(e, "Needs oracle.json with budgets between 1 and L-1.", NEED_ORACLE, run->dir);
    else
        rb_puts(e, "<span class=\"small\">Centre of the BIG layers, all domains pooled: 0 = first layer, "
                   "1 = last. Criterion: late &gt; 0.5, even within 0.4&ndash;0.6, early &lt; 0.5.</span>");
    claim_row(h, "6", "Where the oracle puts big layers: late layers at a low budget, evenly at L/2, early layers "
              "at a high budget.", tally(held, checked), e->data);
}

/* 7. Where the router puts BIG: later layers; early tokens more than late ones. */
static void claim_router_placement(rpt_run *run, rpt_buf *h, rpt_buf *e)
{
    int L = rpt_layers(run), held = 0, checked = 0;
    for (int r = 0; r < run->n_router_evals; r++) {
        const rpt_router_eval *re = &run->router_eval[r];
        double f[RPT_MAX_LAYERS], first[RPT_MAX_LAYERS], last[RPT_MAX_LAYERS];
        if (re->exact || !rpt_pooled_big(re->entry, -1, -1, L, f) ||
            !rpt_pooled_big(re->entry, -1, 0, L, first) || !rpt_pooled_big(re->entry, -1, RPT_BUCKETS - 1, L, last))
            continue;
        double c = centre(f, L), early = 0, late = 0;
        for (int l = 0; l < L; l++) {
            early += first[l] / L;
            late += last[l] / L;
        }
        checked += 2;
        held += (c > 0.5) + (early > late);
        rb_printf(e, "%s: centre %.2f %s; BIG share first vs last eighth of the window %.2f vs %.2f %s<br>",
                  re->label, c, c > 0.5 ? "&#10003;" : "&#10007;", early, late,
                  early > late ? "&#10003;" : "&#10007;");
    }
    if (checked == 0)
        not_run(e, "Needs a router evaluated (argmax).", "duocl eval RUN --routes router:RUN/router/kK-SB/router.ckpt",
                run->dir);
    else
        rb_puts(e, "<span class=\"small\">Criterion: centre of BIG layers &gt; 0.5 for every router, and more BIG "
                   "in the window's first eighth of positions than in its last.</span>");
    claim_row(h, "7", "Where the router puts them: later layers at every budget; early tokens get big modules more "
              "than late tokens.", tally(held, checked), e->data);
}

/* 8. The tokens with high loss are not always the ones that gain. */
static void claim_difficulty(rpt_run *run, rpt_buf *h, rpt_buf *e)
{
    int held = 0, checked = 0;
    const cJSON *dd;
    cJSON_ArrayForEach(dd, rj_get(run->difficulty.json, "domains")) {
        double overlap = rj_num2(dd, "top10_overlap", "fraction"), chance = rj_num2(dd, "top10_overlap", "chance");
        double rho = rj_num2(dd, "spearman", "loss_small_benefit");
        if (!isfinite(overlap))
            continue;
        checked++;
        held += overlap < 0.5;
        rb_printf(e, "%s: %.0f%% of the hardest 10%% are in the top 10%% by benefit (chance %.0f%%); Spearman "
                     "(loss_small, benefit) %+.2f.<br>", dd->string, 100 * overlap, 100 * chance, rho);
    }
    if (checked == 0)
        not_run(e, "Needs difficulty.json.", "duocl difficulty RUN --budget K", run->dir);
    else
        rb_printf(e, "<span class=\"small\">At budget %.0f. Criterion: fewer than half of the hardest tokens (by "
                     "all-small loss) are among those that gain most.</span>",
                  rj_num(run->difficulty.json, "budget"));
    claim_row(h, "8", "Tokens with high loss are not always the ones that gain from compute; the benefit "
              "loss_small &minus; loss_oracle marks those that do.", tally(held, checked), e->data);
}

void rpt_section_claims(rpt_run *run, rpt_buf *h)
{
    rb_puts(h, "<section id=\"claims\"><h2>The paper's claims on this run</h2>\n"
               "<p class=\"lead\">The results listed in the paper (Alizadeh et al., 2024), each decided from this "
               "run's numbers with the criterion stated beside it. Perplexities are per token. A small model "
               "trained briefly need not show every effect; the evidence says by how much each one holds or "
               "fails.</p>\n<table class=\"claims\"><tr><th>#</th><th>claim</th><th>this run</th>"
               "<th>evidence</th></tr>\n");
    void (*const claims[])(rpt_run *, rpt_buf *, rpt_buf *) = {
        claim_oracle_vs_random, claim_router, claim_fixed_falls, claim_oracle_u, claim_router_falls,
        claim_one_big, claim_varying, claim_oracle_placement, claim_router_placement, claim_difficulty};
    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
        rpt_buf evidence = {0};
        rb_puts(&evidence, "");
        claims[i](run, h, &evidence);
        rb_free(&evidence);
    }
    rb_puts(h, "</table>\n</section>\n");
}
