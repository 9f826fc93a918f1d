/* Config loading and validation: the shipped configs load with the values
 * DESIGN.md asks for, the resolved JSON round-trips exactly, defaults fill
 * in, overrides apply, and every kind of bad value is a DUO_ERR_CONFIG whose
 * message names the file, the key path and what is allowed. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duocl/config.h"
#include "unitcheck.h"

static char tiny_path[4096];

static void config_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%sconfigs/%s", unit_source_dir(), name);
}

/* to_json -> parse -> to_json must give the same text: every field is
 * written, and numbers are printed with enough digits to come back exact. */
static void check_round_trip(const char *name, const duo_config *c)
{
    char *first = NULL, *second = NULL;
    duo_config again;
    if (!unit_ok(name, duo_config_to_json(c, &first)))
        return;
    if (unit_ok(name, duo_config_parse(first, "resolved", &again)) &&
        unit_ok(name, duo_config_to_json(&again, &second)))
        unit_check(name, strcmp(first, second) == 0, "resolved JSON changed on a round trip:\n%s\n---\n%s",
                   first, second);
    free(first);
    free(second);
}

static void shipped_configs_load_with_design_values(void)
{
    const char *names[] = {"tiny.json", "quickstart.json", "bench.json"};
    duo_config c[3];
    for (int i = 0; i < 3; i++) {
        char path[4096];
        config_path(path, sizeof path, names[i]);
        if (!unit_ok(names[i], duo_config_load(path, &c[i])))
            return;
        check_round_trip(names[i], &c[i]);
    }
    const duo_model_config *t = &c[0].model, *q = &c[1].model, *b = &c[2].model;
    unit_check("tiny_is_small_and_byte_level",
               t->vocab == 257 && t->d_model <= 64 && t->n_layers <= 4 && t->ctx <= 64 &&
                   strcmp(c[0].data.tokenizer, "byte") == 0,
               "vocab %d d %d L %d ctx %d tokenizer %s", t->vocab, t->d_model, t->n_layers, t->ctx,
               c[0].data.tokenizer);
    unit_check("quickstart_matches_design",
               q->vocab == 257 && q->d_model == 256 && q->n_layers == 6 && q->n_heads == 4 &&
                   q->ctx == 256 && q->ffn_big == 1024 && q->ffn_small == 64 &&
                   c[1].train.batch == 8 && c[1].train.lr == 2e-3 &&
                   fabs(c[1].train.min_lr - 0.1 * c[1].train.lr) < 1e-12 &&
                   c[1].train.beta1 == 0.9 && c[1].train.beta2 == 0.95 &&
                   c[1].train.weight_decay == 0.1 && c[1].train.grad_clip == 1.0 &&
                   c[1].train.schedule == DUO_SCHEDULE_COSINE && c[1].train.warmup > 0,
               "quickstart differs from DESIGN.md's model and optimizer (batch 8: the 2-core time budget)");
    unit_check("bench_matches_issue",
               b->vocab == 4096 && b->d_model == 256 && b->n_layers == 4 && b->n_heads == 4 &&
                   b->ctx == 256 && b->ffn_big == 1024 && b->ffn_small == 64 && c[2].train.batch == 16,
               "bench differs from L=4 d=256 H=4 ctx=256 V=4096 F=1024/64 B=16");
}

static void minimal_config_gets_defaults(void)
{
    const char *json = "{\"model\": {\"vocab\": 257, \"d_model\": 64, \"n_layers\": 2, "
                       "\"n_heads\": 2, \"ctx\": 16, \"ffn_big\": 160}}";
    duo_config c;
    if (!unit_ok("minimal", duo_config_parse(json, "minimal", &c)))
        return;
    unit_check("ffn_small_defaults_to_ffn_big_over_16", c.model.ffn_small == 10, "got %d",
               c.model.ffn_small);
    unit_check("rope_and_eps_defaults", c.model.rope_theta == 10000.0 && c.model.norm_eps == 1e-5,
               "theta %g eps %g", c.model.rope_theta, c.model.norm_eps);
    unit_check("route_defaults", c.train.p_big == 0.5 && c.train.p_small == 0.5 && c.train.p_skip == 0,
               "p %g %g %g", c.train.p_big, c.train.p_small, c.train.p_skip);
    unit_check("domain_defaults", c.train.n_domains == 4 && strcmp(c.train.domains[0].name, "web") == 0 &&
                                      strcmp(c.train.domains[3].name, "code") == 0,
               "%d domains", c.train.n_domains);
    unit_check("data_defaults", strcmp(c.data.tokenizer, "byte") == 0, "tokenizer %s", c.data.tokenizer);
    check_round_trip("minimal_round_trip", &c);

    /* The resolved JSON names every field, defaults included. */
    char *text = NULL;
    if (unit_ok("minimal_to_json", duo_config_to_json(&c, &text))) {
        const char *keys[] = {"\"ffn_small\"", "\"rope_theta\"", "\"norm_eps\"", "\"schedule\"",
                              "\"seed\"", "\"p_skip\"", "\"domain_weights\"", "\"shards\""};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            unit_check("resolved_json_has_every_field", strstr(text, keys[i]) != NULL, "%s missing",
                       keys[i]);
    }
    free(text);
}

static void large_seed_and_domain_weights_survive(void)
{
    const char *json =
        "{\"model\": {\"vocab\": 300, \"d_model\": 8, \"n_layers\": 1, \"n_heads\": 2, \"ctx\": 4, "
        "\"ffn_big\": 4, \"ffn_small\": 4},"
        " \"train\": {\"seed\": 9007199254740992, \"lr\": 0.1234567890123, \"min_lr\": 0,"
        " \"domain_weights\": {\"web\": 0.3, \"my-code_2\": 0.7}, \"schedule\": \"constant\"}}";
    duo_config c;
    if (!unit_ok("large_seed", duo_config_parse(json, "large", &c)))
        return;
    unit_check("seed_2_53_exact", c.train.seed == 9007199254740992ULL, "seed %llu",
               (unsigned long long)c.train.seed);
    unit_check("domains_in_order", c.train.n_domains == 2 && strcmp(c.train.domains[1].name, "my-code_2") == 0 &&
                                       c.train.domains[1].weight == 0.7, "domains wrong");
    check_round_trip("large_seed_round_trip", &c);
}

typedef struct bad_case {
    const char *override; /* applied to configs/tiny.json */
    const char *key;      /* must appear in the message */
    const char *allowed;  /* must appear too */
} bad_case;

static void bad_overrides_name_key_and_allowed_values(void)
{
    static const bad_case cases[] = {
        {"model.vocab=0", "model.vocab", "an integer in [2, 16777216]"},
        {"model.vocab=256.5", "model.vocab", "an integer in"},
        {"model.vocab=\"256\"", "model.vocab", "got \"256\""},
        {"model.vocab=256", "model.vocab", "byte tokenizer needs vocab >= 257"},
        {"model.d_model=33", "model.n_heads", "divisible by n_heads"},
        {"model.d_model=30", "model.n_heads", "must be even"},
        {"model.n_layers=0", "model.n_layers", "an integer in [1, 32]"},
        {"model.ctx=-1", "model.ctx", "an integer in [1, "},
        {"model.ffn_small=128", "model.ffn_small", "at most ffn_big (64)"},
        {"model.rope_theta=0", "model.rope_theta", "a number > 0"},
        {"model.norm_eps=null", "model.norm_eps", "a number in (0, 1]"},
        {"model.vocabulary=256", "model.vocabulary", "unknown key"},
        {"model=5", "model", "expected an object"},
        {"train.p_big=1.5", "train.p_big", "a number in [0, 1]"},
        {"train.p_big=0.7", "train.p_skip", "p_big + p_small + p_skip must be 1"},
        {"train.beta2=1", "train.beta2", "a number in [0, 1)"},
        {"train.lr=0", "train.lr", "a number in (0, 1]"},
        {"train.min_lr=0.01", "train.min_lr", "at most lr"},
        {"train.warmup=50", "train.warmup", "at most steps (20)"},
        {"train.schedule=linear", "train.schedule", "\"cosine\" or \"constant\""},
        {"train.seed=-1", "train.seed", "an integer in [0, 2^53]"},
        {"train.seed=1e17", "train.seed", "an integer in [0, 2^53]"},
        {"train.batch=true", "train.batch", "an integer in [1, 65536]"},
        {"train.steps=1e10", "train.steps", "an integer in [1, 1000000000]"},
        {"train.eval_tokens=0", "train.eval_tokens", "an integer in [1, "},
        {"train.grad_clip=-1", "train.grad_clip", "a number >= 0"},
        {"train.eps=0", "train.eps", "a number in (0, 1]"},
        {"train.domain_weights={}", "train.domain_weights", "an object of 1 to 16 domains"},
        {"train.domain_weights=[1]", "train.domain_weights", "an object of 1 to 16 domains"},
        {"train.domain_weights.web=-1", "train.domain_weights.web", "a number >= 0"},
        {"train.domain_weights.Web=1", "train.domain_weights.Web", "[a-z0-9_-]"},
        {"train.domain_weights={\"web\":0}", "train.domain_weights", "at least one must be > 0"},
        {"train.pbig=0.5", "train.pbig", "unknown key; the keys allowed in \"train\" are batch"},
        {"data.tokenizer=\"\"", "data.tokenizer", "a non-empty string"},
        {"data.shards=5", "data.shards", "a non-empty string"},
        {"data.extra=1", "data.extra", "unknown key"},
        {"extra=1", "extra", "unknown key"},
        {"model.vocab", "model.vocab", "expected KEY.PATH=VALUE"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        duo_config c;
        const char *overrides[] = {cases[i].override};
        duo_status st = duo_config_load_with_overrides(tiny_path, overrides, 1, &c);
        char name[160];
        snprintf(name, sizeof name, "bad_config[%s]", cases[i].override);
        if (unit_fails(name, st, DUO_ERR_CONFIG, cases[i].key, cases[i].allowed))
            unit_check(name, strstr(duo_last_error(), "tiny.json") != NULL,
                       "message does not name the file: %s", duo_last_error());
    }
}

typedef struct bad_text {
    const char *json;
    const char *needle1, *needle2;
} bad_text;

static void bad_documents_are_explained(void)
{
#define SHAPE "\"vocab\": 257, \"d_model\": 32, \"n_layers\": 2, \"n_heads\": 2, \"ctx\": 8"
    static const bad_text cases[] = {
        {"{}", "doc: model: missing", NULL},
        {"[1, 2]", "must be a JSON object", NULL},
        {"{\"model\": {" SHAPE "}}", "model.ffn_big: missing", "required: an integer in [1, 1048576]"},
        {"{\"model\": {" SHAPE ", \"ffn_big\": 8}}", "model.ffn_small", "ffn_big / 16 is 0"},
        {"{\"model\": {" SHAPE ", \"ffn_big\": 64, \"ctx\": 9}}", "model.ctx", "appears more than once"},
        {"{\"model\": {" SHAPE ", \"ffn_big\": 64}, \"model\": {}}", "doc: model", "appears more than once"},
        {"{\"model\": {" SHAPE ", \"ffn_big\": 64},\n \"train\": {\"lr\": 1e-3,}}", "not valid JSON",
         "line 2, column"},
        {"{\"model\": {" SHAPE ", \"ffn_big\": 64}} trailing", "not valid JSON", "line 1"},
        {"", "not valid JSON", NULL},
    };
#undef SHAPE
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        duo_config c;
        char name[64];
        snprintf(name, sizeof name, "bad_document[%zu]", i);
        unit_fails(name, duo_config_parse(cases[i].json, "doc", &c), DUO_ERR_CONFIG, cases[i].needle1,
                   cases[i].needle2);
    }
}

static void overrides_apply_in_order(void)
{
    const char *overrides[] = {"train.steps=5", "train.steps=7", "data.shards=/tmp/some shards",
                               "train.domain_weights.code=3", "train.warmup=0"};
    duo_config c;
    if (!unit_ok("overrides", duo_config_load_with_overrides(tiny_path, overrides, 5, &c)))
        return;
    unit_check("override_last_wins", c.train.steps == 7, "steps %d", c.train.steps);
    unit_check("override_string_value", strcmp(c.data.shards, "/tmp/some shards") == 0, "shards %s",
               c.data.shards);
    unit_check("override_nested_key", c.train.n_domains == 4 && c.train.domains[3].weight == 3,
               "code weight %g", c.train.domains[3].weight);
}

static void missing_file_is_io_error_naming_it(void)
{
    duo_config c;
    unit_fails("missing_file", duo_config_load("/nonexistent/dir/x.json", &c), DUO_ERR_IO,
               "/nonexistent/dir/x.json", NULL);
}

static void save_then_load_gives_same_config(void)
{
    duo_config c, again;
    char path[] = "/tmp/duocl_test_config_XXXXXX";
    int fd = mkstemp(path);
    if (!unit_check("mkstemp", fd >= 0, "cannot create a temp file"))
        return;
    close(fd);
    if (unit_ok("load_tiny", duo_config_load(tiny_path, &c)) && unit_ok("save", duo_config_save(&c, path)) &&
        unit_ok("load_saved", duo_config_load(path, &again))) {
        char *a = NULL, *b = NULL;
        if (unit_ok("json_a", duo_config_to_json(&c, &a)) && unit_ok("json_b", duo_config_to_json(&again, &b)))
            unit_check("saved_config_identical", strcmp(a, b) == 0, "differs");
        free(a);
        free(b);
    }
    remove(path);
}

static void validate_catches_edits_in_code(void)
{
    duo_config c;
    if (!unit_ok("load_tiny", duo_config_load(tiny_path, &c)))
        return;
    unit_ok("validate_unchanged", duo_config_validate(&c, "edited"));
    duo_config bad = c;
    bad.train.p_big = 0.7;
    unit_fails("validate_probabilities", duo_config_validate(&bad, "edited"), DUO_ERR_CONFIG,
               "edited: train.p_skip", "must be 1");
    bad = c;
    bad.train.lr = NAN;
    unit_fails("validate_nan_lr", duo_config_validate(&bad, "edited"), DUO_ERR_CONFIG, "train.lr",
               "a number in (0, 1]");
    bad = c;
    bad.model.n_heads = 3;
    unit_fails("validate_heads", duo_config_validate(&bad, "edited"), DUO_ERR_CONFIG, "model.n_heads",
               "divisible");
    bad = c;
    bad.train.n_domains = 0;
    unit_fails("validate_no_domains", duo_config_validate(&bad, "edited"), DUO_ERR_CONFIG,
               "train.domain_weights", NULL);
}

int main(void)
{
    config_path(tiny_path, sizeof tiny_path, "tiny.json");
    printf("test_config (configs from %sconfigs)\n", unit_source_dir());
    UNIT_RUN(shipped_configs_load_with_design_values);
    UNIT_RUN(minimal_config_gets_defaults);
    UNIT_RUN(large_seed_and_domain_weights_survive);
    UNIT_RUN(bad_overrides_name_key_and_allowed_values);
    UNIT_RUN(bad_documents_are_explained);
    UNIT_RUN(overrides_apply_in_order);
    UNIT_RUN(missing_file_is_io_error_naming_it);
    UNIT_RUN(save_then_load_gives_same_config);
    UNIT_RUN(validate_catches_edits_in_code);
    return unit_summary("test_config");
}
