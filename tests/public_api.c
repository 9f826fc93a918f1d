/* The library can do what the CLI does: this program sees only the public
 * headers (include/duocl/, libduocl's public include folder; no internal
 * header is on its include path) and links only libduocl. On text it makes
 * itself it prepares shards, trains a tiny Duo model a few steps, evaluates
 * it under two routings, runs the oracle, trains a router, measures token
 * difficulty and writes the report, checking what each returns and writes.
 * usage: public_api [WORK_DIR]   (default: a fresh folder under /tmp) */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "duocl/config.h"
#include "duocl/data.h"
#include "duocl/difficulty.h"
#include "duocl/eval.h"
#include "duocl/model.h"
#include "duocl/oracle.h"
#include "duocl/report.h"
#include "duocl/router.h"
#include "duocl/runtime.h"
#include "duocl/status.h"
#include "duocl/tokenizer.h"
#include "duocl/train.h"

static int failures;

static void check(const char *name, int ok, const char *detail)
{
    printf("  %-4s %-44s %s\n", ok ? "ok" : "FAIL", name, ok ? "" : detail);
    failures += !ok;
}

/* A call that must succeed; on failure the library's message is shown. */
static int call(const char *name, duo_status st)
{
    check(name, st == DUO_OK, st == DUO_OK ? "" : duo_last_error());
    return st == DUO_OK;
}

static int exists(const char *dir, const char *file)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    struct stat info;
    return stat(path, &info) == 0 && info.st_size > 0;
}

/* Some text with structure a tiny model can learn: words from a small list
 * in an order a fixed generator picks. */
static size_t make_text(unsigned seed, uint8_t *out, size_t cap)
{
    static const char *const words[] = {"the ", "duo ", "model ", "routes ", "tokens ", "big ",
                                        "small ", "layer ", "and ", "skips. ", "oracle ", "budget "};
    size_t n = 0;
    unsigned x = seed * 2654435761u + 1;
    while (n + 16 < cap) {
        x = x * 1103515245u + 12345u;
        const char *w = words[(x >> 16) % 12];
        size_t len = strlen(w);
        memcpy(out + n, w, len);
        n += len;
    }
    return n;
}

static int write_shards(const char *dir)
{
    duo_tokenizer *tok;
    if (!call("byte-level tokenizer", duo_tokenizer_byte_level(&tok)))
        return 0;
    int ok = 1;
    for (int split = 0; split < 2 && ok; split++) {
        static uint8_t text[60000];
        size_t n = make_text(split ? 7u : 3u, text, split ? 12000 : sizeof text);
        int32_t *ids;
        size_t count;
        char path[1400];
        ok = call("encode", duo_tokenizer_encode(tok, text, n, &ids, &count)) &&
             call("shard name", duo_shard_filename(dir, "web", split ? "val" : "train", path,
                                                   sizeof path));
        if (ok) {
            ok = call("write shard", duo_shard_write(path, ids, count,
                                                     (uint32_t)duo_tokenizer_vocab_size(tok), n,
                                                     duo_tokenizer_fingerprint(tok)));
            free(ids);
        }
    }
    duo_tokenizer_destroy(tok);
    return ok;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void count_steps(const duo_train_event *e, void *user)
{
    if (e->kind == DUO_TRAIN_EVENT_STEP)
        ++*(int *)user;
}

int main(int argc, char **argv)
{
    char work[512], shards[600], run[600];
    if (argc > 1)
        snprintf(work, sizeof work, "%s", argv[1]);
    else {
        snprintf(work, sizeof work, "/tmp/duocl-public-api-XXXXXX");
        if (!mkdtemp(work)) {
            perror("mkdtemp");
            return 2;
        }
    }
    snprintf(shards, sizeof shards, "%s/shards", work);
    snprintf(run, sizeof run, "%s/run", work);
    mkdir(shards, 0755);
    printf("public_api in %s\n", work);
    if (!write_shards(shards))
        return 1;

    char json[2048];
    snprintf(json, sizeof json,
             "{\"model\": {\"vocab\": 257, \"d_model\": 32, \"n_layers\": 3, \"n_heads\": 2, "
             "\"ctx\": 32, \"ffn_big\": 64, \"ffn_small\": 8},"
             " \"train\": {\"batch\": 4, \"steps\": 6, \"lr\": 3e-3, \"warmup\": 1, "
             "\"eval_every\": 3, \"eval_tokens\": 256, \"ckpt_every\": 3, \"seed\": 5, "
             "\"domain_weights\": {\"web\": 1}},"
             " \"data\": {\"tokenizer\": \"byte\", \"shards\": \"%s\"}}", shards);
    duo_config config;
    duo_runtime *rt;
    if (!call("config", duo_config_parse(json, "public_api", &config)) ||
        !call("runtime", duo_runtime_create(&(duo_runtime_options){0}, &rt)))
        return 1;
    printf("device: %s\n", duo_runtime_device(rt)->name);

    int steps = 0;
    duo_train_options to = {.run_dir = run, .callback = count_steps, .user = &steps};
    if (call("duo_train 6 steps", duo_train(rt, &config, &to))) {
        check("6 step events", steps == 6, "another count");
        check("final checkpoint written", exists(run, "checkpoints/final.ckpt"), "missing");
        check("log written", exists(run, "log.jsonl"), "missing");
        char path[1400];
        snprintf(path, sizeof path, "%s/checkpoints/final.ckpt", run);
        duo_config stored;
        duo_model *model;
        if (call("duo_model_open final.ckpt", duo_model_open(rt, path, &stored, &model))) {
            check("its config is the run's", stored.model.d_model == 32 && stored.train.steps == 6,
                  "another config");
            size_t n = duo_model_parameter_count(model);
            float *params = malloc(n * sizeof *params);
            int finite = params && duo_model_read_params(model, params) == DUO_OK;
            for (size_t i = 0; finite && i < n; i++)
                finite = isfinite(params[i]);
            check("trained parameters read back, finite", n > 0 && finite, "not");
            free(params);
            duo_model_destroy(model);
        }
    }

    duo_eval_summary *big = calloc(1, sizeof *big), *small = calloc(1, sizeof *small);
    duo_eval_options eo = {.run_dir = run, .routes = "all-big", .tokens = 256};
    if (big && small && call("duo_eval_run all-big", duo_eval_run(rt, &eo, big))) {
        eo.routes = "all-small";
        if (call("duo_eval_run all-small", duo_eval_run(rt, &eo, small))) {
            check("one domain scored", big->n_domains == 1 && big->domain[0].tokens > 0, "none");
            check("losses finite, below log(257)", isfinite(big->domain[0].loss) &&
                  big->domain[0].loss < log(257.0) && isfinite(small->domain[0].loss), "not");
            check("all-big uses 3 BIG layers, all-small 0", big->domain[0].budget == 3.0 &&
                  small->domain[0].budget == 0.0, "another budget");
            check("eval.json written", exists(run, "eval.json"), "missing");
        }
    }

    duo_oracle_summary *oracle = calloc(1, sizeof *oracle);
    duo_oracle_options oo = {.run_dir = run, .tokens = 256, .alphabet = DUO_ALPHABET_SB};
    if (oracle && call("duo_oracle_run", duo_oracle_run(rt, &oo, oracle))) {
        const duo_oracle_domain_summary *d = &oracle->domain[0];
        int ordered = 1;
        for (int k = 0; k <= 3; k++)
            ordered &= d->searched[k] && d->budget[k].oracle.loss <= d->budget[k].fixed.loss &&
                       d->budget[k].fixed.loss <= d->budget[k].mean_all.loss + 1e-12;
        check("oracle <= fixed <= mean at every budget", ordered, "out of order");
        check("oracle at k=3 is all-big", fabs(d->budget[3].oracle.loss - d->all_big.loss) < 1e-9,
              "differs");
        check("oracle.json and oracle_tokens.bin written",
              exists(run, "oracle.json") && exists(run, "oracle_tokens.bin"), "missing");
    }

    duo_router_train_options ro;
    duo_router_train_defaults(&ro);
    ro.budget = 1;
    ro.steps = 4;
    ro.batch = 2;
    if (call("duo_router_train k=1", duo_router_train(rt, run, &ro)))
        check("router written", exists(run, "router/k1-SB/router.ckpt"), "missing");

    duo_difficulty_options dopt = duo_difficulty_default_options();
    dopt.run_dir = run;
    dopt.budget = 1;
    duo_difficulty_summary *diff = calloc(1, sizeof *diff);
    if (diff && call("duo_difficulty_run k=1", duo_difficulty_run(&dopt, diff)))
        check("difficulty.json written", exists(run, "difficulty.json"), "missing");

    duo_report_summary report;
    if (call("duo_report_write", duo_report_write(run, NULL, &report)))
        check("report.html written", exists(run, "report.html"), "missing");

    free(big);
    free(small);
    free(oracle);
    free(diff);
    duo_runtime_destroy(rt);
    printf("public_api: %s\n", failures ? "FAILED" : "passed");
    if (!failures && argc <= 1)
        nftw(work, remove_entry, 16, FTW_DEPTH | FTW_PHYS); /* a failed run's folder is kept */
    return failures ? 1 : 0;
}
