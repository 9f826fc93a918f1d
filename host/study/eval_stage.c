/* The eval stage (duocl eval): one routing on a run's validation windows, and
 * RUN/eval.json, its result file, written here and nowhere else:
 *   { SPEC: { "checkpoint": PATH, "device": NAME,
 *             DOMAIN: { "tokens", "bytes", "loss", "ppl", "bpb", "budget", "skip",
 *                       "flop_fraction", "seconds",
 *                       "big_per_layer": [L], "big_per_layer_bucket": [L][8] }, ... }, ... } */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/fileio.h"
#include "base/json_file.h"
#include "duocl/eval.h"
#include "evaluate.h"
#include "router.h"
#include "signal_router.h"
#include "routing_spec.h"
#include "run_folder.h"
#include "spread.h"

_Static_assert((int)DUO_EVAL_MAX_LAYERS == (int)DUO_MAX_LAYERS, "duo_eval_summary holds every layer");
_Static_assert((int)DUO_CONFIG_MAX_LAYERS == (int)DUO_MAX_LAYERS,
               "a config allows exactly the layers a model has");

static void summarise(const duo_eval_result *r, const char *name, const duo_model_config *mc,
                      double seconds, duo_eval_domain_summary *out)
{
    snprintf(out->name, sizeof out->name, "%s", name);
    out->tokens = r->targets;
    out->bytes = r->bytes;
    out->loss = r->loss;
    out->bits_per_byte = r->bits_per_byte;
    out->budget = r->budget;
    out->skip = r->skip;
    double L = mc->n_layers, small = L - r->budget - r->skip;
    out->flop_fraction = (r->budget * mc->ffn_big + small * mc->ffn_small) / (L * mc->ffn_big);
    out->seconds = seconds;
    for (int l = 0; l < mc->n_layers; l++) {
        out->big_per_layer[l] = (double)r->big_per_layer[l] / (double)r->targets;
        for (int q = 0; q < DUO_EVAL_BUCKETS; q++)
            out->big_per_layer_bucket[l][q] =
                r->targets_per_bucket[q]
                    ? (double)r->big_per_layer_bucket[l][q] / (double)r->targets_per_bucket[q]
                    : 0;
    }
}

/* ---- RUN/eval.json ---- */

/* The file's entries so far in *out: a new object when it does not exist.
 * One that exists but is not a JSON object holds results of earlier runs
 * that a rewrite would lose: DUO_ERR_FORMAT, the file untouched, unless
 * force moves it to eval.json.bad (its name in bad_copy) first. */
static duo_status load_results(const char *path, bool force, cJSON **out, char *bad_copy, size_t cap)
{
    *out = NULL;
    if (bad_copy && cap)
        bad_copy[0] = '\0';
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        *out = cJSON_CreateObject();
        return *out ? DUO_OK : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for %s", path);
    }
    uint8_t *text;
    size_t n;
    DUO_TRY(duo_read_file(path, "result file", DUO_MAX_RESULT_JSON_BYTES, &text, &n));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)text, n, &end, 0);
    char why[96];
    if (!root)
        snprintf(why, sizeof why, "not valid JSON (the parser stopped at byte %zu of %zu)",
                 end ? (size_t)(end - (const char *)text) : n, n);
    else
        snprintf(why, sizeof why, "valid JSON but not an object of results");
    free(text);
    if (cJSON_IsObject(root)) {
        *out = root;
        return DUO_OK;
    }
    cJSON_Delete(root);
    if (!force)
        return duo_fail(DUO_ERR_FORMAT, "'%s' is %s. It holds the results of earlier evaluations, so it "
                        "was left as it is: repair or move it, or pass --force to start it afresh "
                        "(the damaged file is kept as %s.bad)", path, why, path);
    DUO_TRY(duo_keep_bad_copy(path, bad_copy, cap));
    *out = cJSON_CreateObject();
    return *out ? DUO_OK : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for %s", path);
}

static cJSON *entry_json(const duo_eval_summary *s)
{
    cJSON *entry = cJSON_CreateObject();
    cJSON_AddStringToObject(entry, "checkpoint", s->checkpoint);
    cJSON_AddStringToObject(entry, "device", s->device);
    for (int d = 0; d < s->n_domains; d++) {
        const duo_eval_domain_summary *r = &s->domain[d];
        cJSON *dj = cJSON_AddObjectToObject(entry, r->name);
        cJSON_AddNumberToObject(dj, "tokens", (double)r->tokens);
        cJSON_AddNumberToObject(dj, "bytes", (double)r->bytes);
        cJSON_AddNumberToObject(dj, "loss", r->loss);
        cJSON_AddNumberToObject(dj, "ppl", exp(r->loss));
        cJSON_AddNumberToObject(dj, "bpb", r->bits_per_byte);
        cJSON_AddNumberToObject(dj, "budget", r->budget);
        cJSON_AddNumberToObject(dj, "skip", r->skip);
        cJSON_AddNumberToObject(dj, "flop_fraction", r->flop_fraction);
        cJSON_AddNumberToObject(dj, "seconds", r->seconds);
        cJSON *layers = cJSON_AddArrayToObject(dj, "big_per_layer");
        cJSON *buckets = cJSON_AddArrayToObject(dj, "big_per_layer_bucket");
        for (int l = 0; l < s->layers; l++) {
            cJSON_AddItemToArray(layers, cJSON_CreateNumber(r->big_per_layer[l]));
            cJSON *row = cJSON_CreateArray();
            for (int q = 0; q < DUO_EVAL_BUCKETS; q++)
                cJSON_AddItemToArray(row, cJSON_CreateNumber(r->big_per_layer_bucket[l][q]));
            cJSON_AddItemToArray(buckets, row);
        }
    }
    return entry;
}

/* Replaces the entry of `spec` in the file at path (others are kept). */
static duo_status merge_result(const char *path, const char *spec, bool force, duo_eval_summary *s)
{
    cJSON *root;
    DUO_TRY(load_results(path, force, &root, s->bad_copy, sizeof s->bad_copy));
    cJSON_DeleteItemFromObjectCaseSensitive(root, spec);
    cJSON_AddItemToObject(root, spec, entry_json(s));
    duo_status st = duo_write_json_file(path, "result file", root, false);
    cJSON_Delete(root);
    return st;
}

/* ---- the stage ---- */

static duo_status evaluate_run(duo_runtime *rt, duo_run *run, const duo_eval_options *o,
                               duo_eval_summary *out)
{
    const duo_model_config *mc = &run->config.model;
    duo_routing_spec spec;
    DUO_TRY(duo_routing_spec_parse(o->routes, mc->n_layers, &spec));
    duo_eval_routing routing = {0};
    duo_router *router = NULL;
    duo_status st = duo_routing_spec_routing(&spec, run->model, &routing, &router);
    size_t batch = o->batch ? o->batch : (size_t)run->config.train.batch;
    duo_activations *a = NULL;
    /* The exact router's soft pass runs every module, as in router training. */
    if (st == DUO_OK)
        st = duo_activations_create(run->model, batch ? batch : 1, (size_t)mc->ctx,
                                    router && routing.exact, &a);
    snprintf(out->routes, sizeof out->routes, "%s", o->routes);
    snprintf(out->checkpoint, sizeof out->checkpoint, "%s", run->checkpoint);
    snprintf(out->device, sizeof out->device, "%s", duo_runtime_device(rt)->name);
    out->layers = mc->n_layers;
    const duo_eval_data *data = run->data;
    /* Under MPI each domain's batches are cut into one range per rank
     * (study/spread.h), gathered on rank 0, which reports and writes. (Cut per
     * domain, not over all domains at once: each domain ends with a gather,
     * so ranks holding other domains would only wait their turn.) */
    size_t B = batch ? batch : 1;
    st = duo_spread_agree(st);
    for (int d = 0; st == DUO_OK && d < data->n_domains; d++) {
        st = duo_spread_agree(o->stop && *o->stop
                                  ? duo_fail(DUO_ERR_INTERRUPTED, "evaluation stopped after %d "
                                             "of %d domains", d, data->n_domains)
                                  : DUO_OK);
        if (st != DUO_OK)
            break;
        const duo_eval_domain *dom = &data->domain[d];
        size_t n = duo_eval_batches(dom, B);
        duo_spread part = duo_spread_part(0, n, n);
        duo_eval_result r;
        double t0 = duo_now_seconds();
        st = duo_evaluate_spread(run->model, a, dom, data->ctx, &routing, part, &r);
        double seconds = duo_now_seconds() - t0;
        if (st != DUO_OK)
            break;
        summarise(&r, dom->name, mc, seconds, &out->domain[d]);
        out->n_domains = d + 1;
        if (o->callback && duo_spread_root())
            o->callback(out, d, o->user);
    }
    bool failed = st != DUO_OK; /* on every rank alike (they agree) */
    if (st == DUO_OK)
        st = duo_run_path(run->dir, DUO_RUN_EVAL, out->path, sizeof out->path);
    if (st == DUO_OK && duo_spread_root())
        st = merge_result(out->path, o->routes, o->force, out);
    duo_activations_destroy(a);
    duo_router_destroy(router);
    duo_signal_router_destroy(routing.signal);
    return failed ? st : duo_spread_share_result(st, out, sizeof *out);
}

duo_status duo_eval_run(duo_runtime *rt, const duo_eval_options *o, duo_eval_summary *out)
{
    if (!o || !out || !o->run_dir || !o->routes)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_eval_run: options with run_dir and routes, "
                        "and a summary, must be given");
    memset(out, 0, sizeof *out);
    /* A damaged eval.json stops the command before the device starts, not
     * after the evaluation. */
    DUO_TRY(duo_run_path(o->run_dir, DUO_RUN_EVAL, out->path, sizeof out->path));
    if (!o->force) {
        cJSON *existing;
        DUO_TRY(load_results(out->path, false, &existing, NULL, 0));
        cJSON_Delete(existing);
    }
    duo_run run;
    duo_status st = rt ? duo_run_open_on(rt, o->run_dir, o->checkpoint, o->tokens, o->domains, &run)
                       : duo_run_open(o->run_dir, o->checkpoint, o->device, o->tokens, o->domains,
                                      &run);
    if (st == DUO_OK)
        st = evaluate_run(rt ? rt : run.rt, &run, o, out);
    duo_run_close(&run);
    return st;
}
