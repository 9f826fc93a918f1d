/* Routing specs: the text that names a routing in `duocl eval --routes`, in
 * the study and as the key of an entry of RUN/eval.json; the grammar is in
 * duocl/eval.h. This is the one parser of it, into a typed struct, and the
 * one place a spec becomes the routing evaluation uses.
 *
 * Only public headers are included, so the report (which sees no model/)
 * can read the specs of eval.json with it too. */
#ifndef DUOCL_HOST_ROUTING_SPEC_H
#define DUOCL_HOST_ROUTING_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#include "duocl/eval.h"
#include "duocl/oracle.h"
#include "duocl/routes.h"
#include "duocl/status.h"

enum { DUO_ROUTING_SPEC_PATH_MAX = 1200 };

typedef enum duo_routing_kind {
    DUO_ROUTING_UNIFORM, /* all-big, all-small, all-skip */
    DUO_ROUTING_PATTERN, /* pattern:SBK.. */
    DUO_ROUTING_RANDOM,  /* random:P_BIG[,P_SKIP] */
    DUO_ROUTING_ROUTER,  /* router:PATH[,exact] */
    DUO_ROUTING_SIGNAL   /* signal:PATH (a signal router, study/signal_router.h) */
} duo_routing_kind;

typedef struct duo_routing_spec {
    duo_routing_kind kind;
    duo_route route;                          /* UNIFORM */
    int layers;                               /* PATTERN: its length */
    uint8_t pattern[DUO_EVAL_MAX_LAYERS];     /* PATTERN: the route of each layer */
    double p_big, p_small, p_skip;            /* RANDOM; p_small = 1 - p_big - p_skip */
    char router_path[DUO_ROUTING_SPEC_PATH_MAX]; /* ROUTER, SIGNAL */
    bool exact;                               /* ROUTER: ",exact" */
    /* ROUTER, SIGNAL: the budget K and alphabet of "k<K>-<A>", the folder `duocl router
     * train` names (RUN/router/k2-SB/router.ckpt), when a component of the
     * path is one (the last such); router_budget is -1 otherwise. For labels
     * only: the budget that counts is the one stored in the router file. */
    int router_budget;
    duo_alphabet router_alphabet;
} duo_routing_spec;

/* Parses a spec. layers > 0 also checks that a pattern has one letter per
 * layer; 0 accepts 1 to DUO_EVAL_MAX_LAYERS letters. Errors are
 * DUO_ERR_INVALID_ARGUMENT naming the spec ("--routes SPEC: ...") and what is
 * allowed. */
duo_status duo_routing_spec_parse(const char *text, int layers, duo_routing_spec *out);

struct duo_model;
struct duo_eval_routing;
struct duo_router;

/* The routing evaluation uses for a parsed spec on model m. A router spec
 * loads the router (duo_router_load) into *router, which the caller destroys
 * after the evaluation (*router stays NULL for other kinds; m may be NULL for
 * them). A signal spec loads the signal router into out->signal, which the
 * caller destroys (duo_signal_router_destroy; NULL for other kinds). A pattern must have m's number of layers. */
duo_status duo_routing_spec_routing(const duo_routing_spec *spec, struct duo_model *m,
                                    struct duo_eval_routing *out, struct duo_router **router);

#endif
