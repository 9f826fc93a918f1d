/* duocl tune: tunes CLBlast for one device (duo_tune_device: CLBlast's own
 * tuners, the best parameters stored in the user's cache, GEMM checked with
 * them), and times the model's GEMMs before and after by running this binary's
 * `duocl bench --only gemm` untuned (DUOCL_NO_TUNING=1) and tuned. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "device/tuner.h"
#include "duocl/tune.h"

typedef struct tune_cli {
    const duo_tune_options *options;
    const char *config;  /* --config for the benches */
    char self[1024];     /* this binary; "" when the benches are off */
} tune_cli;

static int bench(const tune_cli *c, bool untuned);

/* duocl tune's own: the untuned bench as soon as the device is known. */
static void on_tune(const duo_tune_event *e, void *user)
{
    const tune_cli *c = user;
    cli_print_tune_event(e, NULL);
    if (e->kind == DUO_TUNE_EVENT_DEVICE && c->self[0])
        bench(c, true);
}

static int bench(const tune_cli *c, bool untuned)
{
    printf("\n== %s: duocl bench --only gemm ==\n", untuned ? "untuned (DUOCL_NO_TUNING=1)" : "tuned");
    fflush(stdout);
    char *argv[12];
    int n = 0;
    argv[n++] = (char *)c->self;
    argv[n++] = "bench";
    argv[n++] = "--only";
    argv[n++] = "gemm";
    if (c->options->device) {
        argv[n++] = "--device";
        argv[n++] = (char *)c->options->device;
    }
    if (c->config) {
        argv[n++] = "--config";
        argv[n++] = (char *)c->config;
    }
    argv[n] = NULL;
    if (untuned)
        setenv("DUOCL_NO_TUNING", "1", 1);
    else
        unsetenv("DUOCL_NO_TUNING");
    return duo_run_child(argv, NULL, 0);
}

void cli_print_tune_event(const duo_tune_event *e, void *user)
{
    (void)user;
    const duo_tune_options *o = e->settings;
    const duo_tuner_run *t = e->tuner;
    switch (e->kind) {
    case DUO_TUNE_EVENT_DEVICE:
        printf("device %s (driver %s), platform %d device %d\ntuning shape m=%zu n=%zu k=%zu, "
               "fraction %.3g, Xgemm budget %.0f s\n",
               e->device->name, e->device->driver, e->device->platform_index, e->device->device_index,
               o->m, o->n, o->k, o->fraction, o->seconds);
        break;
    case DUO_TUNE_EVENT_TUNING:
        printf("\n== tuning (logs in %s) ==\n", e->work_dir);
        break;
    case DUO_TUNE_EVENT_TUNER_START:
        printf("  %-13s running %s (up to %.0f s) ... ", t->kernel, t->program, t->budget_s);
        fflush(stdout);
        break;
    case DUO_TUNE_EVENT_RESULT_SKIPPED:
        fprintf(stderr, "  skipping %s: %s\n", e->path, e->message);
        break;
    case DUO_TUNE_EVENT_TUNER_DONE:
        if (t->outcome == DUO_TUNER_NOT_INSTALLED)
            printf("  %-13s skipped: %s not installed (Debian package clblast-utils)\n", t->kernel, t->path);
        else if (t->found)
            printf("%.0f s, %s, best %.3f ms\n", t->seconds, duo_tuner_outcome_name(t->outcome), t->best_ms);
        else
            printf("%.0f s, %s, no result (kernel stays untuned)\n", t->seconds,
                   duo_tuner_outcome_name(t->outcome));
        break;
    }
}

/* "M,N,K", each a whole number from 1 to 65536. */
static bool parse_shape(const char *s, size_t *m, size_t *n, size_t *k)
{
    size_t *dims[] = {m, n, k};
    for (int i = 0; i < 3; i++) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 65536 || *end != (i < 2 ? ',' : '\0'))
            return false;
        *dims[i] = (size_t)v;
        s = end + 1;
    }
    return true;
}

enum { DEVICE, FRACTION, SHAPE, SECONDS, CONFIG, NO_BENCH, ROUNDS, MIN_INDIRECT, N_OPTIONS };

static int run_tune(int argc, char **argv)
{
    cli_option opt[N_OPTIONS] = {
        [DEVICE] = {"device", "D", "device selector (default: $DUOCL_DEVICE, else the best device)", NULL},
        [FRACTION] = {"fraction", "F", "fraction of each tuner phase's configurations to try, "
                                       "0 < F <= 1 (default 0.25)", NULL},
        [SHAPE] = {"shape", "M,N,K", "GEMM shape the tuners time (default 1024,256,256, like the "
                                     "model's 4096x256x256; keep M, N multiples of 128)", NULL},
        [SECONDS] = {"seconds", "S", "time budget of the Xgemm tuner (default 240); XgemmDirect gets "
                                     "S/2, each copy/pad/transpose tuner S/8. A tuner still running "
                                     "is stopped and its finished phases are used", NULL},
        [CONFIG] = {"config", "FILE", "bench config for the before/after GEMM timings", NULL},
        [NO_BENCH] = {"no-bench", NULL, "skip the before/after timings", NULL},
        [ROUNDS] = {"rounds", "N", "before/after bench pairs, interleaved (default 1)", NULL},
        [MIN_INDIRECT] = {"min-indirect", "N", "CLBlast's XGEMM_MIN_INDIRECT_SIZE: GEMMs with m*n*k "
                                               "below N^3 use the direct kernel (default 128; 0 keeps "
                                               "CLBlast's own)", NULL},
    };
    int code = cli_parse(&cli_tune_command, argc, argv, opt, N_OPTIONS, NULL, 0, 0, NULL);
    if (code != CLI_OK)
        return code == CLI_HELP_SHOWN ? CLI_OK : code;
    duo_tune_options o = {
        .device = cli_device_selector(&opt[DEVICE]),
        .fraction = 0.25,
        .seconds = 240.0,
        .m = 1024, .n = 256, .k = 256,
    };
    long rounds = 1, min_indirect = -1;
    if (!cli_real("tune", &opt[FRACTION], 0, 1, &o.fraction) ||
        !cli_real("tune", &opt[SECONDS], 0.001, 1e7, &o.seconds) ||
        !cli_whole("tune", &opt[ROUNDS], 1, 1000, &rounds) ||
        !cli_whole("tune", &opt[MIN_INDIRECT], 0, 1 << 20, &min_indirect))
        return CLI_USER_ERROR;
    if (!(o.fraction > 0)) {
        fprintf(stderr, "duocl tune: --fraction '%s': allowed a number in (0, 1]\n", opt[FRACTION].value);
        return CLI_USER_ERROR;
    }
    if (opt[SHAPE].value && !parse_shape(opt[SHAPE].value, &o.m, &o.n, &o.k)) {
        fprintf(stderr, "duocl tune: error: --shape takes M,N,K (each 1 to 65536), got '%s'\n", opt[SHAPE].value);
        return CLI_USER_ERROR;
    }
    if (opt[MIN_INDIRECT].value)
        o.min_indirect = min_indirect > 0 ? (int)min_indirect : -1;

    tune_cli c = {.options = &o, .config = opt[CONFIG].value};
    ssize_t len = opt[NO_BENCH].value ? -1 : readlink("/proc/self/exe", c.self, sizeof c.self - 1);
    c.self[len > 0 ? len : 0] = '\0';
    o.callback = on_tune;
    o.user = &c;
    duo_tune_result r;
    duo_status st = duo_tune_device(&o, &r);
    if (st != DUO_OK)
        switch (r.failed) {
        case DUO_TUNE_FAILED_CACHE:
        case DUO_TUNE_FAILED_WORK_DIR:
        case DUO_TUNE_FAILED_NO_RESULT:
            fprintf(stderr, "duocl tune: error: %s\n", duo_last_error());
            return r.failed == DUO_TUNE_FAILED_CACHE ? CLI_USER_ERROR : CLI_INTERNAL_ERROR;
        case DUO_TUNE_FAILED_SELFTEST:
            fprintf(stderr, "duocl tune: the tuned parameters failed the GEMM self-test; file removed\n");
            return cli_report(st);
        default:
            return cli_report(st);
        }
    printf("\nsaved %s (%d kernels); GEMM self-test with them passed\n", r.path, r.kernel_count);
    if (c.self[0])
        for (int i = 0; i < rounds; i++) {
            if (i > 0)
                bench(&c, true);
            bench(&c, false);
        }
    return CLI_OK;
}

const cli_command cli_tune_command = {
    "tune", "duocl tune [--device D] [--fraction F] [--shape M,N,K] [--seconds S]",
    "tune CLBlast's GEMM kernels for a device; store the parameters in the user's cache",
    run_tune};
