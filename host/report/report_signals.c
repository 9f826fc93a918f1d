/* The report's cheap-signals table (issue 16): per domain, the Spearman
 * correlation of each label-free signal with the benefit at difficulty.json's
 * budget ("signals" of each domain, `duocl difficulty --signals`). The
 * per-layer families (hidden_norm_l<l>, router_logit_l<l>) show their
 * strongest layer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

enum { MAX_ROWS = 8 };

/* The signal of family `prefix` ("hidden_norm_l") with the largest |rho| in
 * a domain's signals: its rho and layer, or NAN. */
static double strongest(const cJSON *signals, const char *prefix, int *layer)
{
    double best = NAN;
    const cJSON *s;
    cJSON_ArrayForEach(s, signals) {
        size_t n = strlen(prefix);
        if (!cJSON_IsNumber(s) || strncmp(s->string, prefix, n) != 0)
            continue;
        if (isnan(best) || fabs(s->valuedouble) > fabs(best)) {
            best = s->valuedouble;
            *layer = atoi(s->string + n);
        }
    }
    return best;
}

void rpt_section_signals(rpt_run *run, rpt_buf *h)
{
    const cJSON *doc = run->difficulty.json, *domains = rj_get(doc, "domains");
    bool any = false;
    const cJSON *d;
    cJSON_ArrayForEach(d, domains)
        any = any || cJSON_IsObject(rj_get(d, "signals"));
    rb_puts(h, "<section id=\"signals\"><h2>Cheap signals of benefit</h2>\n");
    if (!any) {
        rpt_missing(h, "difficulty.json has no signals.",
                    "duocl difficulty RUN --budget K --signals (after duocl oracle RUN)", run->dir);
        rb_puts(h, "</section>\n");
        return;
    }
    int k = (int)rj_whole(doc, "budget", 0, RPT_MAX_LAYERS, -1);
    rb_printf(h, "<p class=\"lead\">Label-free quantities a router could have at inference, from one "
                 "all-small pass, and their Spearman rank correlation with each token's benefit at "
                 "k=%d (loss_small &minus; loss_oracle(%d)) on the oracle's validation tokens. "
                 "Per-layer signals show their strongest layer. |&rho;| near 0: the signal says "
                 "little about which tokens gain.</p>\n<table><tr><th>signal</th>", k, k);
    cJSON_ArrayForEach(d, domains)
        rb_printf(h, "<th>%s</th>", d->string);
    rb_puts(h, "</tr>\n");
    static const struct { const char *name, *label; bool family; } rows[MAX_ROWS] = {
        {"entropy_small", "entropy of the all-small prediction", false},
        {"maxprob_small", "its max-probability", false},
        {"prev_loss_small", "previous token's all-small loss", false},
        {"position", "position in the window", false},
        {"token_freq", "input token's frequency (log count)", false},
        {"hidden_norm_l", "hidden-state norm entering layer", true},
        {"router_logit_l", "budget-loss router's z_big &minus; z_small at layer", true},
    };
    for (int r = 0; r < MAX_ROWS && rows[r].name; r++) {
        rb_printf(h, "<tr><td>%s</td>", rows[r].label);
        cJSON_ArrayForEach(d, domains) {
            const cJSON *signals = rj_get(d, "signals");
            int layer = -1;
            double rho = NAN;
            if (rows[r].family)
                rho = strongest(signals, rows[r].name, &layer);
            else if (cJSON_IsNumber(rj_get(signals, rows[r].name)))
                rho = rj_num(signals, rows[r].name);
            if (isnan(rho))
                rb_puts(h, "<td class=\"num\">&ndash;</td>");
            else if (layer >= 0)
                rb_printf(h, "<td class=\"num\">%+.3f (l%d)</td>", rho, layer);
            else
                rb_printf(h, "<td class=\"num\">%+.3f</td>", rho);
        }
        rb_puts(h, "</tr>\n");
    }
    rb_puts(h, "</table>\n</section>\n");
}
