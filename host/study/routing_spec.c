/* Routing specs: parsing and turning one into an evaluation routing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "evaluate.h"
#include "router.h"
#include "routing_spec.h"
#include "signal_router.h"

_Static_assert((int)DUO_EVAL_MAX_LAYERS == (int)DUO_MAX_LAYERS, "a pattern has at most DUO_MAX_LAYERS letters");

/* The exact router's soft pass uses the sharpness router training ends near,
 * so its P_big ranks layers as the trained mixture did. */
static const float EXACT_BETA = 20.0f;

static duo_status not_a_routing(const char *text)
{
    return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                    "--routes '%s' is not a routing: allowed all-big, all-small, all-skip, "
                    "pattern:SBK..., random:P_BIG[,P_SKIP], router:PATH[,exact], signal:PATH", text);
}

static duo_status parse_pattern(const char *text, const char *letters, int layers,
                                duo_routing_spec *out)
{
    size_t n = strlen(letters);
    bool length_ok = layers > 0 ? n == (size_t)layers : n >= 1 && n <= DUO_EVAL_MAX_LAYERS;
    if (!length_ok || strspn(letters, "SBK") != n) {
        if (layers > 0)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                            "--routes %s: a pattern has one letter per layer (%d here), each S "
                            "(small), B (big) or K (skip)", text, layers);
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "--routes %s: a pattern has one letter per layer (1 to %d), each S (small), "
                        "B (big) or K (skip)", text, DUO_EVAL_MAX_LAYERS);
    }
    out->kind = DUO_ROUTING_PATTERN;
    out->layers = (int)n;
    for (size_t l = 0; l < n; l++)
        out->pattern[l] = letters[l] == 'B' ? DUO_ROUTE_BIG
                          : letters[l] == 'S' ? DUO_ROUTE_SMALL : DUO_ROUTE_SKIP;
    return DUO_OK;
}

/* A probability written in decimal ("0.5", ".25", "1", "2e-1"): no sign,
 * space, hex, inf or nan. *end is the first character after it. */
static bool probability(const char *s, double *p, const char **end)
{
    if (!((*s >= '0' && *s <= '9') || (*s == '.' && s[1] >= '0' && s[1] <= '9')))
        return false;
    char *stop;
    *p = strtod(s, &stop);
    *end = stop;
    return stop != s && strspn(s, "0123456789.eE+-") >= (size_t)(stop - s);
}

static duo_status parse_random(const char *text, const char *args, duo_routing_spec *out)
{
    double p_big = 0, p_skip = 0;
    const char *end = args;
    bool ok = probability(args, &p_big, &end);
    if (ok && *end == ',')
        ok = probability(end + 1, &p_skip, &end);
    if (!ok || *end != '\0' || !(p_big <= 1) || !(p_skip <= 1) || p_big + p_skip > 1)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "--routes %s: random takes P_BIG[,P_SKIP], each in [0, 1], summing to at "
                        "most 1", text);
    out->kind = DUO_ROUTING_RANDOM;
    out->p_big = p_big;
    out->p_skip = p_skip;
    out->p_small = 1 - p_big - p_skip;
    return DUO_OK;
}

/* Are [s, s + n) tags "-oracle", "-signal" or "-s<seed>", one or more? */
static bool router_tags(const char *s, size_t n)
{
    while (n > 0) {
        if (s[0] != '-')
            return false;
        size_t len = 1;
        while (len < n && s[len] != '-')
            len++;
        bool seed = len > 2 && s[1] == 's' && strspn(s + 2, "0123456789") >= len - 2;
        if (!seed && !(len == 7 && memcmp(s, "-oracle", 7) == 0) &&
            !(len == 7 && memcmp(s, "-signal", 7) == 0))
            return false;
        s += len;
        n -= len;
    }
    return true;
}

/* Is the component [s, s + n) "k<K>-<A>" with A an alphabet, or
 * "k<K>-<A>-<tags>" (the oracle teacher's and other seeds' folders,
 * duo_router_train_dir)? */
static bool router_folder(const char *s, size_t n, int *budget, duo_alphabet *alphabet)
{
    size_t digits = 0;
    while (1 + digits < n && s[1 + digits] >= '0' && s[1 + digits] <= '9')
        digits++;
    if (n < 4 || s[0] != 'k' || digits == 0 || digits > 6 || s[1 + digits] != '-')
        return false;
    char name[8];
    size_t letters = n - digits - 2;
    const char *tags = memchr(s + digits + 2, '-', letters);
    if (tags) {
        letters = (size_t)(tags - (s + digits + 2));
        if (!router_tags(tags, (size_t)(s + n - tags)))
            return false;
    }
    if (letters == 0 || letters >= sizeof name)
        return false;
    memcpy(name, s + digits + 2, letters);
    name[letters] = '\0';
    if (!duo_alphabet_parse(name, alphabet))
        return false;
    *budget = atoi(s + 1);
    return true;
}

static duo_status parse_router(const char *text, const char *args, duo_routing_spec *out)
{
    size_t n = strlen(args);
    bool signal = strncmp(text, "signal:", 7) == 0;
    if (signal && n == 0)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "--routes %s: a signal router spec is signal:PATH with PATH a signal "
                        "router's file (RUN/router/k<K>-SB-signal/signal.json)", text);
    bool exact = !signal && n >= 6 && strcmp(args + n - 6, ",exact") == 0;
    if (exact)
        n -= 6;
    if (n == 0)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "--routes %s: a router spec is router:PATH or router:PATH,exact with PATH "
                        "a router file ('duocl router train' writes RUN/router/k<K>-<A>/router.ckpt)",
                        text);
    if (n >= sizeof out->router_path)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "--routes: the router path of '%s' is longer "
                        "than %zu bytes", text, sizeof out->router_path - 1);
    out->kind = signal ? DUO_ROUTING_SIGNAL : DUO_ROUTING_ROUTER;
    memcpy(out->router_path, args, n);
    out->router_path[n] = '\0';
    out->exact = exact;
    out->router_budget = -1;
    for (const char *c = out->router_path; *c;) {
        size_t len = strcspn(c, "/");
        int budget;
        duo_alphabet alphabet;
        if (router_folder(c, len, &budget, &alphabet)) {
            out->router_budget = budget;
            out->router_alphabet = alphabet;
        }
        c += len + (c[len] == '/');
    }
    return DUO_OK;
}

duo_status duo_routing_spec_parse(const char *text, int layers, duo_routing_spec *out)
{
    memset(out, 0, sizeof *out);
    out->router_budget = -1;
    if (!text)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "no routing given: allowed all-big, all-small, "
                        "all-skip, pattern:SBK..., random:P_BIG[,P_SKIP], router:PATH[,exact], signal:PATH");
    static const struct {
        const char *name;
        duo_route route;
    } uniform[] = {{"all-big", DUO_ROUTE_BIG}, {"all-small", DUO_ROUTE_SMALL},
                   {"all-skip", DUO_ROUTE_SKIP}};
    for (int i = 0; i < 3; i++)
        if (strcmp(text, uniform[i].name) == 0) {
            out->kind = DUO_ROUTING_UNIFORM;
            out->route = uniform[i].route;
            return DUO_OK;
        }
    if (strncmp(text, "pattern:", 8) == 0)
        return parse_pattern(text, text + 8, layers, out);
    if (strncmp(text, "random:", 7) == 0)
        return parse_random(text, text + 7, out);
    if (strncmp(text, "router:", 7) == 0 || strncmp(text, "signal:", 7) == 0)
        return parse_router(text, text + 7, out);
    return not_a_routing(text);
}

duo_status duo_routing_spec_routing(const duo_routing_spec *spec, duo_model *m,
                                    duo_eval_routing *out, duo_router **router)
{
    *router = NULL;
    switch (spec->kind) {
    case DUO_ROUTING_UNIFORM:
        *out = duo_eval_routing_uniform(spec->route);
        return DUO_OK;
    case DUO_ROUTING_PATTERN:
        if (m && spec->layers != m->config.n_layers)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT, "a pattern of %d letters for a model of %d "
                            "layers: a pattern has one letter per layer", spec->layers,
                            m->config.n_layers);
        *out = duo_eval_routing_uniform(DUO_ROUTE_SMALL);
        memcpy(out->pattern, spec->pattern, (size_t)spec->layers);
        return DUO_OK;
    case DUO_ROUTING_RANDOM:
        return duo_eval_routing_random(spec->p_big, spec->p_small, spec->p_skip,
                                       DUO_EVAL_ROUTE_SEED, out);
    case DUO_ROUTING_ROUTER: {
        if (!m)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT, "a router spec needs the model to load "
                            "the router '%s' for", spec->router_path);
        int budget;
        DUO_TRY(duo_router_load(m, spec->router_path, router, &budget, NULL));
        *out = duo_eval_routing_uniform(DUO_ROUTE_SMALL);
        out->router = *router;
        out->exact = spec->exact;
        out->exact_budget = budget;
        out->exact_beta = EXACT_BETA;
        return DUO_OK;
    }
    case DUO_ROUTING_SIGNAL:
        if (!m)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT, "a signal router spec needs the model to "
                            "load '%s' for", spec->router_path);
        *out = duo_eval_routing_uniform(DUO_ROUTE_SMALL);
        return duo_signal_router_load(m, spec->router_path, &out->signal);
    }
    return duo_fail(DUO_ERR_INTERNAL, "routing spec of unknown kind %d", (int)spec->kind);
}
