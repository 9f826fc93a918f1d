/* duocl tune: tunes CLBlast for one device and one model's training step
 * (duo_tune_device: CLBlast's own tuners, then the built-in and the tuned
 * parameters timed against each other on the step's GEMMs; tuned ones are
 * kept only when faster), and times the model's GEMMs before and after by
 * running this binary's `duocl bench --only gemm` untuned (DUOCL_NO_TUNING=1)
 * and tuned. `duocl tune --measure-job JOB` is the timing child that
 * duo_tune_device runs for each parameter set (duo_tune_measure_job). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "device/tuner.h"
#include "duocl/config.h"
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
    printf("\n== %s: duocl bench --only gemm --gemm clblast ==\n",
           untuned ? "untuned (DUOCL_NO_TUNING=1)" : "tuned");
    fflush(stdout);
    char *argv[14];
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
    argv[n++] = "--gemm"; /* what the tuning is for, whatever the device's default */
    argv[n++] = "clblast";
    argv[n] = NULL;
    if (untuned)
        setenv("DUOCL_NO_TUNING", "1", 1);
    else
        unsetenv("DUOCL_NO_TUNING");
    return duo_run_child(argv, NULL, 0);
}

/* Each GEMM of the step with every set's time, then the totals. */
static void print_comparison(const duo_tune_result *r)
{
    printf("\nsets:");
    for (int s = 0; s < r->set_count; s++)
        printf("  [%d] %s", s, r->set_names[s]);
    printf("\n%-31s %-26s %6s", "GEMM (median ms per call)", "shape", "x/step");
    for (int s = 0; s < r->set_count; s++)
        printf("  %8s[%d]", "", s);
    printf("\n");
    for (int i = 0; i < r->gemm_count; i++) {
        const duo_tune_gemm *g = &r->gemms[i];
        char shape[96];
        int len = snprintf(shape, sizeof shape, "%zux%zux%zu %c%c", g->m, g->n, g->k,
                           g->ta ? 'T' : 'N', g->tb ? 'T' : 'N');
        if (g->batch > 1 && len > 0 && len < 64)
            snprintf(shape + len, sizeof shape - (size_t)len, " x%zu", g->batch);
        printf("%-31s %-26s %6d", g->name, shape, g->count);
        for (int s = 0; s < r->set_count; s++)
            if (r->total_ms[s] > 0)
                printf("  %11.4g", g->ms[s]);
            else
                printf("  %11s", "failed");
        printf("\n");
    }
    printf("%-31s %-26s %6s", "a training step's GEMMs (ms)", "", "");
    for (int s = 0; s < r->set_count; s++)
        if (r->total_ms[s] > 0)
            printf("  %11.1f", r->total_ms[s]);
        else
            printf("  %11s", "failed");
    printf("\n");
}

static void print_decision(const duo_tune_result *r)
{
    const double *t = r->total_ms;
    if (r->kept)
        printf("kept '%s': %.1f ms against %.1f ms with CLBlast's built-in parameters (%.2fx)\n",
               r->set_names[r->kept], t[r->kept], t[0], t[0] / t[r->kept]);
    else if (r->best_tuned)
        printf("built-in parameters kept: the fastest tuned set, '%s', took %.1f ms against %.1f ms "
               "(a tuned set must be %d%% faster)\n",
               r->set_names[r->best_tuned], t[r->best_tuned], t[0], DUO_TUNE_MARGIN_PERCENT);
    else
        printf("built-in parameters kept: no tuned set could be timed\n");
}

void cli_print_tune_event(const duo_tune_event *e, void *user)
{
    (void)user;
    const duo_tune_options *o = e->settings;
    const duo_tuner_run *t = e->tuner;
    switch (e->kind) {
    case DUO_TUNE_EVENT_DEVICE:
        printf("device %s (driver %s), platform %d device %d\n", e->device->name, e->device->driver,
               e->device->platform_index, e->device->device_index);
        if (e->result->model_gemm != DUO_GEMM_CLBLAST)
            printf("note: the model's products run on duocl's built-in GEMM here (%s); the CLBlast "
                   "parameters tuned now apply to runs with \"gemm\": \"clblast\", --gemm clblast "
                   "or DUOCL_GEMM=clblast\n", e->result->model_gemm_reason);
        if (o->m)
            printf("Xgemm tuning shape m=%zu n=%zu k=%zu, ", o->m, o->n, o->k);
        else
            printf("Xgemm tuning shape: the step's heaviest GEMM, made smaller until a call takes "
                   "about %d ms, ", DUO_TUNE_CALL_MS);
        printf("fraction %.3g, Xgemm budget %.0f s, %d timing rounds\n", o->fraction, o->seconds,
               o->rounds);
        break;
    case DUO_TUNE_EVENT_TUNING:
        printf("\n== tuning (logs in %s) ==\n", e->work_dir);
        break;
    case DUO_TUNE_EVENT_TUNER_START:
        if (t->m)
            printf("  %-13s running %s at %zux%zux%zu (up to %.0f s) ... ", t->kernel, t->program,
                   t->m, t->n, t->k, t->budget_s);
        else
            printf("  %-13s running %s (up to %.0f s) ... ", t->kernel, t->program, t->budget_s);
        fflush(stdout);
        break;
    case DUO_TUNE_EVENT_RESULT_SKIPPED:
        fprintf(stderr, "  skipping %s: %s\n", e->path, e->message);
        break;
    case DUO_TUNE_EVENT_TUNER_DONE:
        if (t->outcome == DUO_TUNER_NOT_INSTALLED)
            printf("  %-13s skipped: %s not found in $DUOCL_CLBLAST_TUNERS, $PATH or /usr/bin "
                   "(Debian package clblast-utils)\n", t->kernel, t->program);
        else if (t->found && t->best_ms > 0)
            printf("%.0f s, %s, best %.3f ms\n", t->seconds, duo_tuner_outcome_name(t->outcome),
                   t->best_ms);
        else if (t->found)
            printf("%.0f s, %s\n", t->seconds, duo_tuner_outcome_name(t->outcome));
        else
            printf("%.0f s, %s, no result (kernel stays untuned)\n", t->seconds,
                   duo_tuner_outcome_name(t->outcome));
        break;
    case DUO_TUNE_EVENT_SWITCH_POINT:
        if (e->value > 0)
            printf("  XGEMM_MIN_INDIRECT_SIZE %ld: the direct kernel below m*n*k = %ld^3, "
                   "the tuned Xgemm above (%s)\n", e->value, e->value, e->message);
        else
            printf("  XGEMM_MIN_INDIRECT_SIZE not measured: %s\n", e->message);
        break;
    case DUO_TUNE_EVENT_TIMING:
        printf("\n== built-in against tuned: a training step's %d GEMMs, %d rounds interleaved, "
               "each set in a fresh process ==\n", e->result->gemm_count, e->result->rounds);
        break;
    case DUO_TUNE_EVENT_TIMED:
        if (e->message)
            printf("  round %d  %-28s failed: %s\n", e->round + 1, e->name, e->message);
        else
            printf("  round %d  %-28s %10.1f ms\n", e->round + 1, e->name, e->total_ms);
        fflush(stdout);
        break;
    case DUO_TUNE_EVENT_DECIDED:
        print_comparison(e->result);
        print_decision(e->result);
        break;
    }
    fflush(stdout);
}

static bool parse_shape(const char *s, size_t *m, size_t *n, size_t *k)
{
    char extra;
    return sscanf(s, "%zu,%zu,%zu%c", m, n, k, &extra) == 3 && *m > 0 && *n > 0 && *k > 0;
}

enum { DEVICE, CONFIG, FRACTION, SHAPE, SECONDS, MIN_INDIRECT, ROUNDS, PARAMETERS, NO_BENCH,
       BENCH_ROUNDS, MEASURE_JOB, N_OPTIONS };

static int run_tune(int argc, char **argv)
{
    cli_option opt[N_OPTIONS] = {
        [DEVICE] = {"device", "D", "device selector (default: $DUOCL_DEVICE, else the best device)", NULL},
        [CONFIG] = {"config", "FILE", "the model and batch whose training-step GEMMs are tuned and "
                                      "timed, also for the before/after benches (default "
                                      "configs/bench.json)", NULL},
        [FRACTION] = {"fraction", "F", "fraction of each tuner phase's configurations to try, "
                                       "0 < F <= 1 (default 0.25)", NULL},
        [SHAPE] = {"shape", "M,N,K", "GEMM shape the Xgemm tuner times (default: the step's heaviest "
                                     "GEMM, its larger side halved until a call takes about 40 ms "
                                     "untuned; M and N multiples of 128)", NULL},
        [SECONDS] = {"seconds", "S", "time budget of the Xgemm tuner (default 240); XgemmDirect and "
                                     "the routine tuner get S/2, each copy/pad/transpose tuner S/8. "
                                     "A tuner still running is stopped and its finished phases are used",
                     NULL},
        [MIN_INDIRECT] = {"min-indirect", "N", "CLBlast's XGEMM_MIN_INDIRECT_SIZE (GEMMs with m*n*k "
                                               "below N^3 use the direct kernel): measured with "
                                               "clblast_tuner_routine_xgemm by default; N > 0 proposes "
                                               "N, 0 keeps CLBlast's own", NULL},
        [ROUNDS] = {"rounds", "N", "interleaved rounds timing the built-in against the tuned "
                                   "parameters (default 3)", NULL},
        [PARAMETERS] = {"parameters", "FILE", "time this tuning file's parameters against the built-in "
                                              "ones instead of running the tuners", NULL},
        [NO_BENCH] = {"no-bench", NULL, "skip the before/after timings", NULL},
        [BENCH_ROUNDS] = {"bench-rounds", "N", "before/after bench pairs, interleaved (default 1)", NULL},
        [MEASURE_JOB] = {"measure-job", "FILE", "(internal) time a timing job's GEMMs in this process "
                                                "and write FILE.out (tune's child for each set)", NULL},
    };
    int code = cli_parse(&cli_tune_command, argc, argv, opt, N_OPTIONS, NULL, 0, 0, NULL);
    if (code != CLI_OK)
        return code == CLI_HELP_SHOWN ? CLI_OK : code;
    if (opt[MEASURE_JOB].value) {
        duo_status st = duo_tune_measure_job(opt[MEASURE_JOB].value);
        return st == DUO_OK ? CLI_OK : cli_report(st);
    }
    const char *config_path = opt[CONFIG].value ? opt[CONFIG].value : "configs/bench.json";
    duo_config config;
    duo_status st = duo_config_load(config_path, &config);
    if (st != DUO_OK)
        return cli_report(st);
    duo_tune_options o = {
        .device = cli_device_selector(&opt[DEVICE]),
        .model = &config.model,
        .batch = config.train.batch,
        .fraction = 0.25,
        .seconds = 240.0,
        .rounds = 3,
        .candidate = opt[PARAMETERS].value,
    };
    long rounds = 3, bench_rounds = 1, min_indirect = 0;
    if (!cli_real("tune", &opt[FRACTION], 1e-6, 1.0, &o.fraction) ||
        !cli_real("tune", &opt[SECONDS], 1.0, 1e6, &o.seconds) ||
        !cli_whole("tune", &opt[ROUNDS], 1, DUO_TUNE_MAX_ROUNDS, &rounds) ||
        !cli_whole("tune", &opt[BENCH_ROUNDS], 1, 100, &bench_rounds) ||
        !cli_whole("tune", &opt[MIN_INDIRECT], 0, 1 << 20, &min_indirect))
        return CLI_USER_ERROR;
    o.rounds = (int)rounds;
    if (opt[MIN_INDIRECT].value)
        o.min_indirect = min_indirect > 0 ? (int)min_indirect : -1;
    if (opt[SHAPE].value && !parse_shape(opt[SHAPE].value, &o.m, &o.n, &o.k)) {
        fprintf(stderr, "duocl tune: error: --shape takes M,N,K (positive), got '%s'\n", opt[SHAPE].value);
        return CLI_USER_ERROR;
    }
    printf("model %s: the GEMMs of a training step at batch %d\n", config_path, config.train.batch);

    tune_cli c = {.options = &o, .config = config_path};
    ssize_t len = opt[NO_BENCH].value ? -1 : readlink("/proc/self/exe", c.self, sizeof c.self - 1);
    c.self[len > 0 ? len : 0] = '\0';
    o.callback = on_tune;
    o.user = &c;
    duo_tune_result *r = calloc(1, sizeof *r);
    if (!r) {
        fprintf(stderr, "duocl tune: error: out of memory\n");
        return CLI_INTERNAL_ERROR;
    }
    st = duo_tune_device(&o, r);
    int exit_code = CLI_OK;
    if (st != DUO_OK) {
        switch (r->failed) {
        case DUO_TUNE_FAILED_CACHE:
        case DUO_TUNE_FAILED_WORK_DIR:
        case DUO_TUNE_FAILED_NO_RESULT:
        case DUO_TUNE_FAILED_TIMING:
            fprintf(stderr, "duocl tune: error: %s\n", duo_last_error());
            exit_code = r->failed == DUO_TUNE_FAILED_CACHE ? CLI_USER_ERROR : CLI_INTERNAL_ERROR;
            break;
        case DUO_TUNE_FAILED_SELFTEST:
            fprintf(stderr, "duocl tune: the tuned parameters failed the GEMM self-test; file removed\n");
            exit_code = cli_report(st);
            break;
        default:
            exit_code = cli_report(st);
        }
        free(r);
        return exit_code;
    }
    if (r->kept)
        printf("\nsaved %s (%d kernels); GEMM self-test with them passed\n", r->path, r->kernel_count);
    else
        printf("\nsaved %s: built-in parameters kept (recorded, so `duocl study` does not tune this "
               "device again; delete the file to retune)\n", r->path);
    free(r);
    if (c.self[0])
        for (long i = 0; i < bench_rounds; i++) {
            if (i > 0)
                bench(&c, true);
            bench(&c, false);
        }
    return CLI_OK;
}

const cli_command cli_tune_command = {
    "tune", "duocl tune [--config FILE] [--device D] [--seconds S] [--rounds N] [--parameters FILE]",
    "tune CLBlast's GEMM kernels for a device and a model; keep them only where they beat the "
    "built-in ones",
    run_tune};
