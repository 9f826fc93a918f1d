/* The report's "How much of the oracle can a router reach?" table (issue 16,
 * host/report/report_reach.c): router keys of eval.json read by their folder
 * names, and on a hand-made run folder (config, oracle.json with the
 * selectors at k = 1 and without them at k = 2, as an older file has it;
 * eval.json with a budget-loss, an oracle-taught and a signal router at
 * k = 1) every cell: perplexity, the share of the fixed -> oracle gap in
 * loss, the budget a router used, and "-" for what is absent. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "duocl/report.h"
#include "report/report.h"
#include "testutil.h"

static void spec_info(test_context *t)
{
    static const struct {
        const char *spec;
        bool ok;
        rpt_router_kind kind;
        int k, seed;
        bool exact;
    } cases[] = {
        {"router:runs/x/router/k2-SB/router.ckpt", true, RPT_ROUTER_BUDGET_LOSS, 2, 1, false},
        {"router:runs/x/router/k2-SB/router.ckpt,exact", true, RPT_ROUTER_BUDGET_LOSS, 2, 1, true},
        {"router:runs/x/router/k3-SB-s2/router.ckpt", true, RPT_ROUTER_BUDGET_LOSS, 3, 2, false},
        {"router:runs/x/router/k1-SB-oracle/router.ckpt", true, RPT_ROUTER_ORACLE_TAUGHT, 1, 1, false},
        {"router:runs/x/router/k1-SB-oracle-s2/router.ckpt,exact", true, RPT_ROUTER_ORACLE_TAUGHT, 1, 2, true},
        {"signal:runs/x/router/k2-SB-signal/signal.json", true, RPT_ROUTER_SIGNAL, 2, 1, false},
        {"router:runs/oracle-s2/router/k4-KSB/router.ckpt", true, RPT_ROUTER_BUDGET_LOSS, 4, 1, false},
        {"pattern:SBSB", false, 0, 0, 0, false},
        {"router:runs/x/k2-SB/router.ckpt", false, 0, 0, 0, false},
        {"router:runs/x/router/kx-SB/router.ckpt", false, 0, 0, 0, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rpt_router_kind kind = 99;
        int k = -1, seed = -1;
        bool exact = false;
        bool ok = rpt_router_spec_info(cases[i].spec, &kind, &k, &seed, &exact);
        bool right = ok == cases[i].ok &&
                     (!ok || (kind == cases[i].kind && k == cases[i].k && seed == cases[i].seed &&
                              exact == cases[i].exact));
        char detail[256];
        snprintf(detail, sizeof detail, "%s -> %s kind %d k %d seed %d exact %d", cases[i].spec,
                 ok ? "router" : "not a router", (int)kind, k, seed, (int)exact);
        test_true(t, "router_spec_info", right, detail);
    }
}

static bool write_text(const char *dir, const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fputs(text, f);
    return fclose(f) == 0;
}

/* A metric object from a loss. */
static void metric(char *out, size_t cap, double loss)
{
    snprintf(out, cap, "{\"loss\": %.6f, \"ppl\": %.6f, \"bpb\": 1}", loss, exp(loss));
}

static void expect(test_context *t, const char *html, const char *name, const char *needle)
{
    test_true(t, name, strstr(html, needle) != NULL, needle);
}

static void table(test_context *t)
{
    char dir[512];
    if (!test_true(t, "temp_dir", test_temp_dir(dir, sizeof dir, "report-reach"), NULL))
        return;
    duo_config config;
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", dir);
    test_ok(t, "config", test_tiny_config("shards", 4, 4, 4, &config));
    test_ok(t, "config.json", duo_config_save(&config, path));
    char m[12][96];
    const double loss[] = {2.0, 1.5, 1.8, 1.8, 1.9, 1.74, 1.77, 1.83, 1.4, 1.6, 1.7, 1.75};
    for (int i = 0; i < 12; i++)
        metric(m[i], sizeof m[i], loss[i]);
    char oracle[4096];
    /* k = 1: oracle 1.5, fixed 1.8 (gap 0.3), min_entropy 1.74 (20%), max_prob
     * 1.77 (10%), control 1.4 (133%); k = 2 (no selectors): oracle 1.6, fixed 1.7. */
    snprintf(oracle, sizeof oracle,
             "{\"alphabet\": \"SB\", \"random_n\": 100, \"layers\": 4, \"ctx\": 32, \"domains\": "
             "{\"web\": {\"tokens\": 512, \"bytes\": 600, \"all_small\": %s, \"all_big\": %s, "
             "\"budgets\": [{\"k\": 1, \"patterns\": 4, \"oracle\": %s, \"fixed\": %s, \"random\": %s, "
             "\"mean_all\": %s, \"min_entropy\": %s, \"max_prob\": %s, \"selection_control\": %s}, "
             "{\"k\": 2, \"patterns\": 6, \"oracle\": %s, \"fixed\": %s, \"random\": %s, "
             "\"mean_all\": %s}]}}}",
             m[0], m[8], m[1], m[2], m[3], m[4], m[5], m[6], m[8], m[9], m[10], m[10], m[11]);
    char eval[2048];
    /* k = 1, routing exactly k BIG layers (",exact"): budget-loss 1.83 (-10%),
     * oracle-taught 1.65 (50%); their argmax entries (other budgets) are not
     * the table's; signal 1.8 (0%) at 1.05 by its thresholds. */
    snprintf(eval, sizeof eval,
             "{\"router:RUN/router/k1-SB/router.ckpt\": {\"web\": {\"loss\": 1.95, \"ppl\": %.6f, "
             "\"tokens\": 512, \"budget\": 1.4}}, "
             "\"router:RUN/router/k1-SB/router.ckpt,exact\": {\"web\": {\"loss\": 1.83, \"ppl\": %.6f, "
             "\"tokens\": 512, \"budget\": 1.0}}, "
             "\"router:RUN/router/k1-SB-oracle/router.ckpt\": {\"web\": {\"loss\": 1.55, \"ppl\": %.6f, "
             "\"tokens\": 512, \"budget\": 0.7}}, "
             "\"router:RUN/router/k1-SB-oracle/router.ckpt,exact\": {\"web\": {\"loss\": 1.65, \"ppl\": %.6f, "
             "\"tokens\": 512, \"budget\": 1.0}}, "
             "\"signal:RUN/router/k1-SB-signal/signal.json\": {\"web\": {\"loss\": 1.8, \"ppl\": %.6f, "
             "\"tokens\": 512, \"budget\": 1.05}}}",
             exp(1.95), exp(1.83), exp(1.55), exp(1.65), exp(1.8));
    test_true(t, "inputs", write_text(dir, "oracle.json", oracle) && write_text(dir, "eval.json", eval),
              dir);
    setenv("DUOCL_GNUPLOT", "/nonexistent/gnuplot", 1);
    duo_report_summary summary;
    uint8_t *html = NULL;
    size_t size = 0;
    if (test_ok(t, "report", duo_report_write(dir, NULL, &summary)) &&
        test_ok(t, "read report", duo_read_whole_file(summary.path, "report", &html, &size))) {
        char *s = strstr((char *)html, "<section id=\"reach\">");
        char *end = s ? strstr(s, "</section>") : NULL;
        if (test_true(t, "reach_section_present", s && end, NULL)) {
            *end = '\0';
            char cell[160];
            snprintf(cell, sizeof cell, "<tr><td>fixed (best pattern)</td><td class=\"num\">%.3f "
                     "<span class=\"small\">(0%%)</span></td><td class=\"num\">%.3f", exp(1.8), exp(1.7));
            expect(t, s, "fixed_row", cell);
            snprintf(cell, sizeof cell, "<td>budget-loss router, seed 1</td><td class=\"num\">%.3f "
                     "<span class=\"small\">(-10%%)</span> <span class=\"small\">@1.00</span></td>"
                     "<td>&ndash;</td>", exp(1.83));
            expect(t, s, "budget_loss_router_row", cell);
            expect(t, s, "budget_loss_seed_2_absent",
                   "<td>budget-loss router, seed 2</td><td>&ndash;</td><td>&ndash;</td>");
            snprintf(cell, sizeof cell, "<td>oracle-taught router, seed 1</td><td class=\"num\">%.3f "
                     "<span class=\"small\">(50%%)</span> <span class=\"small\">@1.00</span>", exp(1.65));
            expect(t, s, "oracle_taught_row", cell);
            snprintf(cell, sizeof cell, "<td>signal router</td><td class=\"num\">%.3f "
                     "<span class=\"small\">(0%%)</span> <span class=\"small\">@1.05</span>", exp(1.8));
            expect(t, s, "signal_row", cell);
            snprintf(cell, sizeof cell, "<td>confidence oracle: lowest entropy</td><td class=\"num\">%.3f "
                     "<span class=\"small\">(20%%)</span></td><td>&ndash;</td>", exp(1.74));
            expect(t, s, "min_entropy_row_and_absent_in_older_budget", cell);
            snprintf(cell, sizeof cell, "<td>confidence oracle: highest max-prob</td><td class=\"num\">%.3f "
                     "<span class=\"small\">(10%%)</span>", exp(1.77));
            expect(t, s, "max_prob_row", cell);
            snprintf(cell, sizeof cell, "<td>selection-only control</td><td class=\"num\">%.3f "
                     "<span class=\"small\">(133%%)</span>", exp(1.4));
            expect(t, s, "control_row", cell);
            snprintf(cell, sizeof cell, "<td>oracle (per token, with the label)</td><td class=\"num\">%.3f "
                     "<span class=\"small\">(100%%)</span></td><td class=\"num\">%.3f "
                     "<span class=\"small\">(100%%)</span>", exp(1.5), exp(1.6));
            expect(t, s, "oracle_row", cell);
        }
    }
    free(html);
    test_remove_dir(dir);
}

static void run(test_context *t)
{
    spec_info(t);
    table(t);
}

int main(int argc, char **argv) { return test_main(argc, argv, "test_report_reach", run); }
