/* Config: JSON -> duo_config with field-by-field validation, and back.
 *
 * Every key is described once, in the tables below (type, range, default),
 * so the parser, the writer and the "allowed keys" lists in messages cannot
 * disagree. Cross-field rules (head dim, probabilities) come after. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "duocl/config.h"
#include "error.h"
#include "fileio.h"

#define MAX_SEED 9007199254740992.0 /* 2^53: the largest integer a JSON number keeps exact */

typedef enum field_kind {
    FIELD_INT,      /* int member, integral number in [lo, hi] */
    FIELD_NUMBER,   /* double member, finite number in the range */
    FIELD_SEED,     /* uint64_t member, integral number in [0, 2^53] */
    FIELD_SCHEDULE, /* duo_schedule_kind member, "cosine" | "constant" */
    FIELD_ATTENTION, /* duo_attention_kind member, "auto" | "fused" | "gemm" */
    FIELD_GEMM,     /* duo_gemm_kind member, "auto" | "clblast" | "builtin" */
    FIELD_PATH,     /* char[DUO_CONFIG_PATH_MAX] member, non-empty string */
    FIELD_DOMAINS   /* the train.domain_weights object */
} field_kind;

typedef struct field {
    const char *key;
    field_kind kind;
    size_t offset;   /* in duo_config */
    double lo, hi;   /* range; hi = INFINITY for none */
    bool lo_open;    /* (lo, ...: lo itself not allowed */
    bool hi_open;    /* ..., hi): hi itself not allowed */
    bool required;
} field;

#define AT(member) offsetof(duo_config, member)

static const field MODEL_FIELDS[] = {
    {"vocab", FIELD_INT, AT(model.vocab), 2, 16777216, false, false, true},
    {"d_model", FIELD_INT, AT(model.d_model), 2, 65536, false, false, true},
    {"n_layers", FIELD_INT, AT(model.n_layers), 1, DUO_CONFIG_MAX_LAYERS, false, false, true},
    {"n_heads", FIELD_INT, AT(model.n_heads), 1, 4096, false, false, true},
    {"ctx", FIELD_INT, AT(model.ctx), 1, 1048576, false, false, true},
    {"ffn_big", FIELD_INT, AT(model.ffn_big), 1, 1048576, false, false, true},
    {"ffn_small", FIELD_INT, AT(model.ffn_small), 1, 1048576, false, false, false},
    {"rope_theta", FIELD_NUMBER, AT(model.rope_theta), 0, INFINITY, true, false, false},
    {"norm_eps", FIELD_NUMBER, AT(model.norm_eps), 0, 1, true, false, false},
    {"attention", FIELD_ATTENTION, AT(model.attention), 0, 0, false, false, false},
    {"gemm", FIELD_GEMM, AT(model.gemm), 0, 0, false, false, false},
};

static const field TRAIN_FIELDS[] = {
    {"batch", FIELD_INT, AT(train.batch), 1, 65536, false, false, false},
    {"steps", FIELD_INT, AT(train.steps), 1, DUO_CONFIG_MAX_STEPS, false, false, false},
    {"lr", FIELD_NUMBER, AT(train.lr), 0, 1, true, false, false},
    {"warmup", FIELD_INT, AT(train.warmup), 0, 1e9, false, false, false},
    {"min_lr", FIELD_NUMBER, AT(train.min_lr), 0, 1, false, false, false},
    {"schedule", FIELD_SCHEDULE, AT(train.schedule), 0, 0, false, false, false},
    {"weight_decay", FIELD_NUMBER, AT(train.weight_decay), 0, INFINITY, false, false, false},
    {"beta1", FIELD_NUMBER, AT(train.beta1), 0, 1, false, true, false},
    {"beta2", FIELD_NUMBER, AT(train.beta2), 0, 1, false, true, false},
    {"eps", FIELD_NUMBER, AT(train.eps), 0, 1, true, false, false},
    {"grad_clip", FIELD_NUMBER, AT(train.grad_clip), 0, INFINITY, false, false, false},
    {"seed", FIELD_SEED, AT(train.seed), 0, MAX_SEED, false, false, false},
    {"p_big", FIELD_NUMBER, AT(train.p_big), 0, 1, false, false, false},
    {"p_small", FIELD_NUMBER, AT(train.p_small), 0, 1, false, false, false},
    {"p_skip", FIELD_NUMBER, AT(train.p_skip), 0, 1, false, false, false},
    {"eval_every", FIELD_INT, AT(train.eval_every), 0, 1e9, false, false, false},
    {"eval_tokens", FIELD_INT, AT(train.eval_tokens), 1, 1073741824, false, false, false},
    {"ckpt_every", FIELD_INT, AT(train.ckpt_every), 0, 1e9, false, false, false},
    {"grad_shards", FIELD_INT, AT(train.grad_shards), 0, 65536, false, false, false},
    {"domain_weights", FIELD_DOMAINS, 0, 0, INFINITY, false, false, false},
};

static const field DATA_FIELDS[] = {
    {"tokenizer", FIELD_PATH, AT(data.tokenizer), 0, 0, false, false, false},
    {"shards", FIELD_PATH, AT(data.shards), 0, 0, false, false, false},
};

typedef struct section {
    const char *key;
    const field *fields;
    int n_fields;
    bool required;
} section;

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
static const section SECTIONS[] = {
    {"model", MODEL_FIELDS, COUNT(MODEL_FIELDS), true},
    {"train", TRAIN_FIELDS, COUNT(TRAIN_FIELDS), false},
    {"data", DATA_FIELDS, COUNT(DATA_FIELDS), false},
};

static const char *const DEFAULT_DOMAINS[] = {"web", "wiki", "instruct", "code"};

/* The defaults of everything optional; required model fields stay 0 and
 * ffn_small 0 means "ffn_big / 16", resolved after parsing. */
static void set_defaults(duo_config *c)
{
    memset(c, 0, sizeof *c);
    c->model.rope_theta = 10000.0;
    c->model.norm_eps = 1e-5;
    duo_train_config *t = &c->train;
    t->batch = 16;
    t->steps = 300;
    t->lr = 2e-3;
    t->warmup = 30;
    t->min_lr = 2e-4;
    t->schedule = DUO_SCHEDULE_COSINE;
    t->weight_decay = 0.1;
    t->beta1 = 0.9;
    t->beta2 = 0.95;
    t->eps = 1e-8;
    t->grad_clip = 1.0;
    t->seed = 1;
    t->p_big = 0.5;
    t->p_small = 0.5;
    t->p_skip = 0.0;
    t->eval_every = 100;
    t->eval_tokens = 65536;
    t->ckpt_every = 100;
    t->n_domains = COUNT(DEFAULT_DOMAINS);
    for (int i = 0; i < t->n_domains; i++) {
        snprintf(t->domains[i].name, sizeof t->domains[i].name, "%s", DEFAULT_DOMAINS[i]);
        t->domains[i].weight = 1.0;
    }
    snprintf(c->data.tokenizer, sizeof c->data.tokenizer, "byte");
    snprintf(c->data.shards, sizeof c->data.shards, "data/shards/byte");
}

/* ---- messages ---------------------------------------------------------- */

/* "an integer in [1, 64]", "a number in [0, 1)", "a number > 0". */
static void describe(const field *f, char *buf, size_t size)
{
    switch (f->kind) {
    case FIELD_INT:
        snprintf(buf, size, "an integer in [%.0f, %.0f]", f->lo, f->hi);
        return;
    case FIELD_SEED:
        snprintf(buf, size, "an integer in [0, 2^53]");
        return;
    case FIELD_NUMBER:
        if (isinf(f->hi))
            snprintf(buf, size, "a number %s %g", f->lo_open ? ">" : ">=", f->lo);
        else
            snprintf(buf, size, "a number in %c%g, %g%c", f->lo_open ? '(' : '[', f->lo, f->hi,
                     f->hi_open ? ')' : ']');
        return;
    case FIELD_SCHEDULE:
        snprintf(buf, size, "\"cosine\" or \"constant\"");
        return;
    case FIELD_ATTENTION:
        snprintf(buf, size, "\"auto\", \"fused\" or \"gemm\"");
        return;
    case FIELD_GEMM:
        snprintf(buf, size, "\"auto\", \"clblast\" or \"builtin\"");
        return;
    case FIELD_PATH:
        snprintf(buf, size, "a non-empty string of at most %d bytes", DUO_CONFIG_PATH_MAX - 1);
        return;
    case FIELD_DOMAINS:
        snprintf(buf, size,
                 "an object of 1 to %d domains, each name [a-z0-9_-] of 1 to %d characters "
                 "and each weight a number >= 0, not all 0",
                 DUO_CONFIG_MAX_DOMAINS, DUO_CONFIG_NAME_MAX - 1);
        return;
    }
}

/* A short rendering of a JSON value for "got ..." (truncated). */
static void render(const cJSON *item, char *buf, size_t size)
{
    /* cJSON reads 1e999 as infinity and would print it as null. */
    if (cJSON_IsNumber(item) && !isfinite(item->valuedouble)) {
        snprintf(buf, size, "%s (not a finite number)",
                 item->valuedouble > 0 ? "a number above 1.8e308" : "a number below -1.8e308");
        return;
    }
    char *text = cJSON_PrintUnformatted((cJSON *)item);
    if (!text) {
        snprintf(buf, size, "(unprintable)");
        return;
    }
    if (strlen(text) > 60)
        snprintf(buf, size, "%.57s...", text);
    else
        snprintf(buf, size, "%s", text);
    cJSON_free(text);
}

static duo_status bad_value(const char *source, const char *section, const field *f,
                            const cJSON *item)
{
    char allowed[256], got[80];
    describe(f, allowed, sizeof allowed);
    render(item, got, sizeof got);
    return duo_fail(DUO_ERR_CONFIG, "%s: %s.%s: expected %s, got %s", source, section, f->key,
                    allowed, got);
}

/* ---- parsing ------------------------------------------------------------ */

static bool in_range(const field *f, double v)
{
    if (!isfinite(v))
        return false;
    if (f->lo_open ? !(v > f->lo) : !(v >= f->lo))
        return false;
    if (f->hi_open ? !(v < f->hi) : !(v <= f->hi))
        return false;
    return true;
}

static bool valid_domain_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= DUO_CONFIG_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Fails if an object holds the same key twice (cJSON keeps both silently).
 * The keys are sorted, so a config of 40k keys takes milliseconds, not the
 * seconds of comparing every pair. */
static duo_status check_duplicates(const char *source, const char *path, const cJSON *object)
{
    size_t n = 0;
    for (const cJSON *a = object->child; a; a = a->next)
        n++;
    if (n < 2)
        return DUO_OK;
    const char **keys = malloc(n * sizeof *keys);
    if (!keys)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%s: out of memory for %zu keys", source, n);
    n = 0;
    for (const cJSON *a = object->child; a; a = a->next)
        keys[n++] = a->string;
    qsort(keys, n, sizeof *keys, compare_keys);
    const char *twice = NULL;
    for (size_t i = 1; i < n && !twice; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            twice = keys[i];
    duo_status st = twice ? duo_fail(DUO_ERR_CONFIG, "%s: %s%s%s: the key appears more than once",
                                     source, path, *path ? "." : "", twice)
                          : DUO_OK;
    free(keys);
    return st;
}

static duo_status parse_domains(const char *source, const field *f, const cJSON *item,
                                duo_train_config *t)
{
    if (!cJSON_IsObject(item) || !item->child)
        return bad_value(source, "train", f, item);
    DUO_TRY(check_duplicates(source, "train.domain_weights", item));
    int n = 0;
    double total = 0.0;
    for (const cJSON *d = item->child; d; d = d->next) {
        if (n == DUO_CONFIG_MAX_DOMAINS)
            return duo_fail(DUO_ERR_CONFIG, "%s: train.domain_weights: at most %d domains allowed",
                            source, DUO_CONFIG_MAX_DOMAINS);
        if (!valid_domain_name(d->string))
            return duo_fail(DUO_ERR_CONFIG,
                            "%s: train.domain_weights.%s: a domain name must be 1 to %d "
                            "characters of [a-z0-9_-]",
                            source, d->string, DUO_CONFIG_NAME_MAX - 1);
        if (!cJSON_IsNumber(d) || !isfinite(d->valuedouble) || d->valuedouble < 0) {
            char got[80];
            render(d, got, sizeof got);
            return duo_fail(DUO_ERR_CONFIG,
                            "%s: train.domain_weights.%s: expected a number >= 0, got %s", source,
                            d->string, got);
        }
        snprintf(t->domains[n].name, sizeof t->domains[n].name, "%s", d->string);
        t->domains[n].weight = d->valuedouble;
        total += d->valuedouble;
        n++;
    }
    if (!(total > 0))
        return duo_fail(DUO_ERR_CONFIG,
                        "%s: train.domain_weights: the weights are all 0; at least one must be > 0",
                        source);
    t->n_domains = n;
    return DUO_OK;
}

static duo_status parse_field(const char *source, const char *section, const field *f,
                              const cJSON *item, duo_config *c)
{
    char *base = (char *)c;
    switch (f->kind) {
    case FIELD_INT:
    case FIELD_SEED: {
        if (!cJSON_IsNumber(item))
            return bad_value(source, section, f, item);
        double v = item->valuedouble;
        if (!in_range(f, v) || v != floor(v))
            return bad_value(source, section, f, item);
        if (f->kind == FIELD_INT)
            *(int *)(base + f->offset) = (int)v;
        else
            *(uint64_t *)(base + f->offset) = (uint64_t)v;
        return DUO_OK;
    }
    case FIELD_NUMBER:
        if (!cJSON_IsNumber(item) || !in_range(f, item->valuedouble))
            return bad_value(source, section, f, item);
        *(double *)(base + f->offset) = item->valuedouble;
        return DUO_OK;
    case FIELD_SCHEDULE: {
        const char *s = cJSON_GetStringValue((cJSON *)item);
        duo_schedule_kind *out = (duo_schedule_kind *)(base + f->offset);
        if (s && strcmp(s, "cosine") == 0)
            *out = DUO_SCHEDULE_COSINE;
        else if (s && strcmp(s, "constant") == 0)
            *out = DUO_SCHEDULE_CONSTANT;
        else
            return bad_value(source, section, f, item);
        return DUO_OK;
    }
    case FIELD_ATTENTION: {
        const char *s = cJSON_GetStringValue((cJSON *)item);
        duo_attention_kind *out = (duo_attention_kind *)(base + f->offset);
        duo_attention_kind kinds[] = {DUO_ATTENTION_AUTO, DUO_ATTENTION_FUSED, DUO_ATTENTION_GEMM};
        for (int k = 0; k < 3; k++)
            if (s && strcmp(s, duo_attention_kind_name(kinds[k])) == 0) {
                *out = kinds[k];
                return DUO_OK;
            }
        return bad_value(source, section, f, item);
    }
    case FIELD_GEMM: {
        const char *s = cJSON_GetStringValue((cJSON *)item);
        if (!s || !duo_gemm_kind_from_name(s, (duo_gemm_kind *)(base + f->offset)))
            return bad_value(source, section, f, item);
        return DUO_OK;
    }
    case FIELD_PATH: {
        const char *s = cJSON_GetStringValue((cJSON *)item);
        if (!s || !*s || strlen(s) >= DUO_CONFIG_PATH_MAX)
            return bad_value(source, section, f, item);
        memcpy(base + f->offset, s, strlen(s) + 1);
        return DUO_OK;
    }
    case FIELD_DOMAINS:
        return parse_domains(source, f, item, &c->train);
    }
    return duo_fail(DUO_ERR_INTERNAL, "config field kind %d", (int)f->kind);
}

static duo_status parse_section(const char *source, const section *s, const cJSON *object,
                                duo_config *c)
{
    if (!cJSON_IsObject(object)) {
        char got[80];
        render(object, got, sizeof got);
        return duo_fail(DUO_ERR_CONFIG, "%s: %s: expected an object, got %s", source, s->key, got);
    }
    DUO_TRY(check_duplicates(source, s->key, object));
    for (const cJSON *item = object->child; item; item = item->next) {
        const field *f = NULL;
        for (int i = 0; i < s->n_fields; i++)
            if (strcmp(s->fields[i].key, item->string) == 0)
                f = &s->fields[i];
        if (!f) {
            char allowed[512] = "";
            size_t used = 0;
            for (int i = 0; i < s->n_fields && used < sizeof allowed; i++)
                used += (size_t)snprintf(allowed + used, sizeof allowed - used, "%s%s",
                                         i ? ", " : "", s->fields[i].key);
            return duo_fail(DUO_ERR_CONFIG, "%s: %s.%s: unknown key; the keys allowed in \"%s\" are %s",
                            source, s->key, item->string, s->key, allowed);
        }
        DUO_TRY(parse_field(source, s->key, f, item, c));
    }
    for (int i = 0; i < s->n_fields; i++) {
        const field *f = &s->fields[i];
        if (f->required && !cJSON_GetObjectItemCaseSensitive(object, f->key)) {
            char allowed[256];
            describe(f, allowed, sizeof allowed);
            return duo_fail(DUO_ERR_CONFIG, "%s: %s.%s: missing; required: %s", source, s->key,
                            f->key, allowed);
        }
    }
    return DUO_OK;
}

/* The rules that involve more than one field. */
static duo_status check_cross_fields(const char *source, const duo_config *c)
{
    const duo_model_config *m = &c->model;
    const duo_train_config *t = &c->train;
    if (m->d_model % m->n_heads != 0)
        return duo_fail(DUO_ERR_CONFIG,
                        "%s: model.n_heads: d_model (%d) must be divisible by n_heads (%d)", source,
                        m->d_model, m->n_heads);
    if ((m->d_model / m->n_heads) % 2 != 0)
        return duo_fail(DUO_ERR_CONFIG,
                        "%s: model.n_heads: the head dim d_model / n_heads = %d must be even "
                        "(RoPE rotates pairs)",
                        source, m->d_model / m->n_heads);
    if (m->ffn_small > m->ffn_big)
        return duo_fail(DUO_ERR_CONFIG,
                        "%s: model.ffn_small: must be at most ffn_big (%d), got %d", source,
                        m->ffn_big, m->ffn_small);
    if (strcmp(c->data.tokenizer, "byte") == 0 && m->vocab < 257)
        return duo_fail(DUO_ERR_CONFIG,
                        "%s: model.vocab: the byte tokenizer needs vocab >= 257 (256 bytes and "
                        "end-of-text), got %d", source, m->vocab);
    if (t->warmup > t->steps)
        return duo_fail(DUO_ERR_CONFIG, "%s: train.warmup: must be at most steps (%d), got %d",
                        source, t->steps, t->warmup);
    if (t->min_lr > t->lr)
        return duo_fail(DUO_ERR_CONFIG, "%s: train.min_lr: must be at most lr (%g), got %g",
                        source, t->lr, t->min_lr);
    if (t->grad_shards > 0 && t->batch % t->grad_shards != 0)
        return duo_fail(DUO_ERR_CONFIG,
                        "%s: train.grad_shards: must divide batch (%d) (each shard is batch / "
                        "grad_shards sequences), got %d; 0 takes the number of ranks",
                        source, t->batch, t->grad_shards);
    double sum = t->p_big + t->p_small + t->p_skip;
    if (fabs(sum - 1.0) > 1e-6)
        return duo_fail(DUO_ERR_CONFIG,
                        "%s: train.p_skip: p_big + p_small + p_skip must be 1 (within 1e-6), "
                        "got %g + %g + %g = %.9g",
                        source, t->p_big, t->p_small, t->p_skip, sum);
    return DUO_OK;
}

/* Turns a cJSON parse failure into "line L, column C". */
static duo_status json_syntax_error(const char *source, const char *text, const char *at)
{
    int line = 1, column = 1;
    if (!at)
        at = text;
    for (const char *p = text; *p && p < at; p++) {
        if (*p == '\n') {
            line++;
            column = 1;
        } else {
            column++;
        }
    }
    return duo_fail(DUO_ERR_CONFIG, "%s: not valid JSON: syntax error at line %d, column %d (near \"%.20s\")",
                    source, line, column, at);
}

static duo_status from_tree(const char *source, const cJSON *root, duo_config *out)
{
    if (!cJSON_IsObject(root))
        return duo_fail(DUO_ERR_CONFIG, "%s: the config must be a JSON object with \"model\", "
                        "\"train\" and \"data\"", source);
    DUO_TRY(check_duplicates(source, "", root));
    duo_config c;
    set_defaults(&c);
    for (const cJSON *item = root->child; item; item = item->next) {
        const section *s = NULL;
        for (int i = 0; i < COUNT(SECTIONS); i++)
            if (strcmp(SECTIONS[i].key, item->string) == 0)
                s = &SECTIONS[i];
        if (!s)
            return duo_fail(DUO_ERR_CONFIG, "%s: %s: unknown key; the keys allowed at the top "
                            "level are model, train, data", source, item->string);
        DUO_TRY(parse_section(source, s, item, &c));
    }
    for (int i = 0; i < COUNT(SECTIONS); i++)
        if (SECTIONS[i].required && !cJSON_GetObjectItemCaseSensitive(root, SECTIONS[i].key))
            return duo_fail(DUO_ERR_CONFIG, "%s: %s: missing; required: an object with the "
                            "model's shape", source, SECTIONS[i].key);
    if (c.model.ffn_small == 0) {
        c.model.ffn_small = c.model.ffn_big / 16;
        if (c.model.ffn_small < 1)
            return duo_fail(DUO_ERR_CONFIG,
                            "%s: model.ffn_small: the default ffn_big / 16 is 0 for ffn_big = %d; "
                            "set ffn_small to an integer in [1, ffn_big]",
                            source, c.model.ffn_big);
    }
    DUO_TRY(check_cross_fields(source, &c));
    *out = c;
    return DUO_OK;
}

static duo_status parse_text(const char *json, const char *source, cJSON **out)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root)
        return json_syntax_error(source, json, end ? end : cJSON_GetErrorPtr());
    *out = root;
    return DUO_OK;
}

duo_status duo_config_parse(const char *json, const char *source, duo_config *out)
{
    if (!json || !out)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_config_parse: json and out must not be NULL");
    if (!source)
        source = "<string>";
    cJSON *root = NULL;
    DUO_TRY(parse_text(json, source, &root));
    duo_status st = from_tree(source, root, out);
    cJSON_Delete(root);
    return st;
}

static duo_status read_file(const char *path, char **out)
{
    uint8_t *text;
    size_t n;
    DUO_TRY(duo_read_file(path, "config", DUO_MAX_CONFIG_BYTES, &text, &n));
    if (strlen((const char *)text) != n) {
        free(text);
        return duo_fail(DUO_ERR_CONFIG, "%s: contains a NUL byte: not a JSON text file", path);
    }
    *out = (char *)text;
    return DUO_OK;
}

duo_status duo_config_load(const char *path, duo_config *out)
{
    return duo_config_load_with_overrides(path, NULL, 0, out);
}

/* Sets "a.b.c" = value in the tree, creating objects on the way. */
static duo_status apply_override(const char *source, cJSON *root, const char *text)
{
    const char *eq = strchr(text, '=');
    if (!eq || eq == text)
        return duo_fail(DUO_ERR_CONFIG, "%s: override \"%s\": expected KEY.PATH=VALUE", source, text);
    char key[256];
    size_t key_length = (size_t)(eq - text);
    if (key_length >= sizeof key)
        return duo_fail(DUO_ERR_CONFIG, "%s: override \"%s\": key too long", source, text);
    memcpy(key, text, key_length);
    key[key_length] = '\0';
    cJSON *value = cJSON_Parse(eq + 1);
    if (!value)
        value = cJSON_CreateString(eq + 1);
    if (!value)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "override \"%s\"", text);

    cJSON *object = root;
    char *part = key;
    for (;;) {
        char *dot = strchr(part, '.');
        if (dot)
            *dot = '\0';
        if (!*part) {
            cJSON_Delete(value);
            return duo_fail(DUO_ERR_CONFIG, "%s: override \"%s\": empty key component", source, text);
        }
        if (!dot) {
            if (cJSON_GetObjectItemCaseSensitive(object, part))
                cJSON_ReplaceItemInObjectCaseSensitive(object, part, value);
            else
                cJSON_AddItemToObject(object, part, value);
            return DUO_OK;
        }
        cJSON *next = cJSON_GetObjectItemCaseSensitive(object, part);
        if (!next)
            next = cJSON_AddObjectToObject(object, part);
        if (!cJSON_IsObject(next)) {
            cJSON_Delete(value);
            return duo_fail(DUO_ERR_CONFIG, "%s: override \"%s\": \"%s\" is not an object", source,
                            text, part);
        }
        object = next;
        part = dot + 1;
    }
}

duo_status duo_config_load_with_overrides(const char *path, const char *const *overrides,
                                          int n_overrides, duo_config *out)
{
    if (!path || !out || n_overrides < 0 || (n_overrides > 0 && !overrides))
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_config_load: bad arguments");
    char *text = NULL;
    DUO_TRY(read_file(path, &text));
    cJSON *root = NULL;
    duo_status st = parse_text(text, path, &root);
    free(text);
    if (st != DUO_OK)
        return st;
    if (n_overrides > 0 && !cJSON_IsObject(root))
        st = duo_fail(DUO_ERR_CONFIG, "%s: the config must be a JSON object", path);
    for (int i = 0; st == DUO_OK && i < n_overrides; i++)
        st = apply_override(path, root, overrides[i]);
    if (st == DUO_OK)
        st = from_tree(path, root, out);
    cJSON_Delete(root);
    return st;
}

/* ---- writing ------------------------------------------------------------ */

static cJSON *to_tree(const duo_config *c)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    const char *base = (const char *)c;
    for (int s = 0; ok && s < COUNT(SECTIONS); s++) {
        cJSON *object = cJSON_AddObjectToObject(root, SECTIONS[s].key);
        ok = object != NULL;
        for (int i = 0; ok && i < SECTIONS[s].n_fields; i++) {
            const field *f = &SECTIONS[s].fields[i];
            const char *p = base + f->offset;
            cJSON *item = NULL;
            switch (f->kind) {
            case FIELD_INT: item = cJSON_CreateNumber(*(const int *)p); break;
            case FIELD_NUMBER: item = cJSON_CreateNumber(*(const double *)p); break;
            case FIELD_SEED: item = cJSON_CreateNumber((double)*(const uint64_t *)p); break;
            case FIELD_SCHEDULE:
                item = cJSON_CreateString(duo_schedule_kind_name(*(const duo_schedule_kind *)p));
                break;
            case FIELD_ATTENTION:
                item = cJSON_CreateString(duo_attention_kind_name(*(const duo_attention_kind *)p));
                break;
            case FIELD_GEMM:
                item = cJSON_CreateString(duo_gemm_kind_name(*(const duo_gemm_kind *)p));
                break;
            case FIELD_PATH: {
                char path[DUO_CONFIG_PATH_MAX];
                snprintf(path, sizeof path, "%.*s", DUO_CONFIG_PATH_MAX - 1, p);
                item = cJSON_CreateString(path);
                break;
            }
            case FIELD_DOMAINS:
                item = cJSON_CreateObject();
                for (int d = 0; item && d < c->train.n_domains && d < DUO_CONFIG_MAX_DOMAINS; d++) {
                    char name[DUO_CONFIG_NAME_MAX];
                    snprintf(name, sizeof name, "%.*s", DUO_CONFIG_NAME_MAX - 1, c->train.domains[d].name);
                    ok = ok && cJSON_AddNumberToObject(item, name, c->train.domains[d].weight);
                }
                break;
            }
            ok = ok && item != NULL;
            if (item)
                cJSON_AddItemToObject(object, f->key, item);
        }
    }
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

duo_status duo_config_to_json(const duo_config *config, char **out)
{
    if (!config || !out)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_config_to_json: config and out must not be NULL");
    cJSON *root = to_tree(config);
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory writing the config as JSON");
    /* Copy into plain malloc memory so callers free() it whatever cJSON's hooks are. */
    size_t n = strlen(text) + 1;
    *out = malloc(n);
    if (*out)
        memcpy(*out, text, n);
    cJSON_free(text);
    return *out ? DUO_OK : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory writing the config");
}

duo_status duo_config_validate(const duo_config *config, const char *source)
{
    /* Printing and re-reading runs every field check of the loaders, and
     * proves the config survives the trip into a run directory. */
    char *text = NULL;
    DUO_TRY(duo_config_to_json(config, &text));
    duo_config check;
    duo_status st = duo_config_parse(text, source ? source : "<config>", &check);
    free(text);
    return st;
}

duo_status duo_config_save(const duo_config *config, const char *path)
{
    char *text = NULL;
    DUO_TRY(duo_config_to_json(config, &text));
    const void *parts[] = {text, "\n"};
    size_t sizes[] = {strlen(text), 1};
    duo_status st = duo_write_file_atomic(path, "config", parts, sizes, 2);
    free(text);
    return st;
}

const char *duo_schedule_kind_name(duo_schedule_kind kind)
{
    return kind == DUO_SCHEDULE_CONSTANT ? "constant" : "cosine";
}

const char *duo_attention_kind_name(duo_attention_kind kind)
{
    return kind == DUO_ATTENTION_FUSED ? "fused" : kind == DUO_ATTENTION_GEMM ? "gemm" : "auto";
}

const char *duo_gemm_kind_name(duo_gemm_kind kind)
{
    return kind == DUO_GEMM_CLBLAST ? "clblast" : kind == DUO_GEMM_BUILTIN ? "builtin" : "auto";
}

int duo_gemm_kind_from_name(const char *name, duo_gemm_kind *out)
{
    const duo_gemm_kind kinds[] = {DUO_GEMM_AUTO, DUO_GEMM_CLBLAST, DUO_GEMM_BUILTIN};
    for (int k = 0; k < 3; k++)
        if (strcmp(name, duo_gemm_kind_name(kinds[k])) == 0) {
            *out = kinds[k];
            return 1;
        }
    return 0;
}
