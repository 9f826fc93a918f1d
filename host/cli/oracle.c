/* duocl oracle: the best route per token by exhaustive search, per budget,
 * against the best fixed pattern and the best of N random patterns. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "base/fileio.h"
#include "base/json_file.h"
#include "base/measures.h"
#include "study/oracle.h"
#include "study/run_folder.h"

static const char HELP[] =
    "RUN is a run directory written by 'duocl train' (its config and checkpoint).\n"
    "For each budget k (the number of BIG layers of a token's route) every route\n"
    "pattern with k BIG layers is applied to every token of the validation windows.\n"
    "Reported per domain and budget: oracle (per-token minimum: needs the labels, an\n"
    "upper bound for any router), fixed (the best single pattern), random-N (the best\n"
    "of N patterns drawn at random), the mean over all patterns, and where the\n"
    "oracle's BIG layers go (per layer, per layer and position bucket).\n"
    "Alphabets: SB (small or big at every layer), KB (skip or big), KSB (skip, small\n"
    "or big). The budget counts BIG layers only: skips are free, so with KB a budget\n"
    "k route runs k big FFNs and skips the FFN in the other L-k layers.\n"
    "Also the varying-budget experiment: a per-token budget that falls linearly along\n"
    "the sequence (--vary, default L/2 to L/6) against the constant budget of the same\n"
    "mean. Writes RUN/oracle.json and RUN/oracle_tokens.bin (per-token losses; see\n"
    "README). Results are written only when complete (temporary file + rename).";

enum { BUDGETS, ALPHABET, RANDOM, TOKENS, DOMAINS, BATCH, CHECKPOINT, DEVICE, VARY, NO_SHARE, N_OPTIONS };

static bool parse_budgets(const char *text, int layers, bool *out)
{
    for (int k = 0; k <= layers; k++)
        out[k] = text == NULL;
    if (!text)
        return true;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *item = strtok(buf, ","); item; item = strtok(NULL, ",")) {
        char *end;
        long k = strtol(item, &end, 10);
        if (*end || k < 0 || k > layers)
            return false;
        out[k] = true;
    }
    return true;
}

static cJSON *metric(double loss, uint64_t tokens, uint64_t bytes)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "loss", loss);
    cJSON_AddNumberToObject(o, "ppl", exp(loss));
    cJSON_AddNumberToObject(o, "bpb", duo_bits_per_byte(loss * (double)tokens, (double)bytes));
    return o;
}

static cJSON *budget_json(const duo_oracle_result *r, int k, const duo_model_config *mc,
                          uint64_t bytes)
{
    const duo_budget_result *b = &r->budget[k];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "k", k);
    cJSON_AddNumberToObject(o, "patterns", b->patterns);
    cJSON_AddItemToObject(o, "oracle", metric(b->oracle, r->tokens, bytes));
    cJSON *fixed = metric(b->fixed, r->tokens, bytes);
    cJSON_AddStringToObject(fixed, "pattern", b->fixed_pattern);
    cJSON_AddNumberToObject(fixed, "flop_fraction",
                            duo_pattern_flop_fraction(b->fixed_pattern, mc->ffn_big, mc->ffn_small));
    cJSON_AddItemToObject(o, "fixed", fixed);
    cJSON *random = metric(b->random_best, r->tokens, bytes);
    cJSON_AddStringToObject(random, "pattern", b->random_pattern);
    cJSON_AddItemToObject(o, "random", random);
    cJSON_AddItemToObject(o, "mean_all", metric(b->mean_all, r->tokens, bytes));
    cJSON *layers = cJSON_AddArrayToObject(o, "big_per_layer");
    cJSON *buckets = cJSON_AddArrayToObject(o, "big_per_layer_bucket");
    for (int l = 0; l < r->layers; l++) {
        cJSON_AddItemToArray(layers, cJSON_CreateNumber((double)b->big_per_layer[l] / (double)r->tokens));
        cJSON *row = cJSON_CreateArray();
        for (int q = 0; q < DUO_ORACLE_BUCKETS; q++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber(
                b->tokens_per_bucket[q] ? (double)b->big_per_layer_bucket[l][q] / (double)b->tokens_per_bucket[q] : 0));
        cJSON_AddItemToArray(buckets, row);
    }
    return o;
}

/* Budget k(t) falling linearly from k0 at the first position to k1 at the last. */
static int varying_budget(int k0, int k1, size_t t, size_t ctx)
{
    double f = ctx > 1 ? (double)t / (double)(ctx - 1) : 0;
    return (int)lround(k0 + (k1 - k0) * f);
}

static cJSON *varying_json(const duo_oracle_result *r, int k0, int k1, size_t ctx, uint64_t bytes)
{
    double sum = 0, mean_k = 0;
    for (size_t i = 0; i < r->tokens; i++) {
        int k = varying_budget(k0, k1, i % ctx, ctx);
        sum += r->loss_oracle[k][i];
        mean_k += k;
    }
    mean_k /= (double)r->tokens;
    int constant = (int)lround(mean_k);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "from", k0);
    cJSON_AddNumberToObject(o, "to", k1);
    cJSON_AddNumberToObject(o, "mean_budget", mean_k);
    cJSON_AddItemToObject(o, "oracle_varying", metric(sum / (double)r->tokens, r->tokens, bytes));
    cJSON_AddNumberToObject(o, "constant_budget", constant);
    if (r->searched[constant])
        cJSON_AddItemToObject(o, "oracle_constant", metric(r->budget[constant].oracle, r->tokens, bytes));
    return o;
}

static void write_floats(FILE *f, const float *x, size_t n) { fwrite(x, sizeof *x, n, f); }

/* Per-token file: see README ("oracle_tokens.bin"). Written to .tmp, then renamed. */
static duo_status write_tokens_file(const char *path, const duo_run *run, const duo_oracle_result *rs,
                                    const size_t *n_windows)
{
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return duo_fail(DUO_ERR_IO, "cannot create %s", tmp);
    const duo_eval_data *data = run->data;
    uint32_t header[4] = {1, (uint32_t)rs[0].layers, (uint32_t)data->n_domains, (uint32_t)data->ctx};
    fwrite("DUOCLPTL", 1, 8, f);
    fwrite(header, sizeof header, 1, f);
    for (int d = 0; d < data->n_domains; d++) {
        const duo_oracle_result *r = &rs[d];
        char name[32] = {0};
        snprintf(name, sizeof name, "%s", data->domain[d].name);
        uint64_t sizes[2] = {n_windows[d], r->tokens};
        uint32_t searched = 0;
        for (int k = 0; k <= r->layers; k++)
            searched |= (uint32_t)r->searched[k] << k;
        fwrite(name, 1, sizeof name, f);
        fwrite(sizes, sizeof sizes, 1, f);
        fwrite(&searched, sizeof searched, 1, f);
        fwrite(data->domain[d].tokens, sizeof(int32_t), n_windows[d] * ((size_t)data->ctx + 1), f);
        write_floats(f, r->loss_small, r->tokens);
        write_floats(f, r->loss_big, r->tokens);
        for (int k = 0; k <= r->layers; k++)
            if (r->searched[k]) {
                write_floats(f, r->loss_oracle[k], r->tokens);
                fwrite(r->oracle_big_mask[k], sizeof(uint32_t), r->tokens, f);
            }
    }
    bool ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return duo_fail(DUO_ERR_IO, "cannot write %s", path);
    }
    return DUO_OK;
}

static void progress(void *context, uint64_t done, uint64_t total)
{
    cli_progress_update(context, done, total);
}

static void print_table(const char *domain, const duo_oracle_result *r, uint64_t bytes)
{
    printf("\n%s: %llu tokens; all-small %.4f, all-big %.4f bits/byte\n", domain,
           (unsigned long long)r->tokens, duo_bits_per_byte(r->all_small * (double)r->tokens, (double)bytes),
           duo_bits_per_byte(r->all_big * (double)r->tokens, (double)bytes));
    printf("  k  patterns   oracle    fixed (pattern)         random-N  mean      [bits/byte]\n");
    for (int k = 0; k <= r->layers; k++) {
        if (!r->searched[k])
            continue;
        const duo_budget_result *b = &r->budget[k];
        printf("  %-2d %-8d   %.4f   %.4f (%-12s)  %.4f    %.4f\n", k, b->patterns,
               duo_bits_per_byte(b->oracle * (double)r->tokens, (double)bytes),
               duo_bits_per_byte(b->fixed * (double)r->tokens, (double)bytes), b->fixed_pattern,
               duo_bits_per_byte(b->random_best * (double)r->tokens, (double)bytes),
               duo_bits_per_byte(b->mean_all * (double)r->tokens, (double)bytes));
    }
}

static int run_oracle(int argc, char **argv)
{
    cli_option o[N_OPTIONS] = {
        {"budgets", "LIST", "budgets to search, e.g. 1,3,5 (default: 0..L)", NULL},
        {"alphabet", "A", "SB, KB or KSB (default SB)", NULL},
        {"random", "N", "N of random-N: patterns drawn at random (default 100)", NULL},
        {"tokens", "N", "validation tokens per domain (default 8192)", NULL},
        {"domains", "LIST", "comma-separated domains (default: all of the run's)", NULL},
        {"batch", "B", "windows per forward pass (default: the run's train.batch)", NULL},
        {"checkpoint", "PATH", "checkpoint to load (default RUN/checkpoints/final or latest)", NULL},
        {"device", "D", "device selector (default: $DUOCL_DEVICE, else the best device)", NULL},
        {"vary", "K0:K1", "varying-budget experiment from K0 to K1 big layers (default L/2:L/6)", NULL},
        {"no-prefix-sharing", NULL, "run every pattern from scratch (slower; same results)", NULL},
    };
    const char *run_dir;
    int code = cli_parse(&cli_oracle_command, argc, argv, o, N_OPTIONS, &run_dir, 1, 1, HELP);
    if (code != CLI_OK)
        return code;
    duo_oracle_options opt = {.alphabet = DUO_ALPHABET_SB, .random_n = 100,
                              .random_seed = 0x6f7261636c65ULL, .share_prefixes = !o[NO_SHARE].value,
                              .progress = progress};
    if (o[ALPHABET].value && !duo_alphabet_parse(o[ALPHABET].value, &opt.alphabet)) {
        fprintf(stderr, "duocl oracle: --alphabet '%s': allowed SB, KB, KSB\n", o[ALPHABET].value);
        return CLI_USER_ERROR;
    }
    if (o[RANDOM].value && (opt.random_n = atoi(o[RANDOM].value)) < 1) {
        fprintf(stderr, "duocl oracle: --random '%s': allowed a whole number >= 1\n", o[RANDOM].value);
        return CLI_USER_ERROR;
    }
    long tokens = o[TOKENS].value ? atol(o[TOKENS].value) : 8192;
    if (tokens < 1) {
        fprintf(stderr, "duocl oracle: --tokens '%s': allowed a whole number >= 1\n", o[TOKENS].value);
        return CLI_USER_ERROR;
    }

    duo_run run;
    duo_status st = duo_run_open(run_dir, o[CHECKPOINT].value, cli_device_selector(&o[DEVICE]),
                                 (size_t)tokens, o[DOMAINS].value, &run);
    if (st != DUO_OK) {
        duo_run_close(&run);
        return cli_report(st);
    }
    const duo_model_config *mc = &run.config.model;
    int L = mc->n_layers;
    int k0 = (int)lround(L / 2.0), k1 = (int)lround(L / 6.0);
    if (!parse_budgets(o[BUDGETS].value, L, opt.budgets) ||
        (o[VARY].value && sscanf(o[VARY].value, "%d:%d", &k0, &k1) != 2) || k0 < 0 || k0 > L ||
        k1 < 0 || k1 > L) {
        fprintf(stderr, "duocl oracle: --budgets/--vary: allowed budgets are 0 to %d (L)\n", L);
        duo_run_close(&run);
        return CLI_USER_ERROR;
    }
    size_t batch = o[BATCH].value ? (size_t)atol(o[BATCH].value) : (size_t)run.config.train.batch;
    if (batch < 1)
        batch = 1;
    const duo_eval_data *data = run.data;
    size_t ctx = (size_t)data->ctx;
    duo_oracle_result results[DUO_CONFIG_MAX_DOMAINS];
    size_t n_windows[DUO_CONFIG_MAX_DOMAINS];
    memset(results, 0, sizeof results);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "run", run.dir);
    cJSON_AddStringToObject(root, "checkpoint", run.checkpoint);
    cJSON_AddStringToObject(root, "alphabet", duo_alphabet_name(opt.alphabet));
    cJSON_AddNumberToObject(root, "random_n", opt.random_n);
    cJSON_AddNumberToObject(root, "layers", L);
    cJSON_AddNumberToObject(root, "ctx", (double)ctx);
    cJSON_AddStringToObject(root, "device", duo_runtime_device(run.rt)->name);
    cJSON *domains = cJSON_AddObjectToObject(root, "domains");
    duo_search_counts total = {0};
    int done = 0;
    for (int d = 0; d < data->n_domains && st == DUO_OK; d++, done++) {
        const duo_eval_domain *dom = &data->domain[d];
        n_windows[d] = (dom->targets + ctx - 1) / ctx;
        char label[96];
        snprintf(label, sizeof label, "oracle %s: patterns", dom->name);
        cli_progress bar = {.label = label};
        opt.progress_context = &bar;
        st = duo_oracle_run(run.model, dom->tokens, n_windows[d], ctx, batch, &opt, &results[d]);
        cli_progress_end(&bar);
        if (st != DUO_OK)
            break;
        const duo_oracle_result *r = &results[d];
        /* Bytes of the scored tokens: the domain's bytes per target times tokens. */
        uint64_t bytes = (uint64_t)llround((double)dom->bytes / (double)dom->targets * (double)r->tokens);
        print_table(dom->name, r, bytes);
        cJSON *dj = cJSON_AddObjectToObject(domains, dom->name);
        cJSON_AddNumberToObject(dj, "tokens", (double)r->tokens);
        cJSON_AddNumberToObject(dj, "bytes", (double)bytes);
        cJSON_AddItemToObject(dj, "all_small", metric(r->all_small, r->tokens, bytes));
        cJSON_AddItemToObject(dj, "all_big", metric(r->all_big, r->tokens, bytes));
        cJSON *budgets = cJSON_AddArrayToObject(dj, "budgets");
        for (int k = 0; k <= L; k++)
            if (r->searched[k])
                cJSON_AddItemToArray(budgets, budget_json(r, k, mc, bytes));
        bool vary_ok = true;
        for (size_t t = 0; t < ctx; t++)
            vary_ok &= r->searched[varying_budget(k0, k1, t, ctx)];
        if (vary_ok)
            cJSON_AddItemToObject(dj, "varying_budget", varying_json(r, k0, k1, ctx, bytes));
        total.patterns += r->counts.patterns;
        total.layer_evals += r->counts.layer_evals;
        total.naive_layer_evals += r->counts.naive_layer_evals;
    }
    if (st == DUO_OK) {
        fprintf(stderr, "prefix sharing: %llu layer evaluations instead of %llu (%.1f%%)\n",
                (unsigned long long)total.layer_evals, (unsigned long long)total.naive_layer_evals,
                100.0 * (double)total.layer_evals / (double)total.naive_layer_evals);
        cJSON_AddNumberToObject(root, "layer_evals", (double)total.layer_evals);
        cJSON_AddNumberToObject(root, "naive_layer_evals", (double)total.naive_layer_evals);
        char path[1200];
        snprintf(path, sizeof path, "%s/oracle_tokens.bin", run.dir);
        st = write_tokens_file(path, &run, results, n_windows);
        snprintf(path, sizeof path, "%s/oracle.json", run.dir);
        if (st == DUO_OK)
            st = duo_write_json_file(path, "result file", root, false);
        if (st == DUO_OK)
            fprintf(stderr, "wrote %s and %s/oracle_tokens.bin\n", path, run.dir);
    }
    for (int d = 0; d < done; d++)
        duo_oracle_result_free(&results[d]);
    cJSON_Delete(root);
    duo_run_close(&run);
    return cli_report(st);
}

const cli_command cli_oracle_command = {
    .name = "oracle",
    .usage = "duocl oracle RUN [--budgets LIST] [--alphabet SB|KB|KSB] [--random N] [--tokens N]",
    .summary = "find the best routes per token by exhaustive search, per budget",
    .run = run_oracle,
};
