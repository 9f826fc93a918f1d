/* The routing-spec parser without a device: every form of the grammar
 * (all-big/-small/-skip, pattern:, random:, router:), the router's budget and
 * alphabet read from its folder name, awkward inputs (case, spaces, signs,
 * hex, nan, trailing characters, empty parts, over-long paths) refused with a
 * message naming the spec and what is allowed, and parsed specs turned into
 * the routing evaluation uses. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "study/evaluate.h"
#include "study/router.h"
#include "study/routing_spec.h"
#include "unitcheck.h"

static duo_routing_spec parsed(const char *name, const char *text, int layers)
{
    duo_routing_spec s;
    unit_ok(name, duo_routing_spec_parse(text, layers, &s));
    return s;
}

static void uniform_specs_put_every_token_on_one_module(void)
{
    duo_routing_spec s = parsed("all_big", "all-big", 4);
    unit_check("all_big_kind", s.kind == DUO_ROUTING_UNIFORM && s.route == DUO_ROUTE_BIG, "kind %d route %d",
               s.kind, s.route);
    s = parsed("all_small", "all-small", 4);
    unit_check("all_small_kind", s.kind == DUO_ROUTING_UNIFORM && s.route == DUO_ROUTE_SMALL, "route %d", s.route);
    s = parsed("all_skip", "all-skip", 0);
    unit_check("all_skip_kind", s.kind == DUO_ROUTING_UNIFORM && s.route == DUO_ROUTE_SKIP, "route %d", s.route);
}

static void pattern_has_one_letter_per_layer(void)
{
    duo_routing_spec s = parsed("pattern", "pattern:SBKB", 4);
    unit_check("pattern_routes", s.kind == DUO_ROUTING_PATTERN && s.layers == 4 &&
                                     s.pattern[0] == DUO_ROUTE_SMALL && s.pattern[1] == DUO_ROUTE_BIG &&
                                     s.pattern[2] == DUO_ROUTE_SKIP && s.pattern[3] == DUO_ROUTE_BIG,
               "kind %d layers %d routes %d %d %d %d", s.kind, s.layers, s.pattern[0], s.pattern[1],
               s.pattern[2], s.pattern[3]);
    s = parsed("pattern_any_length", "pattern:BBBBBBB", 0);
    unit_check("pattern_any_length_without_layers", s.layers == 7, "layers %d", s.layers);

    duo_routing_spec bad;
    unit_fails("pattern_too_short", duo_routing_spec_parse("pattern:SB", 4, &bad), DUO_ERR_INVALID_ARGUMENT,
               "pattern:SB", "one letter per layer (4 here)");
    unit_fails("pattern_too_long", duo_routing_spec_parse("pattern:SBSBS", 4, &bad), DUO_ERR_INVALID_ARGUMENT,
               "(4 here)", "S (small), B (big) or K (skip)");
    unit_fails("pattern_other_letter", duo_routing_spec_parse("pattern:SBXB", 4, &bad), DUO_ERR_INVALID_ARGUMENT,
               "pattern:SBXB", "K (skip)");
    unit_fails("pattern_lower_case", duo_routing_spec_parse("pattern:sbkb", 4, &bad), DUO_ERR_INVALID_ARGUMENT,
               "pattern:sbkb", NULL);
    unit_fails("pattern_empty", duo_routing_spec_parse("pattern:", 0, &bad), DUO_ERR_INVALID_ARGUMENT,
               "1 to 32", NULL);
    char long_pattern[64] = "pattern:";
    memset(long_pattern + 8, 'B', 33);
    unit_fails("pattern_of_33_layers", duo_routing_spec_parse(long_pattern, 0, &bad), DUO_ERR_INVALID_ARGUMENT,
               "1 to 32", NULL);
    unit_fails("pattern_trailing_space", duo_routing_spec_parse("pattern:SBKB ", 4, &bad),
               DUO_ERR_INVALID_ARGUMENT, "one letter per layer", NULL);
}

static void random_takes_p_big_and_p_skip(void)
{
    duo_routing_spec s = parsed("random_big", "random:0.5", 4);
    unit_check("random_p_big_only", s.kind == DUO_ROUTING_RANDOM && s.p_big == 0.5 && s.p_skip == 0 &&
                                        s.p_small == 0.5,
               "big %g small %g skip %g", s.p_big, s.p_small, s.p_skip);
    s = parsed("random_big_skip", "random:0.5,0.25", 4);
    unit_check("random_p_small_is_the_rest", s.p_big == 0.5 && s.p_skip == 0.25 && s.p_small == 0.25,
               "big %g small %g skip %g", s.p_big, s.p_small, s.p_skip);
    s = parsed("random_written_by_study", "random:0.5,0", 4);
    unit_check("random_study_spec", s.p_big == 0.5 && s.p_skip == 0, "big %g skip %g", s.p_big, s.p_skip);
    s = parsed("random_forms", "random:.25,1e-1", 4);
    unit_check("random_point_and_exponent", s.p_big == 0.25 && s.p_skip == 0.1, "big %g skip %g", s.p_big,
               s.p_skip);
    s = parsed("random_edges", "random:0,1", 4);
    unit_check("random_sum_one", s.p_big == 0 && s.p_skip == 1 && s.p_small == 0, "small %g", s.p_small);

    static const char *const refused[] = {
        "random:",       "random:1.5",   "random:0.6,0.6", "random:0.5,",  "random:0.5x",
        "random:-0.1",   "random: 0.5",  "random:+0.5",    "random:nan",   "random:inf",
        "random:0x1p-1", "random:1e999", "random:0.5,0.25,0.1", "random:,0.5", "random:0.5;0.2"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        duo_routing_spec bad;
        char name[64];
        snprintf(name, sizeof name, "refused '%s'", refused[i]);
        unit_fails(name, duo_routing_spec_parse(refused[i], 4, &bad), DUO_ERR_INVALID_ARGUMENT, refused[i],
                   "P_BIG[,P_SKIP], each in [0, 1], summing to at most 1");
    }
}

static void router_reads_path_exact_budget_and_alphabet(void)
{
    duo_routing_spec s = parsed("router", "router:/runs/a/router/k2-SB/router.ckpt", 4);
    unit_check("router_path", s.kind == DUO_ROUTING_ROUTER && !s.exact &&
                                  strcmp(s.router_path, "/runs/a/router/k2-SB/router.ckpt") == 0,
               "kind %d exact %d path '%s'", s.kind, s.exact, s.router_path);
    unit_check("router_budget_from_folder", s.router_budget == 2 && s.router_alphabet == DUO_ALPHABET_SB,
               "budget %d alphabet %s", s.router_budget, duo_alphabet_name(s.router_alphabet));
    s = parsed("router_exact", "router:run/router/k12-KSB/router.ckpt,exact", 4);
    unit_check("router_exact_drops_suffix", s.exact && strcmp(s.router_path, "run/router/k12-KSB/router.ckpt") == 0 &&
                                                s.router_budget == 12 && s.router_alphabet == DUO_ALPHABET_KSB,
               "exact %d path '%s' budget %d", s.exact, s.router_path, s.router_budget);
    s = parsed("router_folder_first", "router:k3-SB/router.ckpt", 4);
    unit_check("router_folder_at_start", s.router_budget == 3, "budget %d", s.router_budget);
    s = parsed("router_last_folder", "router:/a/k1-SB/b/k3-KSB/r.ckpt", 4);
    unit_check("router_last_folder_wins", s.router_budget == 3 && s.router_alphabet == DUO_ALPHABET_KSB,
               "budget %d", s.router_budget);
    s = parsed("router_teacher_folder", "router:/r/router/k4-SB-oracle-s2/router.ckpt,exact", 6);
    unit_check("router_teacher_folder_budget", s.router_budget == 4 && s.exact &&
                                                   s.router_alphabet == DUO_ALPHABET_SB,
               "budget %d exact %d", s.router_budget, s.exact);
    s = parsed("router_seed_folder", "router:/r/router/k1-SB-s12/router.ckpt", 6);
    unit_check("router_seed_folder_budget", s.router_budget == 1, "budget %d", s.router_budget);
    static const char *const no_budget[] = {"router:model.ckpt", "router:/x/k2-SB-old/r.ckpt",
                                            "router:/x/k2-SB-s/r.ckpt", "router:/x/k2-SB-oracle-/r.ckpt",
                                            "router:/x/k2-XY/r.ckpt", "router:/x/ak1-SB/r.ckpt",
                                            "router:/x/k-SB/r.ckpt", "router:/x/k2SB/r.ckpt",
                                            "router:/x/k2-/r.ckpt"};
    for (size_t i = 0; i < sizeof no_budget / sizeof no_budget[0]; i++) {
        s = parsed("router_without_folder", no_budget[i], 4);
        unit_check("router_without_budget_folder", s.kind == DUO_ROUTING_ROUTER && s.router_budget == -1,
                   "'%s': budget %d", no_budget[i], s.router_budget);
    }
    s = parsed("router_exact_once", "router:a,exact,exact", 4);
    unit_check("router_exact_suffix_taken_once", s.exact && strcmp(s.router_path, "a,exact") == 0, "path '%s'",
               s.router_path);

    duo_routing_spec bad;
    unit_fails("router_without_path", duo_routing_spec_parse("router:", 4, &bad), DUO_ERR_INVALID_ARGUMENT,
               "router:PATH or router:PATH,exact", NULL);
    unit_fails("router_exact_without_path", duo_routing_spec_parse("router:,exact", 4, &bad),
               DUO_ERR_INVALID_ARGUMENT, "router:,exact", "router:PATH");
    static char long_spec[1300] = "router:";
    memset(long_spec + 7, 'a', 1250);
    unit_fails("router_path_too_long", duo_routing_spec_parse(long_spec, 4, &bad), DUO_ERR_INVALID_ARGUMENT,
               "longer than 1199 bytes", NULL);
}

static void other_text_lists_what_is_allowed(void)
{
    static const char *const refused[] = {"bogus", "", "All-Big", "all-big ", " all-big", "all", "pattern",
                                          "random", "router", "allbig"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        duo_routing_spec bad;
        char name[64], quoted[64];
        snprintf(name, sizeof name, "refused '%s'", refused[i]);
        snprintf(quoted, sizeof quoted, "'%s'", refused[i]);
        unit_fails(name, duo_routing_spec_parse(refused[i], 4, &bad), DUO_ERR_INVALID_ARGUMENT, quoted,
                   "allowed all-big, all-small, all-skip, pattern:SBK..., random:P_BIG[,P_SKIP], "
                   "router:PATH[,exact]");
    }
    duo_routing_spec bad;
    unit_fails("no_spec", duo_routing_spec_parse(NULL, 4, &bad), DUO_ERR_INVALID_ARGUMENT, "router:PATH", NULL);
}

static void specs_become_the_routing_of_evaluation(void)
{
    duo_eval_routing r;
    duo_router *router = (duo_router *)&r; /* must be reset to NULL */
    duo_routing_spec s = parsed("all_big", "all-big", 4);
    if (unit_ok("routing_all_big", duo_routing_spec_routing(&s, NULL, &r, &router))) {
        bool all = true;
        for (int l = 0; l < DUO_EVAL_MAX_LAYERS; l++)
            all &= r.pattern[l] == DUO_ROUTE_BIG;
        unit_check("routing_all_big_every_layer", all && !r.random && !r.router && router == NULL, "random %d",
                   r.random);
    }
    s = parsed("pattern", "pattern:KBSB", 4);
    if (unit_ok("routing_pattern", duo_routing_spec_routing(&s, NULL, &r, &router)))
        unit_check("routing_pattern_layers", r.pattern[0] == DUO_ROUTE_SKIP && r.pattern[1] == DUO_ROUTE_BIG &&
                                                 r.pattern[2] == DUO_ROUTE_SMALL && r.pattern[3] == DUO_ROUTE_BIG &&
                                                 r.pattern[4] == DUO_ROUTE_SMALL && !r.random,
                   "routes %d %d %d %d %d", r.pattern[0], r.pattern[1], r.pattern[2], r.pattern[3], r.pattern[4]);
    s = parsed("random", "random:0.5,0.25", 4);
    duo_route_thresholds want;
    duo_route_thresholds_make(0.5, 0.25, 0.25, &want);
    if (unit_ok("routing_random", duo_routing_spec_routing(&s, NULL, &r, &router)))
        unit_check("routing_random_thresholds_and_seed",
                   r.random && r.seed == DUO_EVAL_ROUTE_SEED && r.thresholds.big_end == want.big_end &&
                       r.thresholds.small_end == want.small_end,
                   "random %d big_end %u small_end %u, want %u %u", r.random, r.thresholds.big_end,
                   r.thresholds.small_end, want.big_end, want.small_end);
    s = parsed("router", "router:/nowhere/k2-SB/router.ckpt", 4);
    unit_fails("routing_router_needs_a_model", duo_routing_spec_routing(&s, NULL, &r, &router),
               DUO_ERR_INVALID_ARGUMENT, "/nowhere/k2-SB/router.ckpt", NULL);
}

int main(void)
{
    UNIT_RUN(uniform_specs_put_every_token_on_one_module);
    UNIT_RUN(pattern_has_one_letter_per_layer);
    UNIT_RUN(random_takes_p_big_and_p_skip);
    UNIT_RUN(router_reads_path_exact_budget_and_alphabet);
    UNIT_RUN(other_text_lists_what_is_allowed);
    UNIT_RUN(specs_become_the_routing_of_evaluation);
    return unit_summary("test_routing_spec");
}
