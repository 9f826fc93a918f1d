/* Pieces of `duocl report` shared by its files: the run's inputs as read
 * from the run directory, an HTML text buffer, JSON accessors and the
 * gnuplot chart runner. report.c assembles the page from the sections in
 * report_charts.c (training, budget curves, placement heat maps, router
 * training), claims_html.c (the paper's claims, decided in claims.c) and
 * report_tokens.c (token difficulty as coloured text). */
#ifndef DUOCL_HOST_REPORT_H
#define DUOCL_HOST_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "duocl/config.h"
#include "duocl/report.h"
#include "duocl/status.h"

#include "claims.h"


/* ---- text buffer ------------------------------------------------------ */

typedef struct rpt_buf {
    char *data;  /* NUL-terminated; NULL until something is appended */
    size_t len, cap;
    bool failed; /* an allocation failed: the text is incomplete */
} rpt_buf;

void rb_puts(rpt_buf *b, const char *text);
void rb_printf(rpt_buf *b, const char *format, ...) __attribute__((format(printf, 2, 3)));
void rb_html(rpt_buf *b, const char *text); /* text with & < > " ' escaped */
/* command, HTML-escaped, with every "RUN" replaced by dir. */
void rb_command(rpt_buf *b, const char *command, const char *dir);
void rb_free(rpt_buf *b);

/* ---- JSON accessors: NULL / NAN when absent or of another type -------- */

const cJSON *rj_get(const cJSON *object, const char *key);
double rj_num(const cJSON *object, const char *key);
const char *rj_str(const cJSON *object, const char *key);
/* object[k1][k2], a number; NAN when any part is absent. */
double rj_num2(const cJSON *object, const char *k1, const char *k2);
/* A whole number in [lo, hi] (a step, a count, a budget), else `otherwise`:
 * absent, NaN, fractional or huge values are never converted to integers. */
long rj_whole(const cJSON *object, const char *key, long lo, long hi, long otherwise);

/* ---- the run's inputs -------------------------------------------------- */

/* RPT_MAX_ROUTERS, RPT_MAX_LAYERS and RPT_BUCKETS: claims.h */

/* One "router:PATH[,exact]" entry of eval.json. */
typedef struct rpt_router_eval {
    const char *spec;   /* the key in eval.json */
    const cJSON *entry; /* its value */
    int k;              /* the budget it was trained for (from .../k<K>-<A>/...); -1 unknown */
    char alphabet[8];   /* "SB", "KSB", or "" */
    bool exact;         /* ",exact": each token takes BIG in exactly K layers */
    char label[64];     /* "router k=2" or "router k=2 (exact)" */
    int kind;           /* rpt_router_kind: budget-loss, oracle-taught or signal (issue 16) */
    int seed;           /* training seed from the folder name ("-s2"); 1 when absent */
} rpt_router_eval;

/* One router/<name>/log.jsonl. */
typedef struct rpt_router_log {
    char name[64];      /* "k2-SB" */
    int k;
    cJSON *records;     /* array of the log's objects */
} rpt_router_log;

/* A file that could not be used: missing, or present but unreadable. */
typedef struct rpt_input {
    const char *file;   /* "oracle.json" */
    bool present;       /* the file exists */
    cJSON *json;        /* parsed content, NULL if missing or unreadable */
    char problem[256];  /* why json is NULL although the file exists */
} rpt_input;

typedef struct rpt_run {
    const char *dir;    /* as given on the command line, without a trailing '/' */
    duo_config config;
    char *config_text;  /* config.json as written */
    rpt_input eval, oracle, difficulty;
    cJSON *log;         /* array of log.jsonl objects; NULL if log.jsonl is missing */
    char log_problem[256];
    int n_router_evals;
    rpt_router_eval router_eval[RPT_MAX_ROUTERS];
    int n_router_logs;
    rpt_router_log router_log[RPT_MAX_ROUTERS];
    int warnings;       /* problems noticed while rendering */
    void (*warn)(const char *message, void *user); /* told each of them; may be NULL */
    void *user;
} rpt_run;

/* Reads the run folder dir (which must outlive run): its config (which must
 * load), eval.json, oracle.json, difficulty.json, log.jsonl and the routers'
 * logs, each absent or damaged one noted. rpt_run_close frees what was read
 * (also after a failed open). */
duo_status rpt_run_open(const char *dir, const duo_report_options *options, rpt_run *run);
void rpt_run_close(rpt_run *run);

/* A problem noticed while rendering: passed to run->warn, counted in run->warnings. */
void rpt_warn(rpt_run *run, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* The oracle's layer count (oracle.json "layers"), else the config's L. */
int rpt_layers(const rpt_run *run);

/* The oracle.json object of a domain, and its budget-k entry; NULL if absent. */
const cJSON *rpt_oracle_domain(const rpt_run *run, const char *domain);
const cJSON *rpt_oracle_budget(const cJSON *oracle_domain, int k);

/* Token-weighted mean over the domains of `by_domain` (oracle.json's
 * "domains" at budget k >= 0, or an eval.json entry with k < 0) of
 * big_per_layer (bucket < 0) or big_per_layer_bucket[.][bucket]: the
 * fraction of tokens on BIG at each of L layers. false if no domain has it. */
bool rpt_pooled_big(const cJSON *by_domain, int k, int bucket, int L, double *out);

/* The all-small and all-big losses on the tokens an eval.json result
 * scored in a domain (`tokens` of them): eval.json's own all-small and
 * all-big with the same token count, else oracle.json's (od) when it scored
 * as many tokens. false if neither. */
bool rpt_eval_references(const rpt_run *run, const char *domain, double tokens, const cJSON *od,
                         double *small, double *big);

/* The perplexity of an eval.json result (`value`: one domain of an entry) on
 * the oracle's scale for that domain (od): its own when it scored the
 * oracle's number of tokens; else placed by the fraction of the all-small to
 * all-big gap it closes on its own tokens (*mapped = true), when eval.json
 * has those references; else its own. */
double rpt_eval_ppl(const rpt_run *run, const cJSON *od, const cJSON *value, bool *mapped);

/* A "missing input" box: what is missing and the command that makes it
 * (each "RUN" in it standing for the run folder dir). */
void rpt_missing(rpt_buf *html, const char *what, const char *command, const char *dir);

/* ---- charts ------------------------------------------------------------ */

typedef struct rpt_plotter {
    const char *program;  /* $DUOCL_GNUPLOT or "gnuplot" */
    char tmp[256];        /* a private folder for data and scripts */
    bool unavailable;     /* gnuplot could not be started: later charts are notes */
    char why[512];        /* the reason, shown in each chart's place */
    int drawn, failed;
} rpt_plotter;

/* Prepares a plotter (creates its temporary folder). */
void rpt_plotter_init(rpt_plotter *p);
void rpt_plotter_done(rpt_plotter *p); /* removes the temporary folder */

/* Appends <figure class="chart" id="ID"> with the SVG that gnuplot draws
 * from `script` (plot commands and data blocks; the terminal and output are
 * set here: SVG, width x height) and the caption, or, when gnuplot is
 * missing or fails, a note in its place. Element ids inside the SVG are
 * prefixed with ID so several charts can share one page. */
void rpt_chart(rpt_plotter *p, rpt_run *run, rpt_buf *html, const char *id, int width, int height,
               const char *script, const char *caption_html);

/* Style lines shared by every chart (fonts, grid, colours of the series). */
extern const char RPT_GNUPLOT_STYLE[];

/* ---- sections ---------------------------------------------------------- */

void rpt_section_training(rpt_run *run, rpt_plotter *p, rpt_buf *html);
void rpt_section_budget(rpt_run *run, rpt_plotter *p, rpt_buf *html);
void rpt_section_placement(rpt_run *run, rpt_plotter *p, rpt_buf *html);
void rpt_section_router(rpt_run *run, rpt_plotter *p, rpt_buf *html);
void rpt_section_claims(rpt_run *run, rpt_buf *html); /* reads, decides and renders the claims */
/* The claims table (<section id="claims">) from decided claims; commands
 * name the run folder run_dir. */
void rpt_claims_html(const rpt_claims *claims, const char *run_dir, rpt_buf *html);
void rpt_section_difficulty(rpt_run *run, rpt_buf *html);
/* Issue 16's cheap signals: their Spearman with the benefit per domain
 * (difficulty.json's "signals"; report_signals.c). */
void rpt_section_signals(rpt_run *run, rpt_buf *html);
/* Issue 16's table: routers, label-free selectors, the control and the
 * oracle per domain and budget (report_reach.c). */
void rpt_section_reach(rpt_run *run, rpt_buf *html);

/* What an eval.json key says about a router: "router:.../router/k<K>-<A>
 * [-oracle][-s<S>]/router.ckpt[,exact]" or "signal:.../router/k<K>-<A>-signal/
 * signal.json". false for any other key. */
typedef enum rpt_router_kind {
    RPT_ROUTER_BUDGET_LOSS,
    RPT_ROUTER_ORACLE_TAUGHT,
    RPT_ROUTER_SIGNAL
} rpt_router_kind;
bool rpt_router_spec_info(const char *spec, rpt_router_kind *kind, int *k, int *seed, bool *exact);

/* The whole page, every section in order, into html. */
void rpt_render(rpt_run *run, rpt_plotter *plotter, rpt_buf *html);

#endif
