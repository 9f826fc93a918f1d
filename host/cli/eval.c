/* duocl eval: loss, perplexity and bits per byte of a trained model under one
 * routing, with the budget that routing actually used. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "duocl/eval.h"
#include "study/run_files.h"

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
    "under the SPEC; an eval.json that does not parse is left as it is (exit 1)\n"
    "unless --force.";

enum { ROUTES, TOKENS, DOMAINS, BATCH, CHECKPOINT, DEVICE, FORCE, GEMM, N_OPTIONS = GEMM + 3 };

/* The table's header, then one row per domain as it is done. */
void cli_print_eval_domain(const duo_eval_summary *s, int index, void *user)
{
    (void)user;
    const duo_eval_domain_summary *r = &s->domain[index];
    if (index == 0)
        printf("%s on %s\n  domain     loss     ppl       bits/byte  budget  FLOP frac  tokens/s\n",
               s->routes, s->checkpoint);
    printf("  %-9s  %.4f   %-8.3f  %.4f     %.2f    %.3f      %.0f\n", r->name, r->loss, exp(r->loss),
           r->bits_per_byte, r->budget, r->flop_fraction, (double)r->tokens / r->seconds);
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
        {"force", NULL, "if RUN/eval.json is damaged, keep it as eval.json.bad and start a new one", NULL},
        CLI_RUNTIME_OPTIONS,
    };
    const char *run_dir;
    int code = cli_parse(&cli_eval_command, argc, argv, o, N_OPTIONS, &run_dir, 1, 1, HELP);
    if (code != CLI_OK)
        return code;
    if (!o[ROUTES].value) {
        fprintf(stderr, "duocl eval: --routes SPEC is required (see 'duocl eval --help')\n");
        return CLI_USER_ERROR;
    }
    long tokens = 0, batch = 0; /* 0: the run's */
    if (!cli_whole("eval", &o[TOKENS], 1, CLI_MAX_TOKENS, &tokens) ||
        !cli_whole("eval", &o[BATCH], 1, CLI_MAX_BATCH, &batch))
        return CLI_USER_ERROR;
    /* Under mpirun each rank opens its own device and evaluates its share
     * of the batches; rank 0 prints and writes. */
    char device[256];
    const char *selector;
    if (!cli_rank_device("eval", cli_device_selector(&o[DEVICE]), device, sizeof device, &selector))
        return CLI_USER_ERROR;
    duo_eval_options opt = {.run_dir = run_dir, .checkpoint = o[CHECKPOINT].value,
                            .routes = o[ROUTES].value, .tokens = (size_t)tokens,
                            .domains = o[DOMAINS].value, .batch = (size_t)batch,
                            .device = selector, .force = o[FORCE].value != NULL,
                            .callback = cli_print_eval_domain};
    /* The GEMM and where kernels come from: the options, else the run's
     * model.gemm, else the library's choice (duo_eval_run makes the runtime). */
    duo_runtime_options ro = {.device = opt.device};
    char config_path[4200];
    duo_config config;
    duo_gemm_kind run_gemm = DUO_GEMM_AUTO;
    snprintf(config_path, sizeof config_path, "%s/%s", run_dir, DUO_RUN_CONFIG);
    if (!o[GEMM].value && duo_config_load(config_path, &config) == DUO_OK)
        run_gemm = config.model.gemm;
    duo_clear_error();
    if (!cli_runtime_options("eval", &o[GEMM], run_gemm, &ro))
        return CLI_USER_ERROR;
    duo_runtime *rt = NULL;
    duo_status st = DUO_OK;
    if (ro.gemm != DUO_GEMM_AUTO || ro.kernel_binaries || ro.no_compile)
        st = duo_runtime_create(&ro, &rt);
    if (st != DUO_OK)
        return cli_report(st);
    duo_eval_summary summary;
    summary.bad_copy[0] = '\0';
    st = duo_eval_run(rt, &opt, &summary);
    duo_runtime_destroy(rt);
    if (summary.bad_copy[0])
        fprintf(stderr, "duocl eval: the damaged %s was kept as %s\n", summary.path, summary.bad_copy);
    return cli_report(st);
}

const cli_command cli_eval_command = {
    .name = "eval",
    .usage = "duocl eval RUN --routes SPEC [--tokens N] [--domains LIST] [--gemm clblast|builtin]\n"
             "                  [--kernel-binaries DIR] [--no-compile]",
    .summary = "evaluate a trained model under a routing: loss, perplexity, bits/byte, budget used",
    .run = run_eval,
};
