/* duocl report: the table of the paper's claims (PAPER.md, "Results to
 * reproduce"), rendered from the verdicts of claims.c. Each row states the
 * claim, its verdict, the numbers it was decided on and the criterion; a
 * claim whose inputs are missing is "not run" with the command that makes
 * them. A claim that holds in some cases only is "partly". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "claims.h"
#include "report.h"

/* The paper's wording, by rpt_claim_id. */
static const char *const STATEMENTS[RPT_N_CLAIMS] = {
    "The oracle beats best-of-100-random by a wide margin at every budget.",
    "The router lands near best-of-100-random and the fixed pattern, far from the oracle.",
    "Fixed-pattern perplexity falls steadily as big layers are added.",
    "The oracle curve is U-shaped: best near k = L/2, worse toward k = L.",
    "Router perplexity falls as big layers are added.",
    "<b>The oracle with one big layer beats the model with big FFNs in every layer.</b>",
    "A budget that changes along the sequence (6 &rarr; 2 big layers) is worse than a constant 4.",
    "Where the oracle puts big layers: late layers at a low budget, evenly at L/2, early layers at a high budget.",
    "Where the router puts them: later layers at every budget; early tokens get big modules more than late tokens.",
    ("Tokens with high loss are not always the ones that gain from compute; the benefit loss_small &minus; "
     "loss_oracle marks those that do."),
};

/* Each evidence function writes the cases that were checked (and, for
 * claim 6, the budgets the oracle did not search), then the criterion when
 * the claim was decided. */
static bool decided(const rpt_claims *c, rpt_claim_id id) { return c->claim[id].verdict != RPT_MISSING_INPUT; }

static const char *mark(bool ok) { return ok ? "&#10003;" : "&#10007;"; }

static void criterion(rpt_buf *e, const char *text) { rb_printf(e, "<span class=\"small\">%s</span>", text); }

static void oracle_vs_random(const rpt_claims *c, rpt_buf *e)
{
    for (int i = 0; i < c->n_random; i++) {
        const rpt_random_evidence *d = &c->random[i];
        rb_printf(e, "%s: below random at %d of %d budgets; smallest margin %.3f ppl at k=%d (%.0f%% of the "
                     "all-small to all-big gap).<br>", d->domain, d->below, d->budgets, d->worst_margin, d->worst_k,
                  100 * d->worst_margin / d->gap);
    }
    if (!decided(c, RPT_CLAIM_ORACLE_VS_RANDOM))
        return;
    rb_printf(e, "<span class=\"small\">Criterion: oracle perplexity below best-of-%.0f random at every budget "
                 "1..L-1, in every domain.</span>", c->random_n);
}

static void router_near_fixed(const rpt_claims *c, rpt_buf *e)
{
    for (int r = 0; r < c->n_router_near; r++) {
        const rpt_router_near_evidence *router = &c->router_near[r];
        rb_printf(e, "<b>%s</b> (budget used %.2f): ", router->label, router->budget_used);
        for (int i = 0; i < router->n; i++) {
            const rpt_router_gap *g = &router->domain[i];
            rb_printf(e, "%s%s %.0f%% (fixed %.0f%%, oracle %.0f%%)", i ? "; " : "", g->domain, 100 * g->router,
                      100 * g->fixed, 100 * g->oracle);
        }
        rb_puts(e, "<br>");
    }
    if (!decided(c, RPT_CLAIM_ROUTER_NEAR_FIXED))
        return;
    criterion(e, "Percentages: how much of the all-small to all-big loss gap each closes at the router's budget k "
                 "(over 100%: better than all-big). Criterion: the router is closer to fixed than to the oracle.");
}

static void fixed_falls(const rpt_claims *c, rpt_buf *e)
{
    for (int i = 0; i < c->n_fixed; i++) {
        const rpt_fixed_evidence *d = &c->fixed[i];
        double fall = d->first - d->last;
        rb_printf(e, "%s: %.3f &rarr; %.3f", d->domain, d->first, d->last);
        if (d->rise_k >= 0)
            rb_printf(e, "; largest rise +%.4f at k=%d (%.1f%% of the fall)", d->rise, d->rise_k,
                      fall > 0 ? 100 * d->rise / fall : INFINITY);
        rb_puts(e, ".<br>");
    }
    if (!decided(c, RPT_CLAIM_FIXED_FALLS))
        return;
    criterion(e, "Criterion: fixed perplexity lower at k=L than at k=0 and no step up larger than 2% of that fall.");
}

static void oracle_u(const rpt_claims *c, rpt_buf *e)
{
    for (int i = 0; i < c->n_u; i++) {
        const rpt_u_evidence *d = &c->u[i];
        rb_printf(e, "%s: lowest at k=%d (%.3f), at k=L=%d %.3f.<br>", d->domain, d->best_k, d->best, c->L, d->at_L);
    }
    if (!decided(c, RPT_CLAIM_ORACLE_U))
        return;
    rb_printf(e, "<span class=\"small\">Criterion: the oracle's lowest perplexity is at some 0 &lt; k &lt; L "
                 "(the paper: near L/2 = %g) and k=L is worse.</span>", c->L / 2.0);
}

static void router_falls(const rpt_claims *c, rpt_buf *e)
{
    for (int i = 0; i < c->n_router_falls; i++) {
        const rpt_router_falls_evidence *d = &c->router_falls[i];
        /* "web k=1: 107.493,  k=2: 107.941" (two spaces, as the report has always written it) */
        for (int j = 0; j < d->n; j++)
            rb_printf(e, "%s%s k=%d: %.3f", j ? ", " : "", j ? "" : d->domain, d->k[j], d->ppl[j]);
        rb_puts(e, ".<br>");
    }
    if (!decided(c, RPT_CLAIM_ROUTER_FALLS))
        return;
    criterion(e, "Criterion: perplexity lower at every larger trained budget (argmax routers, per domain).");
}

static void one_big(const rpt_claims *c, rpt_buf *e)
{
    for (int i = 0; i < c->n_one_big; i++) {
        const rpt_one_big_evidence *d = &c->one_big[i];
        rb_printf(e, "%s: oracle k=1 %.3f vs all-big %.3f (%+.2f%%).<br>", d->domain, d->oracle_k1, d->all_big,
                  100 * (d->oracle_k1 / d->all_big - 1));
    }
    if (!decided(c, RPT_CLAIM_ONE_BIG))
        return;
    criterion(e, "Criterion: oracle(k=1) perplexity below all-big's, per domain.");
}

static void varying_budget(const rpt_claims *c, rpt_buf *e)
{
    for (int i = 0; i < c->n_varying; i++) {
        const rpt_varying_evidence *d = &c->varying[i];
        char what[96];
        if (d->interpolated)
            snprintf(what, sizeof what, "constant %.2f (between k=%d and %d)", d->mean_budget, d->lo_k, d->hi_k);
        else
            snprintf(what, sizeof what, "constant %.0f", d->constant_budget);
        rb_printf(e, "%s: %.0f &rarr; %.0f (mean %.2f) %.4f vs %s %.4f.<br>", d->domain, d->from, d->to,
                  d->mean_budget, exp(d->varying_loss), what, exp(d->constant_loss));
    }
    if (!decided(c, RPT_CLAIM_VARYING_BUDGET))
        return;
    criterion(e, "Oracle perplexity, per domain. Criterion: the budget that falls along the window is worse than a "
                 "constant budget with the same mean.");
    if (c->varying_unequal)
        rb_puts(e, " <span class=\"small\"><b>Caveat:</b> the constant budget differs from the varying one's mean, "
                   "so the comparison is not like for like.</span>");
}

static void oracle_placement(const rpt_claims *c, rpt_buf *e)
{
    static const char *const wants[] = {"late", "even", "early"};
    for (int i = 0; i < c->n_oracle_placement; i++) {
        const rpt_oracle_placement_evidence *d = &c->oracle_placement[i];
        if (!d->searched) {
            rb_printf(e, "k=%d (paper: %s): not searched by the oracle.<br>", d->k, wants[d->want]);
            continue;
        }
        rb_printf(e, "k=%d: centre %.2f (paper: %s) %s; per layer [", d->k, d->centre, wants[d->want],
                  mark(d->held));
        for (int l = 0; l < c->L; l++)
            rb_printf(e, "%s%.2f", l ? " " : "", d->big[l]);
        rb_puts(e, "]<br>");
    }
    if (!decided(c, RPT_CLAIM_ORACLE_PLACEMENT))
        return;
    criterion(e, "Centre of the BIG layers, all domains pooled: 0 = first layer, 1 = last. Criterion: late &gt; "
                 "0.5, even within 0.4&ndash;0.6, early &lt; 0.5.");
}

static void router_placement(const rpt_claims *c, rpt_buf *e)
{
    for (int i = 0; i < c->n_router_placement; i++) {
        const rpt_router_placement_evidence *d = &c->router_placement[i];
        rb_printf(e, "%s: centre %.2f %s; BIG share first vs last eighth of the window %.2f vs %.2f %s<br>",
                  d->label, d->centre, mark(d->late_layers), d->early, d->late, mark(d->early_tokens));
    }
    if (!decided(c, RPT_CLAIM_ROUTER_PLACEMENT))
        return;
    criterion(e, "Criterion: centre of BIG layers &gt; 0.5 for every router, and more BIG in the window's first "
                 "eighth of positions than in its last.");
}

static void difficulty(const rpt_claims *c, rpt_buf *e)
{
    for (int i = 0; i < c->n_difficulty; i++) {
        const rpt_difficulty_evidence *d = &c->difficulty[i];
        rb_printf(e, "%s: %.0f%% of the hardest 10%% are in the top 10%% by benefit (chance %.0f%%); Spearman "
                     "(loss_small, benefit) %+.2f.<br>", d->domain, 100 * d->overlap, 100 * d->chance, d->spearman);
    }
    if (!decided(c, RPT_CLAIM_DIFFICULTY))
        return;
    rb_printf(e, "<span class=\"small\">At budget %.0f. Criterion: fewer than half of the hardest tokens (by "
                 "all-small loss) are among those that gain most.</span>", c->difficulty_budget);
}

void rpt_claims_html(const rpt_claims *c, const char *run_dir, rpt_buf *h)
{
    static void (*const evidence[RPT_N_CLAIMS])(const rpt_claims *, rpt_buf *) = {
        oracle_vs_random, router_near_fixed, fixed_falls, oracle_u, router_falls,
        one_big, varying_budget, oracle_placement, router_placement, difficulty};
    static const char *const names[] = {"not run", "not reproduced", "partly", "reproduced"};
    static const char *const classes[] = {"s-na", "s-no", "s-part", "s-yes"};
    rb_puts(h, "<section id=\"claims\"><h2>The paper's claims on this run</h2>\n"
               "<p class=\"lead\">The results listed in the paper (Alizadeh et al., 2024), each decided from this "
               "run's numbers with the criterion stated beside it. Perplexities are per token. A small model "
               "trained briefly need not show every effect; the evidence says by how much each one holds or "
               "fails.</p>\n<table class=\"claims\"><tr><th>#</th><th>claim</th><th>this run</th>"
               "<th>evidence</th></tr>\n");
    for (int i = 0; i < RPT_N_CLAIMS; i++) {
        const rpt_claim *claim = &c->claim[i];
        rpt_buf e = {0};
        rb_puts(&e, "");
        evidence[i](c, &e);
        if (claim->verdict == RPT_MISSING_INPUT) {
            /* The texts are claims.c's own: plain ASCII, printed as they are. */
            rb_printf(&e, "%s Run <code>", claim->missing);
            rb_command(&e, claim->command, run_dir);
            rb_puts(&e, "</code>.");
        }
        rb_printf(h, "<tr><td>%s</td><td>%s</td><td><span class=\"status %s\">%s</span></td>"
                     "<td class=\"evidence\">%s</td></tr>\n", claim->number, STATEMENTS[i], classes[claim->verdict],
                  names[claim->verdict], e.data ? e.data : "");
        h->failed |= e.failed;
        rb_free(&e);
    }
    rb_puts(h, "</table>\n</section>\n");
}

void rpt_section_claims(rpt_run *run, rpt_buf *h)
{
    rpt_claims_inputs *in = malloc(sizeof *in);
    rpt_claims *claims = malloc(sizeof *claims);
    if (in && claims) {
        rpt_claims_inputs_from_run(run, in);
        rpt_claims_decide(in, claims);
        rpt_claims_html(claims, run->dir, h);
    } else
        h->failed = true;
    free(in);
    free(claims);
}
