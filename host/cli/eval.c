/* duocl eval: loss, perplexity and bits per byte of a trained model under one
 * routing, with the budget that routing actually used. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/clock.h"
#include "commands.h"
#include "base/fileio.h"
#include "base/json_file.h"
#include "base/measures.h"
#include "study/router.h"
#include "study/run_folder.h"

static const char HELP[] =
    "RUN is a run directory written by 'duocl train'. SPEC is one of:\n"
    "  all-big, all-small, all-skip   every token on one module at every layer\n"
    "  pattern:SBSKBS                 one letter per layer for every token\n"
    "                                 (S small, B big, K skip)\n"
    "  random:P_BIG[,P_SKIP]          per-token random routes (P_SMALL = the rest)\n"
    "  router:PATH                    a router from 'duocl router train': each token\n"
    "                                 takes the module of its largest logit (argmax)\n"
    "  router:PATH,exact              each token takes BIG in exactly the router's K\n"
    "                                 layers where a soft pass (beta 20) gives it the\n"
    "                                 highest P_big, so the budget holds per token\n"
    "Reports per domain: loss (nats/token), perplexity, bits per byte, the budget\n"
    "actually used (mean BIG layers per token) and the FFN FLOP fraction of all-big,\n"
    "with the evaluation time. Tokens routed to small or skip never touch the big\n"
    "weights, so the time follows the budget. Results are added to RUN/eval.json\n"
    "under the SPEC.";

enum { ROUTES, TOKENS, DOMAINS, BATCH, CHECKPOINT, DEVICE, N_OPTIONS };

/* router:PATH[,exact]: loads the router for the run's model. */
static duo_status parse_router(const char *spec, duo_model *m, duo_eval_routing *out,
                               duo_router **router)
{
    char path[1200];
    snprintf(path, sizeof path, "%s", spec + 7);
    size_t n = strlen(path);
    bool exact = n > 6 && strcmp(path + n - 6, ",exact") == 0;
    if (exact)
        path[n - 6] = '\0';
    int budget;
    DUO_TRY(duo_router_load(m, path, router, &budget, NULL));
    *out = duo_eval_routing_uniform(DUO_ROUTE_SMALL);
    out->router = *router;
    out->exact = exact;
    out->exact_budget = budget;
    out->exact_beta = 20.0f;
    return DUO_OK;
}

static duo_status parse_routes(const char *spec, int L, duo_eval_routing *out)
{
    if (strcmp(spec, "all-big") == 0 || strcmp(spec, "all-small") == 0 ||
        strcmp(spec, "all-skip") == 0) {
        *out = duo_eval_routing_uniform(spec[4] == 'b' ? DUO_ROUTE_BIG
                                        : spec[5] == 'm' ? DUO_ROUTE_SMALL
                                                         : DUO_ROUTE_SKIP);
        return DUO_OK;
    }
    if (strncmp(spec, "pattern:", 8) == 0) {
        const char *p = spec + 8;
        if ((int)strlen(p) != L || strspn(p, "SBK") != strlen(p))
            return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                            "--routes %s: a pattern has one letter per layer (%d here), each S "
                            "(small), B (big) or K (skip)", spec, L);
        *out = duo_eval_routing_uniform(DUO_ROUTE_SMALL);
        for (int l = 0; l < L; l++)
            out->pattern[l] = p[l] == 'B' ? DUO_ROUTE_BIG : p[l] == 'S' ? DUO_ROUTE_SMALL : DUO_ROUTE_SKIP;
        return DUO_OK;
    }
    if (strncmp(spec, "random:", 7) == 0) {
        double p_big = 0, p_skip = 0;
        char extra;
        int n = sscanf(spec + 7, "%lf,%lf%c", &p_big, &p_skip, &extra);
        if (n < 1 || n > 2 || p_big < 0 || p_skip < 0 || p_big + p_skip > 1)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                            "--routes %s: random takes P_BIG[,P_SKIP], each in [0, 1], summing "
                            "to at most 1", spec);
        return duo_eval_routing_random(p_big, 1 - p_big - p_skip, p_skip, DUO_EVAL_ROUTE_SEED, out);
    }
    return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                    "--routes '%s' is not a routing: allowed all-big, all-small, all-skip, "
                    "pattern:SBK..., random:P_BIG[,P_SKIP], router:PATH[,exact]", spec);
}

/* Reads RUN/eval.json if it is there, else a new object. */
static cJSON *load_results(const char *path)
{
    uint8_t *text;
    size_t n;
    cJSON *root = NULL;
    if (duo_read_whole_file(path, "eval results", &text, &n) == DUO_OK) {
        root = cJSON_Parse((const char *)text);
        free(text);
    }
    duo_clear_error();
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        root = cJSON_CreateObject();
    }
    return root;
}

static int run_eval(int argc, char **argv)
{
    cli_option o[N_OPTIONS] = {
        {"routes", "SPEC", "routing to evaluate (required; see above)", NULL},
        {"tokens", "N", "validation tokens per domain (default: the run's train.eval_tokens)", NULL},
        {"domains", "LIST", "comma-separated domains (default: all of the run's)", NULL},
        {"batch", "B", "windows per forward pass (default: the run's train.batch)", NULL},
        {"checkpoint", "PATH", "checkpoint to load (default RUN/checkpoints/final or latest)", NULL},
        {"device", "D", "device selector (default: $DUOCL_DEVICE, else the best device)", NULL},
    };
    const char *run_dir;
    int code = cli_parse(&cli_eval_command, argc, argv, o, N_OPTIONS, &run_dir, 1, 1, HELP);
    if (code != CLI_OK)
        return code;
    if (!o[ROUTES].value) {
        fprintf(stderr, "duocl eval: --routes SPEC is required (see 'duocl eval --help')\n");
        return CLI_USER_ERROR;
    }
    long tokens = o[TOKENS].value ? atol(o[TOKENS].value) : 0;
    if (o[TOKENS].value && tokens < 1) {
        fprintf(stderr, "duocl eval: --tokens '%s': allowed a whole number >= 1\n", o[TOKENS].value);
        return CLI_USER_ERROR;
    }
    duo_run run;
    duo_status st = duo_run_open(run_dir, o[CHECKPOINT].value, cli_device_selector(&o[DEVICE]),
                                 (size_t)tokens, o[DOMAINS].value, &run);
    const duo_model_config *mc = &run.config.model;
    duo_eval_routing routing;
    duo_router *router = NULL;
    if (st == DUO_OK)
        st = strncmp(o[ROUTES].value, "router:", 7) == 0
                 ? parse_router(o[ROUTES].value, run.model, &routing, &router)
                 : parse_routes(o[ROUTES].value, mc->n_layers, &routing);
    size_t batch = o[BATCH].value ? (size_t)atol(o[BATCH].value) : (size_t)run.config.train.batch;
    duo_activations *a = NULL;
    /* The exact router's soft pass runs every module, as in router training. */
    if (st == DUO_OK)
        st = duo_activations_create(run.model, batch ? batch : 1, (size_t)mc->ctx,
                                    router && routing.exact, &a);
    duo_eval_result results[DUO_CONFIG_MAX_DOMAINS];
    double seconds[DUO_CONFIG_MAX_DOMAINS];
    const duo_eval_data *data = run.data;
    for (int d = 0; st == DUO_OK && d < data->n_domains; d++) {
        duo_eval_data one = *data;
        one.n_domains = 1;
        one.domain[0] = data->domain[d];
        double t0 = duo_now_seconds();
        st = duo_evaluate(run.model, a, &one, &routing, &results[d]);
        seconds[d] = duo_now_seconds() - t0;
    }
    if (st == DUO_OK) {
        char path[1200];
        snprintf(path, sizeof path, "%s/eval.json", run.dir);
        cJSON *root = load_results(path);
        cJSON *entry = cJSON_CreateObject();
        cJSON_AddStringToObject(entry, "checkpoint", run.checkpoint);
        cJSON_AddStringToObject(entry, "device", duo_runtime_device(run.rt)->name);
        printf("%s on %s\n  domain     loss     ppl       bits/byte  budget  FLOP frac  tokens/s\n",
               o[ROUTES].value, run.checkpoint);
        for (int d = 0; d < data->n_domains; d++) {
            const duo_eval_result *r = &results[d];
            double L = mc->n_layers, small = L - r->budget - r->skip;
            double flops = (r->budget * mc->ffn_big + small * mc->ffn_small) / (L * mc->ffn_big);
            double rate = (double)r->targets / seconds[d];
            printf("  %-9s  %.4f   %-8.3f  %.4f     %.2f    %.3f      %.0f\n", data->domain[d].name,
                   r->loss, exp(r->loss), r->bits_per_byte, r->budget, flops, rate);
            cJSON *dj = cJSON_AddObjectToObject(entry, data->domain[d].name);
            cJSON_AddNumberToObject(dj, "tokens", (double)r->targets);
            cJSON_AddNumberToObject(dj, "bytes", (double)r->bytes);
            cJSON_AddNumberToObject(dj, "loss", r->loss);
            cJSON_AddNumberToObject(dj, "ppl", exp(r->loss));
            cJSON_AddNumberToObject(dj, "bpb", r->bits_per_byte);
            cJSON_AddNumberToObject(dj, "budget", r->budget);
            cJSON_AddNumberToObject(dj, "skip", r->skip);
            cJSON_AddNumberToObject(dj, "flop_fraction", flops);
            cJSON_AddNumberToObject(dj, "seconds", seconds[d]);
            cJSON *layers = cJSON_AddArrayToObject(dj, "big_per_layer");
            cJSON *buckets = cJSON_AddArrayToObject(dj, "big_per_layer_bucket");
            for (int l = 0; l < mc->n_layers; l++) {
                cJSON_AddItemToArray(layers, cJSON_CreateNumber((double)r->big_per_layer[l] /
                                                                (double)r->targets));
                cJSON *row = cJSON_CreateArray();
                for (int q = 0; q < DUO_EVAL_BUCKETS; q++)
                    cJSON_AddItemToArray(row, cJSON_CreateNumber(
                        r->targets_per_bucket[q] ? (double)r->big_per_layer_bucket[l][q] /
                                                       (double)r->targets_per_bucket[q]
                                                 : 0));
                cJSON_AddItemToArray(buckets, row);
            }
        }
        cJSON_DeleteItemFromObjectCaseSensitive(root, o[ROUTES].value);
        cJSON_AddItemToObject(root, o[ROUTES].value, entry);
        st = duo_write_json_file(path, "result file", root, false);
        cJSON_Delete(root);
    }
    duo_activations_destroy(a);
    duo_router_destroy(router);
    duo_run_close(&run);
    return cli_report(st);
}

const cli_command cli_eval_command = {
    .name = "eval",
    .usage = "duocl eval RUN --routes SPEC [--tokens N] [--domains LIST]",
    .summary = "evaluate a trained model under a routing: loss, perplexity, bits/byte, budget used",
    .run = run_eval,
};
