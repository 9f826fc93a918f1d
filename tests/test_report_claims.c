/* The report's claims decided on small hand-made inputs (report/claims.h):
 * for every claim a case where it holds, one where it fails, and one with
 * its input missing (the verdict says so, with the text and command), plus
 * "partly" where cases disagree, the boundaries of each criterion, and the
 * numbers the report shows. Numbers are worked out by hand in the comments;
 * tolerance 1e-12 (a few double operations). Then the table rendered from
 * decided claims. No device, no files. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/claims.h"
#include "report/report.h"
#include "unitcheck.h"

static rpt_claims_inputs in;
static rpt_claims out;

static bool near(double a, double b) { return fabs(a - b) <= 1e-12 * (1 + fabs(b)); }

static const char *const NAMES[] = {"missing input", "fails", "partly", "holds"};

static void expect(const char *name, rpt_claim_id id, rpt_verdict want, int held, int checked)
{
    const rpt_claim *c = &out.claim[id];
    unit_check(name, c->verdict == want && c->held == held && c->checked == checked,
               "claim %s: %s, %d of %d held; want %s, %d of %d", c->number, NAMES[c->verdict], c->held, c->checked,
               NAMES[want], held, checked);
}

static void expect_missing(const char *name, rpt_claim_id id, const char *text, const char *command)
{
    const rpt_claim *c = &out.claim[id];
    unit_check(name, c->verdict == RPT_MISSING_INPUT && c->checked == 0 && strstr(c->missing, text) &&
                         strstr(c->command, command),
               "claim %s: %s \"%s\" / \"%s\"; want missing input with \"%s\" / \"%s\"", c->number,
               NAMES[c->verdict], c->missing, c->command, text, command);
}

static void expect_num(const char *name, double got, double want)
{
    unit_check(name, near(got, want), "got %.15g, want %.15g", got, want);
}

/* ---- building inputs ---- */

static void start(int L)
{
    memset(&in, 0, sizeof in);
    in.L = L;
    in.random_n = 100;
    in.difficulty_budget = NAN;
}

static rpt_score ppl(double p) { return (rpt_score){.ppl = p, .loss = log(p)}; }
static rpt_score loss(double l) { return (rpt_score){.ppl = exp(l), .loss = l}; }

static rpt_oracle_domain_in *oracle_domain(const char *name, rpt_score small, rpt_score big)
{
    rpt_oracle_domain_in *d = &in.oracle[in.n_oracle_domains++];
    snprintf(d->name, sizeof d->name, "%s", name);
    d->all_small = small;
    d->all_big = big;
    return d;
}

static void budget(rpt_oracle_domain_in *d, int k, rpt_score oracle, rpt_score fixed, rpt_score random)
{
    d->budget[k] = (rpt_budget_in){.present = true, .oracle = oracle, .fixed = fixed, .random = random};
}

/* Oracle perplexity at k = 0..n-1 (fixed and random alike). */
static void oracle_curve(rpt_oracle_domain_in *d, const double *p, int n)
{
    for (int k = 0; k < n; k++)
        budget(d, k, ppl(p[k]), ppl(p[k]), ppl(p[k]));
}

/* Fixed perplexity at k = 0..n-1. */
static void fixed_curve(rpt_oracle_domain_in *d, const double *p, int n)
{
    for (int k = 0; k < n; k++)
        budget(d, k, ppl(p[k]), ppl(p[k]), ppl(p[k] + 1));
}

static rpt_router_in *router(int k, bool exact)
{
    rpt_router_in *r = &in.router[in.n_routers++];
    *r = (rpt_router_in){.k = k, .sb = true, .exact = exact};
    snprintf(r->label, sizeof r->label, "router k=%d%s", k, exact ? " (exact)" : "");
    return r;
}

static rpt_router_result *result(rpt_router_in *r, const char *domain, rpt_score score, double tokens)
{
    rpt_router_result *res = &r->result[r->n_results++];
    *res = (rpt_router_result){.ppl = score.ppl, .loss = score.loss, .tokens = tokens, .budget_used = NAN};
    snprintf(res->domain, sizeof res->domain, "%s", domain);
    return res;
}

/* The all-small and all-big losses on the result's tokens. */
static rpt_router_result *references(rpt_router_result *res, double small, double big)
{
    res->has_references = true;
    res->small_loss = small;
    res->big_loss = big;
    return res;
}

static void config_domain(const char *name) { snprintf(in.domain[in.n_domains++], RPT_NAME_MAX, "%s", name); }

static void decide(void) { rpt_claims_decide(&in, &out); }

/* ---- 1: the oracle beats best-of-N random ---- */

static void claim1_oracle_vs_random(void)
{
    start(4);
    /* margins random - oracle: 5, 4, 1 -> smallest 1 at k=3; gap 120 - 100 */
    rpt_oracle_domain_in *web = oracle_domain("web", ppl(120), ppl(100));
    budget(web, 0, ppl(120), ppl(120), ppl(120));
    budget(web, 1, ppl(105), ppl(107), ppl(110));
    budget(web, 2, ppl(103), ppl(106), ppl(107));
    budget(web, 3, ppl(101), ppl(102), ppl(102));
    budget(web, 4, ppl(100), ppl(100), ppl(100));
    decide();
    expect("claim1_holds", RPT_CLAIM_ORACLE_VS_RANDOM, RPT_HOLDS, 1, 1);
    const rpt_random_evidence *e = &out.random[0];
    unit_check("claim1_evidence", out.n_random == 1 && strcmp(e->domain, "web") == 0 && e->below == 3 &&
                                      e->budgets == 3 && e->worst_k == 3,
               "%d domains, %s below at %d of %d, worst k=%d", out.n_random, e->domain, e->below, e->budgets,
               e->worst_k);
    expect_num("claim1_smallest_margin", e->worst_margin, 1);
    expect_num("claim1_gap", e->gap, 20);
    unit_check("claim1_decided_has_no_missing_text", out.claim[0].missing[0] == '\0' && out.claim[0].command[0] == '\0',
               "\"%s\" \"%s\"", out.claim[0].missing, out.claim[0].command);

    /* equal to random at k=3 is not beating it: fails in web; code holds -> partly */
    budget(web, 3, ppl(102), ppl(102), ppl(102));
    rpt_oracle_domain_in *code = oracle_domain("code", ppl(120), ppl(100));
    budget(code, 2, ppl(103), ppl(106), ppl(107));
    decide();
    expect("claim1_equal_to_random_fails_one_domain", RPT_CLAIM_ORACLE_VS_RANDOM, RPT_PARTLY, 1, 2);
    expect_num("claim1_margin_zero", out.random[0].worst_margin, 0);
    unit_check("claim1_below_2_of_3", out.random[0].below == 2, "below %d", out.random[0].below);

    budget(code, 2, ppl(108), ppl(106), ppl(107));
    decide();
    expect("claim1_fails", RPT_CLAIM_ORACLE_VS_RANDOM, RPT_FAILS, 0, 2);
    expect_num("claim1_negative_margin", out.random[1].worst_margin, -1);

    /* only k=0 and k=L: nothing between to check */
    start(4);
    rpt_oracle_domain_in *ends = oracle_domain("web", ppl(120), ppl(100));
    budget(ends, 0, ppl(120), ppl(120), ppl(120));
    budget(ends, 4, ppl(100), ppl(100), ppl(100));
    decide();
    expect_missing("claim1_missing_budgets", RPT_CLAIM_ORACLE_VS_RANDOM, "budgets between 1 and L-1",
                   "duocl oracle RUN");
    start(4);
    decide();
    expect_missing("claim1_missing_oracle", RPT_CLAIM_ORACLE_VS_RANDOM, "oracle.json", "duocl oracle RUN");
}

/* ---- 2: the router lands near fixed, far from the oracle ---- */

static void claim2_router_near_fixed(void)
{
    start(4);
    /* losses: all-small 5, all-big 4; at k=2 fixed 4.5 (closes 50% of the
     * gap), oracle 4.1 (90%); the router 4.6 (40%): 0.1 from fixed, 0.5 from
     * the oracle */
    rpt_oracle_domain_in *web = oracle_domain("web", loss(5), loss(4));
    budget(web, 2, loss(4.1), loss(4.5), loss(4.6));
    rpt_router_in *r = router(2, false);
    rpt_router_result *res = references(result(r, "web", loss(4.6), 1024), 5, 4);
    res->budget_used = 1.97;
    decide();
    expect("claim2_holds", RPT_CLAIM_ROUTER_NEAR_FIXED, RPT_HOLDS, 1, 1);
    const rpt_router_near_evidence *e = &out.router_near[0];
    unit_check("claim2_evidence", out.n_router_near == 1 && e->n == 1 && strcmp(e->label, "router k=2") == 0 &&
                                      strcmp(e->domain[0].domain, "web") == 0 && e->domain[0].near_fixed,
               "%d routers, %s with %d domains", out.n_router_near, e->label, e->n);
    expect_num("claim2_budget_used", e->budget_used, 1.97);
    expect_num("claim2_router_closes_40pct", e->domain[0].router, 0.4);
    expect_num("claim2_fixed_closes_50pct", e->domain[0].fixed, 0.5);
    expect_num("claim2_oracle_closes_90pct", e->domain[0].oracle, 0.9);

    /* the router's own references: on its tokens all-small 5.2, all-big 4.2:
     * loss 4.25 closes 95%, nearer the oracle */
    res->small_loss = 5.2;
    res->big_loss = 4.2;
    res->loss = 4.25;
    decide();
    expect("claim2_fails", RPT_CLAIM_ROUTER_NEAR_FIXED, RPT_FAILS, 0, 1);
    expect_num("claim2_router_closes_95pct", out.router_near[0].domain[0].router, 0.95);

    /* an exact router at the same budget, near fixed: one of two */
    rpt_router_in *exact = router(2, true);
    rpt_router_result *x = references(result(exact, "web", loss(4.6), 1024), 5, 4);
    decide();
    expect("claim2_partly", RPT_CLAIM_ROUTER_NEAR_FIXED, RPT_PARTLY, 1, 2);

    /* scored on tokens with no all-small/all-big: cannot be compared */
    res->has_references = x->has_references = false;
    res->tokens = x->tokens = 512;
    decide();
    expect_missing("claim2_missing_references", RPT_CLAIM_ROUTER_NEAR_FIXED, "scored on tokens",
                   "duocl eval RUN --routes all-small --tokens 512");
    unit_check("claim2_no_rows_without_references", out.n_router_near == 0, "%d rows", out.n_router_near);

    /* a budget the oracle did not search; a KSB router; no router at all */
    start(4);
    web = oracle_domain("web", loss(5), loss(4));
    budget(web, 2, loss(4.1), loss(4.5), loss(4.6));
    rpt_router_in *k3 = router(3, false);
    references(result(k3, "web", loss(4.6), 1024), 5, 4);
    rpt_router_in *ksb = router(2, false);
    ksb->sb = false;
    references(result(ksb, "web", loss(4.6), 1024), 5, 4);
    decide();
    expect_missing("claim2_missing_budget_or_sb", RPT_CLAIM_ROUTER_NEAR_FIXED, "an SB router evaluated at a budget",
                   "duocl router train RUN --budget K");
}

/* ---- 3a: fixed perplexity falls steadily ---- */

static void claim3a_fixed_falls(void)
{
    start(4);
    rpt_oracle_domain_in *web = oracle_domain("web", ppl(120), ppl(100));
    fixed_curve(web, (const double[]){120, 115, 110, 105, 100}, 5);
    decide();
    expect("claim3a_holds", RPT_CLAIM_FIXED_FALLS, RPT_HOLDS, 1, 1);
    const rpt_fixed_evidence *e = &out.fixed[0];
    expect_num("claim3a_first", e->first, 120);
    expect_num("claim3a_last", e->last, 100);
    unit_check("claim3a_no_rise", e->rise == 0 && e->rise_k == -1, "rise %g at k=%d", e->rise, e->rise_k);

    /* fall 20: a step up of 0.3 (1.5%) is steady enough, one of 1 (5%) is not */
    fixed_curve(web, (const double[]){120, 115, 115.3, 105, 100}, 5);
    decide();
    expect("claim3a_small_rise_holds", RPT_CLAIM_FIXED_FALLS, RPT_HOLDS, 1, 1);
    fixed_curve(web, (const double[]){120, 115, 116, 105, 100}, 5);
    decide();
    expect("claim3a_rise_fails", RPT_CLAIM_FIXED_FALLS, RPT_FAILS, 0, 1);
    expect_num("claim3a_rise", out.fixed[0].rise, 1);
    unit_check("claim3a_rise_at_k2", out.fixed[0].rise_k == 2, "k=%d", out.fixed[0].rise_k);
    fixed_curve(web, (const double[]){100, 99, 98, 99, 101}, 5);
    decide();
    expect("claim3a_rising_overall_fails", RPT_CLAIM_FIXED_FALLS, RPT_FAILS, 0, 1);
    fixed_curve(web, (const double[]){100, 100, 100, 100, 100}, 5);
    decide();
    expect("claim3a_flat_fails", RPT_CLAIM_FIXED_FALLS, RPT_FAILS, 0, 1);

    web->budget[2].present = web->budget[3].present = web->budget[4].present = false;
    decide();
    expect_missing("claim3a_missing_two_budgets", RPT_CLAIM_FIXED_FALLS, "at least three budgets", "duocl oracle RUN");
}

/* ---- 3b: the oracle curve is U-shaped ---- */

static void claim3b_oracle_u(void)
{
    start(4);
    rpt_oracle_domain_in *web = oracle_domain("web", ppl(120), ppl(100));
    oracle_curve(web, (const double[]){120, 105, 99, 101, 100}, 5);
    decide();
    expect("claim3b_holds", RPT_CLAIM_ORACLE_U, RPT_HOLDS, 1, 1);
    const rpt_u_evidence *e = &out.u[0];
    unit_check("claim3b_best_k2", e->best_k == 2, "best at k=%d", e->best_k);
    expect_num("claim3b_best", e->best, 99);
    expect_num("claim3b_at_L", e->at_L, 100);

    oracle_curve(web, (const double[]){120, 105, 102, 101, 100}, 5);
    decide();
    expect("claim3b_best_at_L_fails", RPT_CLAIM_ORACLE_U, RPT_FAILS, 0, 1);
    unit_check("claim3b_best_k4", out.u[0].best_k == 4, "best at k=%d", out.u[0].best_k);
    rpt_oracle_domain_in *code = oracle_domain("code", ppl(120), ppl(100));
    oracle_curve(code, (const double[]){120, 105, 99, 101, 100}, 5);
    decide();
    expect("claim3b_partly", RPT_CLAIM_ORACLE_U, RPT_PARTLY, 1, 2);

    start(4);
    web = oracle_domain("web", ppl(120), ppl(100));
    oracle_curve(web, (const double[]){120, 105, 99, 101}, 4); /* no k = L */
    decide();
    expect_missing("claim3b_missing_k_L", RPT_CLAIM_ORACLE_U, "k=L", "duocl oracle RUN");
}

/* ---- 3c: router perplexity falls with the budget ---- */

static void claim3c_router_falls(void)
{
    start(4);
    config_domain("web");
    result(router(1, false), "web", ppl(110), 1024);
    result(router(1, true), "web", ppl(150), 1024);  /* exact: not counted */
    result(router(2, false), "web", ppl(105), 1024);
    result(router(2, false), "web", ppl(150), 1024); /* a second k=2: the first counts */
    result(router(3, false), "web", ppl(101), 1024);
    decide();
    expect("claim3c_holds", RPT_CLAIM_ROUTER_FALLS, RPT_HOLDS, 1, 1);
    const rpt_router_falls_evidence *e = &out.router_falls[0];
    unit_check("claim3c_points", out.n_router_falls == 1 && e->n == 3 && e->k[0] == 1 && e->k[1] == 2 && e->k[2] == 3,
               "%d domains, %d points", out.n_router_falls, e->n);
    expect_num("claim3c_ppl_k2", e->ppl[1], 105);

    in.router[2].result[0].ppl = 110; /* k=2 no better than k=1 */
    decide();
    expect("claim3c_fails", RPT_CLAIM_ROUTER_FALLS, RPT_FAILS, 0, 1);

    config_domain("code"); /* code: k=1 only, shown but not checked */
    result(&in.router[0], "code", ppl(90), 1024);
    decide();
    expect("claim3c_single_point_not_checked", RPT_CLAIM_ROUTER_FALLS, RPT_FAILS, 0, 1);
    unit_check("claim3c_single_point_shown", out.n_router_falls == 2 && out.router_falls[1].n == 1, "%d domains",
               out.n_router_falls);

    start(4);
    config_domain("web");
    result(router(1, false), "web", ppl(110), 1024);
    result(router(2, true), "web", ppl(100), 1024);
    decide();
    expect_missing("claim3c_missing_second_budget", RPT_CLAIM_ROUTER_FALLS, "two or more budgets",
                   "duocl router train RUN --budget K for two budgets");
    unit_check("claim3c_missing_shows_no_points", out.n_router_falls == 0, "%d domains", out.n_router_falls);
}

/* ---- 4: the oracle with one BIG layer beats all-big ---- */

static void claim4_one_big(void)
{
    start(4);
    rpt_oracle_domain_in *web = oracle_domain("web", ppl(120), ppl(100));
    budget(web, 1, ppl(99), ppl(110), ppl(110));
    decide();
    expect("claim4_holds", RPT_CLAIM_ONE_BIG, RPT_HOLDS, 1, 1);
    expect_num("claim4_oracle_k1", out.one_big[0].oracle_k1, 99);
    expect_num("claim4_all_big", out.one_big[0].all_big, 100);
    budget(web, 1, ppl(100), ppl(110), ppl(110));
    decide();
    expect("claim4_equal_fails", RPT_CLAIM_ONE_BIG, RPT_FAILS, 0, 1);
    rpt_oracle_domain_in *code = oracle_domain("code", ppl(120), ppl(100));
    budget(code, 1, ppl(98), ppl(110), ppl(110));
    decide();
    expect("claim4_partly", RPT_CLAIM_ONE_BIG, RPT_PARTLY, 1, 2);
    web->budget[1].present = code->budget[1].present = false;
    budget(web, 2, ppl(98), ppl(110), ppl(110));
    decide();
    expect_missing("claim4_missing_k1", RPT_CLAIM_ONE_BIG, "budget 1", "duocl oracle RUN");
}

/* ---- 5: a budget falling along the window is worse than a constant one ---- */

static void claim5_varying_budget(void)
{
    start(4);
    /* 2 -> 1, mean 1.5: the constant baseline is halfway between the
     * oracle's losses at k=1 (4.2) and k=2 (4.0): 4.1 */
    rpt_oracle_domain_in *web = oracle_domain("web", loss(5), loss(4));
    budget(web, 1, loss(4.2), loss(4.5), loss(4.6));
    budget(web, 2, loss(4.0), loss(4.4), loss(4.5));
    web->varying = (rpt_varying_in){.present = true, .from = 2, .to = 1, .mean_budget = 1.5, .varying_loss = 4.15,
                                    .has_constant = true, .constant_budget = 2, .constant_loss = 4.0};
    decide();
    expect("claim5_holds", RPT_CLAIM_VARYING_BUDGET, RPT_HOLDS, 1, 1);
    const rpt_varying_evidence *e = &out.varying[0];
    expect_num("claim5_interpolated_constant", e->constant_loss, 4.1);
    unit_check("claim5_between_k1_and_k2", e->from_budgets && e->interpolated && e->lo_k == 1 && e->hi_k == 2 &&
                                               !out.varying_unequal,
               "from budgets %d, interpolated %d, k %d..%d, unequal %d", e->from_budgets, e->interpolated, e->lo_k,
               e->hi_k, out.varying_unequal);

    web->varying.varying_loss = 4.05;
    decide();
    expect("claim5_fails", RPT_CLAIM_VARYING_BUDGET, RPT_FAILS, 0, 1);
    /* mean 1.25: a quarter of the way from k=1 to k=2: 0.75 * 4.2 + 0.25 * 4.0 = 4.15 */
    web->varying.mean_budget = 1.25;
    decide();
    expect_num("claim5_interpolated_quarter", out.varying[0].constant_loss, 4.15);

    /* a whole mean takes the oracle at that budget */
    web->varying.mean_budget = 2;
    web->varying.varying_loss = 4.01;
    decide();
    expect("claim5_whole_mean_holds", RPT_CLAIM_VARYING_BUDGET, RPT_HOLDS, 1, 1);
    expect_num("claim5_constant_at_k2", out.varying[0].constant_loss, 4.0);
    unit_check("claim5_not_interpolated", out.varying[0].from_budgets && !out.varying[0].interpolated, "interpolated");

    /* without budget 1, oracle.json's constant run at k=2 stands in for mean 1.5: a caveat */
    web->varying.mean_budget = 1.5;
    web->varying.varying_loss = 4.05;
    web->budget[1].present = false;
    decide();
    expect("claim5_constant_run_holds", RPT_CLAIM_VARYING_BUDGET, RPT_HOLDS, 1, 1);
    expect_num("claim5_constant_run_loss", out.varying[0].constant_loss, 4.0);
    unit_check("claim5_unequal_caveat", !out.varying[0].from_budgets && out.varying_unequal &&
                                            out.varying[0].constant_budget == 2,
               "from budgets %d, unequal %d", out.varying[0].from_budgets, out.varying_unequal);

    web->varying.has_constant = false;
    decide();
    expect_missing("claim5_missing_baseline", RPT_CLAIM_VARYING_BUDGET, "varying-budget experiment",
                   "duocl oracle RUN");
    web->varying.present = false;
    decide();
    expect_missing("claim5_missing_experiment", RPT_CLAIM_VARYING_BUDGET, "varying-budget experiment",
                   "duocl oracle RUN");
}

/* ---- 6: where the oracle puts BIG ---- */

static void oracle_big(int k, double a, double b, double c, double d)
{
    in.oracle_big_present[k] = true;
    const double f[] = {a, b, c, d};
    memcpy(in.oracle_big[k], f, sizeof f);
}

static void claim6_oracle_placement(void)
{
    /* centres: k=1 (2*0.2 + 3*0.8) / 1 / 3 = 0.9333 (late); k=2 0.5 (even);
     * k=3 (0 + 1 + 2) / 3 / 3 = 0.3333 (early) */
    start(4);
    oracle_big(1, 0, 0, 0.2, 0.8);
    oracle_big(2, 0.5, 0.5, 0.5, 0.5);
    oracle_big(3, 1, 1, 1, 0);
    decide();
    expect("claim6_holds", RPT_CLAIM_ORACLE_PLACEMENT, RPT_HOLDS, 3, 3);
    unit_check("claim6_cases", out.n_oracle_placement == 3 && out.oracle_placement[0].k == 1 &&
                                   out.oracle_placement[0].want == RPT_WANT_LATE && out.oracle_placement[1].k == 2 &&
                                   out.oracle_placement[1].want == RPT_WANT_EVEN && out.oracle_placement[2].k == 3 &&
                                   out.oracle_placement[2].want == RPT_WANT_EARLY,
               "%d cases", out.n_oracle_placement);
    expect_num("claim6_centre_k1", out.oracle_placement[0].centre, 2.8 / 3);
    expect_num("claim6_centre_k2", out.oracle_placement[1].centre, 0.5);
    expect_num("claim6_centre_k3", out.oracle_placement[2].centre, 1.0 / 3);
    expect_num("claim6_fractions_copied", out.oracle_placement[0].big[3], 0.8);

    /* k=1 early (0.0667), k=2 off centre (1 / 2 / 3 = 0.1667), k=3 late (6 / 3 / 3 = 0.6667) */
    oracle_big(1, 0.8, 0.2, 0, 0);
    oracle_big(2, 1, 1, 0, 0);
    oracle_big(3, 0, 1, 1, 1);
    decide();
    expect("claim6_fails", RPT_CLAIM_ORACLE_PLACEMENT, RPT_FAILS, 0, 3);
    /* even means within 0.1 of 0.5: [0.6 0.5 0.5 0.4] centres at (0.5 + 1 + 1.2) / 2 / 3 = 0.45 */
    oracle_big(2, 0.6, 0.5, 0.5, 0.4);
    decide();
    expect("claim6_partly", RPT_CLAIM_ORACLE_PLACEMENT, RPT_PARTLY, 1, 3);
    expect_num("claim6_centre_045", out.oracle_placement[1].centre, 0.45);

    /* k=2 not searched: shown, not checked */
    in.oracle_big_present[2] = false;
    decide();
    unit_check("claim6_unsearched_shown", out.n_oracle_placement == 3 && !out.oracle_placement[1].searched &&
                                              out.claim[RPT_CLAIM_ORACLE_PLACEMENT].checked == 2,
               "%d cases, checked %d", out.n_oracle_placement, out.claim[RPT_CLAIM_ORACLE_PLACEMENT].checked);
    start(4);
    decide();
    expect_missing("claim6_missing", RPT_CLAIM_ORACLE_PLACEMENT, "budgets between 1 and L-1", "duocl oracle RUN");
}

/* ---- 7: where the routers put BIG ---- */

static void placement(rpt_router_in *r, const double *big, double first, double last)
{
    r->has_placement = true;
    for (int l = 0; l < 4; l++) {
        r->big[l] = big[l];
        r->big_first[l] = first;
        r->big_last[l] = last;
    }
}

static void claim7_router_placement(void)
{
    start(4);
    /* centre (2*0.5 + 3*1) / 1.5 / 3 = 0.8889; first eighth 0.6, last 0.4 */
    placement(router(2, false), (const double[]){0, 0, 0.5, 1}, 0.6, 0.4);
    placement(router(2, true), (const double[]){1, 0, 0, 0}, 0, 1); /* exact: not counted */
    decide();
    expect("claim7_holds", RPT_CLAIM_ROUTER_PLACEMENT, RPT_HOLDS, 2, 2);
    const rpt_router_placement_evidence *e = &out.router_placement[0];
    unit_check("claim7_one_router", out.n_router_placement == 1 && e->late_layers && e->early_tokens &&
                                        strcmp(e->label, "router k=2") == 0,
               "%d routers", out.n_router_placement);
    expect_num("claim7_centre", e->centre, 4.0 / 1.5 / 3);
    expect_num("claim7_early", e->early, 0.6);
    expect_num("claim7_late", e->late, 0.4);

    placement(&in.router[0], (const double[]){1, 0.5, 0, 0}, 0.4, 0.6);
    decide();
    expect("claim7_fails", RPT_CLAIM_ROUTER_PLACEMENT, RPT_FAILS, 0, 2);
    placement(&in.router[0], (const double[]){1, 0.5, 0, 0}, 0.6, 0.4);
    decide();
    expect("claim7_partly", RPT_CLAIM_ROUTER_PLACEMENT, RPT_PARTLY, 1, 2);

    in.router[0].has_placement = false;
    decide();
    expect_missing("claim7_missing", RPT_CLAIM_ROUTER_PLACEMENT, "router evaluated", "duocl eval RUN --routes router:");
}

/* ---- 8: the hardest tokens are not the ones that gain ---- */

static void claim8_difficulty(void)
{
    start(4);
    in.difficulty_budget = 2;
    in.n_difficulty_domains = 2;
    in.difficulty[0] = (rpt_difficulty_in){.name = "web", .top10_overlap = 0.37, .chance = 0.1, .spearman = 0.42};
    in.difficulty[1] = (rpt_difficulty_in){.name = "code", .top10_overlap = 0.2, .chance = 0.1, .spearman = 0.3};
    decide();
    expect("claim8_holds", RPT_CLAIM_DIFFICULTY, RPT_HOLDS, 2, 2);
    expect_num("claim8_overlap", out.difficulty[0].overlap, 0.37);
    expect_num("claim8_spearman", out.difficulty[0].spearman, 0.42);
    expect_num("claim8_budget", out.difficulty_budget, 2);
    in.difficulty[1].top10_overlap = 0.5; /* half is not fewer than half */
    decide();
    expect("claim8_partly", RPT_CLAIM_DIFFICULTY, RPT_PARTLY, 1, 2);
    in.difficulty[0].top10_overlap = 0.9;
    decide();
    expect("claim8_fails", RPT_CLAIM_DIFFICULTY, RPT_FAILS, 0, 2);
    in.difficulty[0].top10_overlap = in.difficulty[1].top10_overlap = NAN;
    decide();
    expect_missing("claim8_missing_overlap", RPT_CLAIM_DIFFICULTY, "difficulty.json", "duocl difficulty RUN");
    in.n_difficulty_domains = 0;
    decide();
    expect_missing("claim8_missing_file", RPT_CLAIM_DIFFICULTY, "difficulty.json", "duocl difficulty RUN");
}

/* ---- all claims at once ---- */

static void nothing_decides_nothing(void)
{
    start(4);
    decide();
    static const char *const numbers[] = {"1", "2", "3a", "3b", "3c", "4", "5", "6", "7", "8"};
    for (int i = 0; i < RPT_N_CLAIMS; i++) {
        char name[64];
        snprintf(name, sizeof name, "empty_inputs_claim_%s_missing", numbers[i]);
        unit_check(name, out.claim[i].verdict == RPT_MISSING_INPUT && strcmp(out.claim[i].number, numbers[i]) == 0 &&
                             out.claim[i].missing[0] && strstr(out.claim[i].command, "duocl "),
                   "claim %s: %s, \"%s\"", out.claim[i].number, NAMES[out.claim[i].verdict], out.claim[i].missing);
    }
    unit_check("verdict_names", strcmp(rpt_verdict_name(RPT_HOLDS), "holds") == 0 &&
                                    strcmp(rpt_verdict_name(RPT_MISSING_INPUT), "missing input") == 0,
               "%s / %s", rpt_verdict_name(RPT_HOLDS), rpt_verdict_name(RPT_MISSING_INPUT));
}

/* The table from decided claims: one row per claim, the status the verdict
 * names, the evidence, and the command of a missing input with the run
 * folder in place of RUN. */
static void table_renders_verdicts(void)
{
    start(4);
    rpt_oracle_domain_in *web = oracle_domain("web", ppl(120), ppl(100));
    budget(web, 1, ppl(99), ppl(110), ppl(98)); /* 4 holds, 1 fails: random beats the oracle */
    decide();
    rpt_buf h = {0};
    rpt_claims_html(&out, "runs/a&b", &h);
    const char *t = h.data ? h.data : "";
    int rows = 0;
    for (const char *s = t; (s = strstr(s, "<tr><td>")) != NULL; s++)
        rows++;
    unit_check("table_has_ten_rows", rows == RPT_N_CLAIMS, "%d rows", rows);
    unit_check("table_claim4_reproduced",
               strstr(t, "<tr><td>4</td>") && strstr(strstr(t, "<tr><td>4</td>"), "status s-yes\">reproduced") &&
                   strstr(t, "web: oracle k=1 99.000 vs all-big 100.000 (-1.00%)"),
               "%.300s", strstr(t, "<tr><td>4</td>") ? strstr(t, "<tr><td>4</td>") : t);
    const char *row1 = strstr(t, "<tr><td>1</td>");
    unit_check("table_claim1_not_reproduced", row1 && strstr(row1, "status s-no\">not reproduced") &&
                                                 strstr(row1, "web: below random at 0 of 1 budgets; smallest margin "
                                                              "-1.000 ppl at k=1 (-5% of the all-small"),
               "%.300s", row1 ? row1 : t);
    unit_check("table_missing_command", strstr(t, "Needs difficulty.json. Run <code>duocl difficulty runs/a&amp;b "
                                                  "--budget K</code>."),
               "no missing-input text for claim 8");
    rb_free(&h);
}

int main(void)
{
    printf("test_report_claims\n");
    UNIT_RUN(claim1_oracle_vs_random);
    UNIT_RUN(claim2_router_near_fixed);
    UNIT_RUN(claim3a_fixed_falls);
    UNIT_RUN(claim3b_oracle_u);
    UNIT_RUN(claim3c_router_falls);
    UNIT_RUN(claim4_one_big);
    UNIT_RUN(claim5_varying_budget);
    UNIT_RUN(claim6_oracle_placement);
    UNIT_RUN(claim7_router_placement);
    UNIT_RUN(claim8_difficulty);
    UNIT_RUN(nothing_decides_nothing);
    UNIT_RUN(table_renders_verdicts);
    return unit_summary("test_report_claims");
}
