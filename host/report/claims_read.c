/* The numbers the paper's claims need (claims.h), read once from the run's
 * parsed eval.json, oracle.json and difficulty.json. Whatever a file does
 * not hold stays NAN, absent or empty; deciding what that means is
 * claims.c's business. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "claims.h"
#include "report.h"

static void copy_name(char dst[RPT_NAME_MAX], const char *src) { snprintf(dst, RPT_NAME_MAX, "%s", src ? src : ""); }

static rpt_score score(const cJSON *object, const char *key)
{
    return (rpt_score){.ppl = rj_num2(object, key, "ppl"), .loss = rj_num2(object, key, "loss")};
}

static void read_oracle_domain(const cJSON *od, int L, rpt_oracle_domain_in *d)
{
    copy_name(d->name, od->string);
    d->all_small = score(od, "all_small");
    d->all_big = score(od, "all_big");
    for (int k = 0; k <= L; k++) {
        const cJSON *b = rpt_oracle_budget(od, k);
        d->budget[k] = (rpt_budget_in){.present = b != NULL, .oracle = score(b, "oracle"),
                                       .fixed = score(b, "fixed"), .random = score(b, "random")};
    }
    const cJSON *v = rj_get(od, "varying_budget");
    d->varying = (rpt_varying_in){
        .present = v != NULL, .from = rj_num(v, "from"), .to = rj_num(v, "to"),
        .mean_budget = rj_num(v, "mean_budget"), .varying_loss = rj_num2(v, "oracle_varying", "loss"),
        .has_constant = rj_get(v, "oracle_constant") != NULL, .constant_budget = rj_num(v, "constant_budget"),
        .constant_loss = rj_num2(v, "oracle_constant", "loss")};
}

static void read_router(const rpt_run *run, const rpt_router_eval *re, int L, rpt_router_in *r)
{
    copy_name(r->label, re->label);
    r->k = re->k;
    r->sb = strcmp(re->alphabet, "SB") == 0;
    r->exact = re->exact;
    const cJSON *value;
    cJSON_ArrayForEach(value, re->entry) {
        if (!cJSON_IsObject(value) || r->n_results == RPT_MAX_DOMAINS)
            continue;
        rpt_router_result *res = &r->result[r->n_results++];
        copy_name(res->domain, value->string);
        res->ppl = rj_num(value, "ppl");
        res->loss = rj_num(value, "loss");
        res->tokens = rj_num(value, "tokens");
        res->budget_used = rj_num(value, "budget");
        res->has_references = rpt_eval_references(run, value->string, res->tokens,
                                                  rpt_oracle_domain(run, value->string), &res->small_loss,
                                                  &res->big_loss);
    }
    r->has_placement = rpt_pooled_big(re->entry, -1, -1, L, r->big) &&
                       rpt_pooled_big(re->entry, -1, 0, L, r->big_first) &&
                       rpt_pooled_big(re->entry, -1, RPT_BUCKETS - 1, L, r->big_last);
}

void rpt_claims_inputs_from_run(const rpt_run *run, rpt_claims_inputs *in)
{
    memset(in, 0, sizeof *in);
    int L = rpt_layers(run);
    in->L = L < RPT_MAX_LAYERS ? L : RPT_MAX_LAYERS;

    const cJSON *domains = rj_get(run->oracle.json, "domains"), *od;
    in->random_n = rj_num(run->oracle.json, "random_n");
    cJSON_ArrayForEach(od, domains)
        if (in->n_oracle_domains < RPT_MAX_DOMAINS)
            read_oracle_domain(od, in->L, &in->oracle[in->n_oracle_domains++]);
    for (int k = 0; k <= in->L; k++)
        in->oracle_big_present[k] = rpt_pooled_big(domains, k, -1, in->L, in->oracle_big[k]);

    in->n_domains = run->config.train.n_domains < RPT_MAX_DOMAINS ? run->config.train.n_domains : RPT_MAX_DOMAINS;
    for (int d = 0; d < in->n_domains; d++)
        copy_name(in->domain[d], run->config.train.domains[d].name);
    /* The paper's claims are about routers trained with the budget loss:
     * issue 16's oracle-taught and signal routers are left out. */
    for (int r = 0; r < run->n_router_evals; r++)
        if (run->router_eval[r].kind == RPT_ROUTER_BUDGET_LOSS)
            read_router(run, &run->router_eval[r], in->L, &in->router[in->n_routers++]);

    in->difficulty_budget = rj_num(run->difficulty.json, "budget");
    const cJSON *dd;
    cJSON_ArrayForEach(dd, rj_get(run->difficulty.json, "domains"))
        if (in->n_difficulty_domains < RPT_MAX_DOMAINS) {
            rpt_difficulty_in *d = &in->difficulty[in->n_difficulty_domains++];
            copy_name(d->name, dd->string);
            d->top10_overlap = rj_num2(dd, "top10_overlap", "fraction");
            d->chance = rj_num2(dd, "top10_overlap", "chance");
            d->spearman = rj_num2(dd, "spearman", "loss_small_benefit");
        }
}
