/* The paper's claims decided from the run's numbers (claims.h). Each claim
 * is checked case by case (a domain, a budget, a router) against the
 * criterion the report states beside it; it holds when every case held,
 * partly when some did, and is missing its input when no case could be
 * checked. No JSON and no HTML here: the inputs are plain numbers. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "claims.h"

static const char NEED_ORACLE[] = "duocl oracle RUN";

static void copy_name(char dst[RPT_NAME_MAX], const char *src) { snprintf(dst, RPT_NAME_MAX, "%s", src); }

/* The verdict from how many of the checked cases held. */
static void tally(rpt_claim *c, int held, int checked)
{
    c->held = held;
    c->checked = checked;
    c->verdict = checked == 0 ? RPT_MISSING_INPUT : held == checked ? RPT_HOLDS : held == 0 ? RPT_FAILS : RPT_PARTLY;
}

static void needs(rpt_claim *c, const char *missing, const char *command)
{
    snprintf(c->missing, sizeof c->missing, "%s", missing);
    snprintf(c->command, sizeof c->command, "%s", command);
}

/* Budget k of an oracle domain; NULL if the oracle did not search it. */
static const rpt_budget_in *budget(const rpt_oracle_domain_in *od, int k)
{
    return k >= 0 && k <= RPT_MAX_LAYERS && od->budget[k].present ? &od->budget[k] : NULL;
}

/* A router's result in a domain; NULL if it was not scored there. */
static const rpt_router_result *result_in(const rpt_router_in *r, const char *domain)
{
    for (int i = 0; i < r->n_results; i++)
        if (strcmp(r->result[i].domain, domain) == 0)
            return &r->result[i];
    return NULL;
}

/* 1. The oracle beats best-of-N random at every budget 1..L-1, in every domain. */
static void oracle_vs_random(const rpt_claims_inputs *in, rpt_claims *out)
{
    int held = 0, checked = 0;
    for (int d = 0; d < in->n_oracle_domains; d++) {
        const rpt_oracle_domain_in *od = &in->oracle[d];
        rpt_random_evidence e = {.worst_margin = INFINITY, .worst_k = -1,
                                 .gap = od->all_small.ppl - od->all_big.ppl};
        for (int k = 1; k < in->L; k++) {
            const rpt_budget_in *b = budget(od, k);
            if (!b)
                continue;
            double margin = b->random.ppl - b->oracle.ppl;
            e.budgets++;
            e.below += margin > 0;
            if (margin < e.worst_margin) {
                e.worst_margin = margin;
                e.worst_k = k;
            }
        }
        if (e.budgets == 0)
            continue;
        checked++;
        held += e.below == e.budgets;
        copy_name(e.domain, od->name);
        out->random[out->n_random++] = e;
    }
    rpt_claim *c = &out->claim[RPT_CLAIM_ORACLE_VS_RANDOM];
    tally(c, held, checked);
    needs(c, "Needs oracle.json with budgets between 1 and L-1.", NEED_ORACLE);
}

double rpt_gap_closed(double loss, double small, double big) { return (small - loss) / (small - big); }

/* 2. An SB router lands closer to the fixed pattern than to the oracle, at
 * the budget it was trained for, on the fraction of the gap each closes. */
static void router_near_fixed(const rpt_claims_inputs *in, rpt_claims *out)
{
    int held = 0, checked = 0, unmatched = 0;
    double unmatched_tokens = NAN;
    for (int r = 0; r < in->n_routers; r++) {
        const rpt_router_in *router = &in->router[r];
        if (router->k < 0 || !router->sb)
            continue;
        rpt_router_near_evidence *e = &out->router_near[out->n_router_near];
        *e = (rpt_router_near_evidence){0};
        for (int d = 0; d < in->n_oracle_domains; d++) {
            const rpt_oracle_domain_in *od = &in->oracle[d];
            const rpt_router_result *res = result_in(router, od->name);
            const rpt_budget_in *b = budget(od, router->k);
            if (!res || !b)
                continue;
            if (!res->has_references) {
                unmatched++;
                unmatched_tokens = res->tokens;
                continue;
            }
            rpt_router_gap *g = &e->domain[e->n];
            copy_name(g->domain, od->name);
            g->router = rpt_gap_closed(res->loss, res->small_loss, res->big_loss);
            g->fixed = rpt_gap_closed(b->fixed.loss, od->all_small.loss, od->all_big.loss);
            g->oracle = rpt_gap_closed(b->oracle.loss, od->all_small.loss, od->all_big.loss);
            g->near_fixed = fabs(g->router - g->fixed) < fabs(g->router - g->oracle);
            checked++;
            held += g->near_fixed;
            if (e->n++ == 0)
                e->budget_used = res->budget_used;
        }
        if (e->n > 0) {
            copy_name(e->label, router->label);
            out->n_router_near++;
        }
    }
    rpt_claim *c = &out->claim[RPT_CLAIM_ROUTER_NEAR_FIXED];
    tally(c, held, checked);
    if (checked == 0 && unmatched > 0) {
        needs(c, "The routers were scored on tokens that neither eval.json's all-small and all-big nor the "
                 "oracle share, so they cannot be compared with the oracle.", "");
        snprintf(c->command, sizeof c->command, "duocl eval RUN --routes all-small --tokens %.0f (and all-big)",
                 unmatched_tokens);
    } else
        needs(c, "Needs oracle.json and an SB router evaluated at a budget the oracle searched.",
              "duocl router train RUN --budget K; duocl eval RUN --routes "
              "router:RUN/router/kK-SB/router.ckpt (and --routes all-small, all-big)");
}

/* 3a. Fixed perplexity is lower at the highest budget than at the lowest,
 * with no step up larger than 2% of that fall; needs three budgets. */
static void fixed_falls(const rpt_claims_inputs *in, rpt_claims *out)
{
    int held = 0, checked = 0;
    for (int d = 0; d < in->n_oracle_domains; d++) {
        const rpt_oracle_domain_in *od = &in->oracle[d];
        rpt_fixed_evidence e = {.first = NAN, .last = NAN, .rise = 0, .rise_k = -1};
        double prev = NAN;
        int n = 0;
        for (int k = 0; k <= in->L; k++) {
            const rpt_budget_in *b = budget(od, k);
            if (!b)
                continue;
            double v = b->fixed.ppl;
            if (n++ == 0)
                e.first = v;
            if (isfinite(prev) && v - prev > e.rise) {
                e.rise = v - prev;
                e.rise_k = k;
            }
            prev = e.last = v;
        }
        if (n < 3)
            continue;
        double fall = e.first - e.last;
        e.held = fall > 0 && e.rise <= 0.02 * fall;
        checked++;
        held += e.held;
        copy_name(e.domain, od->name);
        out->fixed[out->n_fixed++] = e;
    }
    rpt_claim *c = &out->claim[RPT_CLAIM_FIXED_FALLS];
    tally(c, held, checked);
    needs(c, "Needs oracle.json with at least three budgets.", NEED_ORACLE);
}

/* 3b. The oracle's lowest perplexity is at some 0 < k < L, and k = L is
 * worse; needs k = L and three budgets. */
static void oracle_u(const rpt_claims_inputs *in, rpt_claims *out)
{
    int held = 0, checked = 0;
    for (int d = 0; d < in->n_oracle_domains; d++) {
        const rpt_oracle_domain_in *od = &in->oracle[d];
        const rpt_budget_in *top = budget(od, in->L);
        rpt_u_evidence e = {.best_k = -1, .best = INFINITY};
        int n = 0;
        for (int k = 0; k <= in->L; k++) {
            const rpt_budget_in *b = budget(od, k);
            if (b && ++n && b->oracle.ppl < e.best) {
                e.best = b->oracle.ppl;
                e.best_k = k;
            }
        }
        if (!top || n < 3)
            continue;
        e.at_L = top->oracle.ppl;
        e.held = e.best_k > 0 && e.best_k < in->L && e.at_L > e.best;
        checked++;
        held += e.held;
        copy_name(e.domain, od->name);
        out->u[out->n_u++] = e;
    }
    rpt_claim *c = &out->claim[RPT_CLAIM_ORACLE_U];
    tally(c, held, checked);
    needs(c, "Needs oracle.json with k=L and at least three budgets.", NEED_ORACLE);
}

/* 3c. Per config domain, the perplexity of argmax SB routers is lower at
 * every larger trained budget (the first router of each budget); needs two
 * budgets. */
static void router_falls(const rpt_claims_inputs *in, rpt_claims *out)
{
    int held = 0, checked = 0;
    for (int d = 0; d < in->n_domains; d++) {
        rpt_router_falls_evidence *e = &out->router_falls[out->n_router_falls];
        *e = (rpt_router_falls_evidence){.held = true};
        for (int r = 0; r < in->n_routers; r++) {
            const rpt_router_in *router = &in->router[r];
            const rpt_router_result *res = result_in(router, in->domain[d]);
            if (router->exact || router->k < 0 || !res || !router->sb ||
                (e->n > 0 && router->k == e->k[e->n - 1]))
                continue;
            e->held &= !(e->n > 0 && res->ppl >= e->ppl[e->n - 1]);
            e->k[e->n] = router->k;
            e->ppl[e->n++] = res->ppl;
        }
        if (e->n == 0)
            continue;
        copy_name(e->domain, in->domain[d]);
        out->n_router_falls++;
        if (e->n >= 2) {
            checked++;
            held += e->held;
        }
    }
    /* Single routers decide nothing: with no domain checked there is no evidence to show. */
    if (checked == 0)
        out->n_router_falls = 0;
    rpt_claim *c = &out->claim[RPT_CLAIM_ROUTER_FALLS];
    tally(c, held, checked);
    needs(c, "Needs SB routers evaluated (argmax) at two or more budgets.",
          "duocl router train RUN --budget K for two budgets, then duocl eval RUN --routes "
          "router:RUN/router/kK-SB/router.ckpt");
}

/* 4. The oracle's perplexity with one BIG layer is below all-big's. */
static void one_big(const rpt_claims_inputs *in, rpt_claims *out)
{
    int held = 0, checked = 0;
    for (int d = 0; d < in->n_oracle_domains; d++) {
        const rpt_oracle_domain_in *od = &in->oracle[d];
        const rpt_budget_in *b = budget(od, 1);
        if (!b)
            continue;
        rpt_one_big_evidence e = {.oracle_k1 = b->oracle.ppl, .all_big = od->all_big.ppl};
        e.held = e.oracle_k1 < e.all_big;
        checked++;
        held += e.held;
        copy_name(e.domain, od->name);
        out->one_big[out->n_one_big++] = e;
    }
    rpt_claim *c = &out->claim[RPT_CLAIM_ONE_BIG];
    tally(c, held, checked);
    needs(c, "Needs oracle.json with budget 1.", NEED_ORACLE);
}

/* 5. The oracle under a budget falling along the window has a higher loss
 * than under a constant budget with the same mean. With few layers that mean
 * is often not a whole number (L=4: 2 to 1, mean 1.5); the constant baseline
 * is then the oracle's loss interpolated between the budgets around the
 * mean, which is what a mix of tokens at those two budgets gives. Without
 * those budgets, oracle.json's own constant-budget run stands in. */
static void varying_budget(const rpt_claims_inputs *in, rpt_claims *out)
{
    int held = 0, checked = 0;
    for (int d = 0; d < in->n_oracle_domains; d++) {
        const rpt_oracle_domain_in *od = &in->oracle[d];
        const rpt_varying_in *v = &od->varying;
        if (!v->present)
            continue;
        rpt_varying_evidence e = {.from = v->from, .to = v->to, .mean_budget = v->mean_budget,
                                  .varying_loss = v->varying_loss};
        double lo_k = floor(v->mean_budget), hi_k = ceil(v->mean_budget);
        bool in_range = lo_k >= 0 && hi_k <= RPT_MAX_LAYERS; /* false for NaN */
        const rpt_budget_in *lo = in_range ? budget(od, (int)lo_k) : NULL;
        const rpt_budget_in *hi = in_range ? budget(od, (int)hi_k) : NULL;
        if (lo && hi) {
            double f = v->mean_budget - lo_k;
            e.constant_loss = (1 - f) * lo->oracle.loss + f * hi->oracle.loss;
            e.from_budgets = true;
            e.interpolated = f > 0;
            e.lo_k = (int)lo_k;
            e.hi_k = (int)hi_k;
            e.constant_budget = v->mean_budget;
        } else if (v->has_constant) {
            e.constant_loss = v->constant_loss;
            e.constant_budget = v->constant_budget;
            out->varying_unequal |= fabs(v->mean_budget - v->constant_budget) > 1e-9;
        } else
            continue;
        e.held = e.varying_loss > e.constant_loss;
        checked++;
        held += e.held;
        copy_name(e.domain, od->name);
        out->varying[out->n_varying++] = e;
    }
    rpt_claim *c = &out->claim[RPT_CLAIM_VARYING_BUDGET];
    tally(c, held, checked);
    needs(c, "Needs oracle.json with the varying-budget experiment (every budget it passes through searched).",
          NEED_ORACLE);
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

/* 6. The oracle's BIG layers, all domains pooled, centre late (> 0.5) at
 * k=1, evenly (0.4 to 0.6) at k=L/2 and early (< 0.5) at k=L-1. */
static void oracle_placement(const rpt_claims_inputs *in, rpt_claims *out)
{
    int L = in->L, held = 0, checked = 0;
    const struct { int k; rpt_placement_want want; } cases[] = {
        {1, RPT_WANT_LATE}, {(int)lround(L / 2.0), RPT_WANT_EVEN}, {L - 1, RPT_WANT_EARLY}};
    for (int i = 0; i < 3; i++) {
        int k = cases[i].k;
        if (k < 1 || k >= L || (i > 0 && k == cases[i - 1].k))
            continue;
        rpt_oracle_placement_evidence *e = &out->oracle_placement[out->n_oracle_placement++];
        *e = (rpt_oracle_placement_evidence){.k = k, .want = cases[i].want};
        e->searched = k <= RPT_MAX_LAYERS && in->oracle_big_present[k];
        if (!e->searched)
            continue;
        memcpy(e->big, in->oracle_big[k], (size_t)L * sizeof e->big[0]);
        e->centre = centre(e->big, L);
        e->held = e->want == RPT_WANT_LATE ? e->centre > 0.5
                  : e->want == RPT_WANT_EARLY ? e->centre < 0.5
                                              : fabs(e->centre - 0.5) <= 0.1;
        checked++;
        held += e->held;
    }
    rpt_claim *c = &out->claim[RPT_CLAIM_ORACLE_PLACEMENT];
    tally(c, held, checked);
    needs(c, "Needs oracle.json with budgets between 1 and L-1.", NEED_ORACLE);
}

/* 7. Every argmax router's BIG layers centre late (> 0.5), and it gives
 * more BIG to the window's first eighth of positions than to its last: two
 * cases per router. */
static void router_placement(const rpt_claims_inputs *in, rpt_claims *out)
{
    int L = in->L, held = 0, checked = 0;
    for (int r = 0; r < in->n_routers; r++) {
        const rpt_router_in *router = &in->router[r];
        if (router->exact || !router->has_placement)
            continue;
        rpt_router_placement_evidence e = {.centre = centre(router->big, L)};
        for (int l = 0; l < L; l++) {
            e.early += router->big_first[l] / L;
            e.late += router->big_last[l] / L;
        }
        e.late_layers = e.centre > 0.5;
        e.early_tokens = e.early > e.late;
        checked += 2;
        held += e.late_layers + e.early_tokens;
        copy_name(e.label, router->label);
        out->router_placement[out->n_router_placement++] = e;
    }
    rpt_claim *c = &out->claim[RPT_CLAIM_ROUTER_PLACEMENT];
    tally(c, held, checked);
    needs(c, "Needs a router evaluated (argmax).", "duocl eval RUN --routes router:RUN/router/kK-SB/router.ckpt");
}

/* 8. Fewer than half of the hardest 10% of tokens (by all-small loss) are
 * among the 10% that gain most from the oracle's compute. */
static void difficulty(const rpt_claims_inputs *in, rpt_claims *out)
{
    int held = 0, checked = 0;
    for (int d = 0; d < in->n_difficulty_domains; d++) {
        const rpt_difficulty_in *dd = &in->difficulty[d];
        if (!isfinite(dd->top10_overlap))
            continue;
        rpt_difficulty_evidence e = {.overlap = dd->top10_overlap, .chance = dd->chance, .spearman = dd->spearman};
        e.held = e.overlap < 0.5;
        checked++;
        held += e.held;
        copy_name(e.domain, dd->name);
        out->difficulty[out->n_difficulty++] = e;
    }
    rpt_claim *c = &out->claim[RPT_CLAIM_DIFFICULTY];
    tally(c, held, checked);
    needs(c, "Needs difficulty.json.", "duocl difficulty RUN --budget K");
}

void rpt_claims_decide(const rpt_claims_inputs *in, rpt_claims *out)
{
    static const char *const numbers[RPT_N_CLAIMS] = {"1", "2", "3a", "3b", "3c", "4", "5", "6", "7", "8"};
    memset(out, 0, sizeof *out);
    out->L = in->L;
    out->random_n = in->random_n;
    out->difficulty_budget = in->difficulty_budget;
    oracle_vs_random(in, out);
    router_near_fixed(in, out);
    fixed_falls(in, out);
    oracle_u(in, out);
    router_falls(in, out);
    one_big(in, out);
    varying_budget(in, out);
    oracle_placement(in, out);
    router_placement(in, out);
    difficulty(in, out);
    for (int i = 0; i < RPT_N_CLAIMS; i++) {
        rpt_claim *c = &out->claim[i];
        c->number = numbers[i];
        if (c->verdict != RPT_MISSING_INPUT)
            c->missing[0] = c->command[0] = '\0';
    }
}

const char *rpt_verdict_name(rpt_verdict verdict)
{
    switch (verdict) {
    case RPT_HOLDS: return "holds";
    case RPT_FAILS: return "fails";
    case RPT_PARTLY: return "partly";
    case RPT_MISSING_INPUT: return "missing input";
    }
    return "?";
}
