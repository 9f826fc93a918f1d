/* The paper's claims (PAPER.md, "Results to reproduce") decided from a run's
 * numbers, apart from any page. Three steps, each in its own file:
 *   claims_read.c  rpt_claims_inputs_from_run: the numbers the claims need,
 *                  read once from eval.json, oracle.json and difficulty.json;
 *   claims.c       rpt_claims_decide: a verdict per claim and the numbers it
 *                  was decided on (no JSON, no HTML: tested on hand-made
 *                  inputs by tests/test_report_claims.c);
 *   claims_html.c  rpt_claims_html: the claims table of the report.
 * Every number of the inputs is NAN when its file does not hold it. */
#ifndef DUOCL_REPORT_CLAIMS_H
#define DUOCL_REPORT_CLAIMS_H

#include <stdbool.h>

/* RPT_MAX_LAYERS is the config's largest n_layers (base/config.c). */
enum { RPT_MAX_ROUTERS = 32, RPT_MAX_LAYERS = 64, RPT_MAX_DOMAINS = 16, RPT_BUCKETS = 8, RPT_NAME_MAX = 64 };

/* ---- inputs ------------------------------------------------------------ */

typedef struct rpt_score {
    double ppl, loss; /* perplexity per token, and mean loss in nats */
} rpt_score;

/* oracle.json: one budget k (BIG layers per token) of a domain. */
typedef struct rpt_budget_in {
    bool present;                   /* the oracle searched budget k */
    rpt_score oracle, fixed, random; /* per-token best route, best single pattern, best of random_n */
} rpt_budget_in;

/* oracle.json: a domain's varying-budget experiment (the budget falls from
 * `from` BIG layers at the window's start to `to` at its end). */
typedef struct rpt_varying_in {
    bool present;
    double from, to, mean_budget;
    double varying_loss;            /* the oracle under the falling budget */
    bool has_constant;              /* oracle_constant: the oracle at constant_budget */
    double constant_budget, constant_loss;
} rpt_varying_in;

typedef struct rpt_oracle_domain_in {
    char name[RPT_NAME_MAX];
    rpt_score all_small, all_big;
    rpt_budget_in budget[RPT_MAX_LAYERS + 1]; /* by k, 0..L */
    rpt_varying_in varying;
} rpt_oracle_domain_in;

/* eval.json: a router's result in one domain. */
typedef struct rpt_router_result {
    char domain[RPT_NAME_MAX];
    double ppl, loss, tokens, budget_used; /* budget_used: mean BIG layers per token */
    /* The all-small and all-big losses on the same tokens: eval.json's own,
     * else oracle.json's when it scored as many tokens; false if neither. */
    bool has_references;
    double small_loss, big_loss;
} rpt_router_result;

/* eval.json: one "router:PATH[,exact]" entry. */
typedef struct rpt_router_in {
    char label[RPT_NAME_MAX]; /* "router k=2 (exact)" */
    int k;                    /* the budget it was trained for; -1 unknown */
    bool sb;                  /* trained on the SB alphabet (small or big) */
    bool exact;               /* BIG in exactly k layers per token, not argmax */
    int n_results;
    rpt_router_result result[RPT_MAX_DOMAINS];
    /* Fraction of tokens on BIG per layer, domains pooled by tokens: over the
     * whole window, its first eighth of positions and its last eighth. */
    bool has_placement;
    double big[RPT_MAX_LAYERS], big_first[RPT_MAX_LAYERS], big_last[RPT_MAX_LAYERS];
} rpt_router_in;

/* difficulty.json: one domain. */
typedef struct rpt_difficulty_in {
    char name[RPT_NAME_MAX];
    double top10_overlap; /* fraction of the hardest 10% (all-small loss) in the top 10% by benefit */
    double chance;        /* that fraction by chance */
    double spearman;      /* rank correlation of all-small loss with benefit */
} rpt_difficulty_in;

typedef struct rpt_claims_inputs {
    int L;                    /* layers: oracle.json's, else the config's */
    /* oracle.json (no domains when it is missing) */
    double random_n;          /* random patterns per budget */
    int n_oracle_domains;
    rpt_oracle_domain_in oracle[RPT_MAX_DOMAINS]; /* in the file's order */
    /* BIG fraction per layer of the oracle's routes at budget k, domains pooled by tokens */
    bool oracle_big_present[RPT_MAX_LAYERS + 1];
    double oracle_big[RPT_MAX_LAYERS + 1][RPT_MAX_LAYERS];
    /* config.json's domains, in order */
    int n_domains;
    char domain[RPT_MAX_DOMAINS][RPT_NAME_MAX];
    /* eval.json's routers, by trained budget, argmax before exact, then by spec */
    int n_routers;
    rpt_router_in router[RPT_MAX_ROUTERS];
    /* difficulty.json (no domains when it is missing) */
    double difficulty_budget;
    int n_difficulty_domains;
    rpt_difficulty_in difficulty[RPT_MAX_DOMAINS];
} rpt_claims_inputs;

/* Fills *in (about 200 KB: allocate it) from the run's parsed files. */
struct rpt_run;
void rpt_claims_inputs_from_run(const struct rpt_run *run, rpt_claims_inputs *in);

/* ---- verdicts ---------------------------------------------------------- */

typedef enum rpt_verdict {
    RPT_MISSING_INPUT, /* nothing to decide on: rpt_claim says what is missing */
    RPT_FAILS,         /* failed in every case checked */
    RPT_PARTLY,        /* held in some cases (domains, budgets, routers), not all */
    RPT_HOLDS,         /* held in every case checked */
} rpt_verdict;

typedef enum rpt_claim_id {
    RPT_CLAIM_ORACLE_VS_RANDOM,   /* 1: the oracle beats best-of-N random at every budget */
    RPT_CLAIM_ROUTER_NEAR_FIXED,  /* 2: the router lands near fixed, far from the oracle */
    RPT_CLAIM_FIXED_FALLS,        /* 3a: fixed perplexity falls steadily with the budget */
    RPT_CLAIM_ORACLE_U,           /* 3b: the oracle curve is U-shaped */
    RPT_CLAIM_ROUTER_FALLS,       /* 3c: router perplexity falls with the budget */
    RPT_CLAIM_ONE_BIG,            /* 4: the oracle with one BIG layer beats all-big */
    RPT_CLAIM_VARYING_BUDGET,     /* 5: a budget falling along the window is worse than a constant one */
    RPT_CLAIM_ORACLE_PLACEMENT,   /* 6: the oracle puts BIG late at a low budget, evenly at L/2, early at a high one */
    RPT_CLAIM_ROUTER_PLACEMENT,   /* 7: routers put BIG late, and on early tokens more than late ones */
    RPT_CLAIM_DIFFICULTY,         /* 8: the hardest tokens are not the ones that gain */
    RPT_N_CLAIMS
} rpt_claim_id;

typedef struct rpt_claim {
    const char *number;  /* the paper's numbering: "1", "3a" */
    rpt_verdict verdict;
    int held, checked;   /* cases that held, of those checked */
    char missing[256];   /* RPT_MISSING_INPUT: what is missing (plain text) */
    char command[256];   /* and the command that makes it, "RUN" standing for the run folder */
} rpt_claim;

/* The numbers behind each claim. Domain names are copied from the inputs. */

typedef struct rpt_random_evidence { /* 1 */
    char domain[RPT_NAME_MAX];
    int below, budgets;    /* budgets 1..L-1 where the oracle is below random, of those searched */
    double worst_margin;   /* smallest random - oracle perplexity */
    int worst_k;           /* at this budget */
    double gap;            /* all-small - all-big perplexity */
} rpt_random_evidence;

typedef struct rpt_router_gap { /* 2: fractions of the all-small to all-big loss gap closed */
    char domain[RPT_NAME_MAX];
    double router, fixed, oracle; /* fixed and oracle at the router's trained budget */
    bool near_fixed;              /* |router - fixed| < |router - oracle| */
} rpt_router_gap;

typedef struct rpt_router_near_evidence {
    char label[RPT_NAME_MAX];
    double budget_used;  /* in its first domain compared */
    int n;
    rpt_router_gap domain[RPT_MAX_DOMAINS];
} rpt_router_near_evidence;

typedef struct rpt_fixed_evidence { /* 3a */
    char domain[RPT_NAME_MAX];
    double first, last;  /* fixed perplexity at the lowest and highest budget searched */
    double rise;         /* the largest step up between neighbouring budgets searched (0: none) */
    int rise_k;          /* where (-1: none) */
    bool held;
} rpt_fixed_evidence;

typedef struct rpt_u_evidence { /* 3b */
    char domain[RPT_NAME_MAX];
    int best_k;
    double best, at_L;   /* oracle perplexity, lowest and at k = L */
    bool held;
} rpt_u_evidence;

typedef struct rpt_router_falls_evidence { /* 3c: one config domain */
    char domain[RPT_NAME_MAX];
    int n;               /* argmax SB routers at distinct budgets */
    int k[RPT_MAX_ROUTERS];
    double ppl[RPT_MAX_ROUTERS];
    bool held;           /* ppl falls at every step (decided when n >= 2) */
} rpt_router_falls_evidence;

typedef struct rpt_one_big_evidence { /* 4 */
    char domain[RPT_NAME_MAX];
    double oracle_k1, all_big; /* perplexities */
    bool held;
} rpt_one_big_evidence;

typedef struct rpt_varying_evidence { /* 5 */
    char domain[RPT_NAME_MAX];
    double from, to, mean_budget;
    double varying_loss, constant_loss;
    /* Where the constant baseline comes from: the oracle's loss
     * interpolated between budgets lo_k and hi_k around the mean
     * (interpolated), the oracle at k = mean (lo_k = hi_k), or oracle.json's
     * own constant-budget run at constant_budget (neither). */
    bool from_budgets, interpolated;
    int lo_k, hi_k;
    double constant_budget;
    bool held;
} rpt_varying_evidence;

typedef enum rpt_placement_want { RPT_WANT_LATE, RPT_WANT_EVEN, RPT_WANT_EARLY } rpt_placement_want;

typedef struct rpt_oracle_placement_evidence { /* 6 */
    int k;
    rpt_placement_want want;
    bool searched;        /* false: the oracle did not search budget k */
    double centre;        /* of the BIG layers: 0 all at the first layer, 1 all at the last */
    double big[RPT_MAX_LAYERS];
    bool held;
} rpt_oracle_placement_evidence;

typedef struct rpt_router_placement_evidence { /* 7 */
    char label[RPT_NAME_MAX];
    double centre;
    double early, late;   /* BIG share in the window's first and last eighth */
    bool late_layers, early_tokens; /* centre > 0.5; early > late */
} rpt_router_placement_evidence;

typedef struct rpt_difficulty_evidence { /* 8 */
    char domain[RPT_NAME_MAX];
    double overlap, chance, spearman;
    bool held;            /* overlap < 0.5 */
} rpt_difficulty_evidence;

typedef struct rpt_claims {
    rpt_claim claim[RPT_N_CLAIMS]; /* by rpt_claim_id */
    int L;
    double random_n, difficulty_budget;
    int n_random;
    rpt_random_evidence random[RPT_MAX_DOMAINS];
    int n_router_near;
    rpt_router_near_evidence router_near[RPT_MAX_ROUTERS];
    int n_fixed;
    rpt_fixed_evidence fixed[RPT_MAX_DOMAINS];
    int n_u;
    rpt_u_evidence u[RPT_MAX_DOMAINS];
    int n_router_falls;
    rpt_router_falls_evidence router_falls[RPT_MAX_DOMAINS];
    int n_one_big;
    rpt_one_big_evidence one_big[RPT_MAX_DOMAINS];
    int n_varying;
    rpt_varying_evidence varying[RPT_MAX_DOMAINS];
    bool varying_unequal;  /* some constant baseline's budget differs from the varying mean */
    int n_oracle_placement;
    rpt_oracle_placement_evidence oracle_placement[3];
    int n_router_placement;
    rpt_router_placement_evidence router_placement[RPT_MAX_ROUTERS];
    int n_difficulty;
    rpt_difficulty_evidence difficulty[RPT_MAX_DOMAINS];
} rpt_claims;

/* Decides every claim from the inputs alone. */
void rpt_claims_decide(const rpt_claims_inputs *in, rpt_claims *out);

/* The fraction of the all-small to all-big loss gap that `loss` closes:
 * 0 at all-small, 1 at all-big, over 1 below all-big. */
double rpt_gap_closed(double loss, double small, double big);

/* "holds", "fails", "partly", "missing input". */
const char *rpt_verdict_name(rpt_verdict verdict);

#endif
