/* duocl bench: GEMM shapes, per-op times, training and routed-evaluation
 * throughput, oracle search rate and start-up times on one device, as tables
 * and as a JSON file; `duocl bench compare` puts JSON files side by side. */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"
#include "bench/bench.h"
#include "bench_cli.h"
#include "commands.h"
#include "duocl/config.h"
#include "duocl/runtime.h"

static const char HELP[] =
    "Sections (--only, comma-separated; default all): gemm, ops, train, eval, oracle, attention,\n"
    "startup.\n"
    "  gemm     GFLOP/s of every GEMM shape of a training step and an evaluation, on CLBlast\n"
    "           and on the built-in GEMM in turn (rows '... builtin'; --gemm sets the GEMM of\n"
    "           every other section)\n"
    "  ops      every op family forward and backward at the bench shapes, and the routed FFN\n"
    "           block at 50% routing whole / GEMMs only / compaction only\n"
    "  train    training tokens/s at p_big 0.5 (forward, backward, clipping, AdamW)\n"
    "  eval     forward tokens/s all-small, half-big, all-big, beside the FLOP fractions\n"
    "  oracle   patterns/s of the oracle's depth-first search (every SB pattern)\n"
    "  attention  causal attention forward+backward, GEMM path vs fused kernels, at T 256-2048\n"
    "           (8 sequences, the config's heads), with each path's memory; training tokens/s\n"
    "           with model.attention gemm and fused\n"
    "  startup  time to the first kernel in a fresh process, PoCL cache warm and cold\n"
    "Times are medians of --repeat runs after --warmup runs, with min-max; the cases of a\n"
    "section run round-robin so that speed drift hits them all alike. Tokens are random.\n\n"
    "duocl bench compare A.json B.json ... prints runs side by side with ratios to A.";

enum { CONFIG, DEVICE, JSON, REPEAT, WARMUP, ONLY, QUICK, PROFILE, TRACE, LABEL, ORACLE_BATCH,
       COLD_REPEAT, PROBE, GEMM, N_OPTIONS = GEMM + 3 };

static bool want(const char *only, const char *section)
{
    if (!only)
        return true;
    size_t n = strlen(section);
    for (const char *p = only; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, section, n) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

static duo_status check_sections(const char *only)
{
    static const char *const known[] = {"gemm", "ops", "train", "eval", "oracle", "attention",
                                        "startup"};
    for (const char *p = only; p && *p;) {
        size_t len = strcspn(p, ",");
        bool ok = false;
        for (int i = 0; i < 7; i++)
            ok |= strlen(known[i]) == len && strncmp(p, known[i], len) == 0;
        if (!ok)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT, "--only: '%.*s' is not a section (allowed: "
                            "gemm, ops, train, eval, oracle, attention, startup)", (int)len, p);
        p += len + (p[len] == ',');
    }
    return DUO_OK;
}

/* In the child of the start-up suite: the times, as one JSON line. */
static int startup_probe(const char *device)
{
    duo_startup_times t;
    duo_status st = duo_bench_startup_probe(device, &t);
    if (st != DUO_OK)
        return cli_report(st);
    printf("{\"runtime_s\": %.6f, \"kernels_s\": %.6f, \"gemm_s\": %.6f}\n", t.runtime, t.kernels,
           t.gemm);
    return CLI_OK;
}

/* ---- running the suites ---- */

typedef struct progress {
    const char *label;
    bool tty;
} progress;

static void show_progress(void *context, int done, int total)
{
    progress *p = context;
    if (!p->tty)
        return;
    fprintf(stderr, "\r%s %d/%d   ", p->label, done, total);
    if (done == total)
        fprintf(stderr, "\r%*s\r", 40, "");
    fflush(stderr);
}

static duo_status write_text(const char *path, const char *text)
{
    if (strcmp(path, "-") == 0) {
        fputs(text, stdout);
        fputc('\n', stdout);
        return fflush(stdout) == 0 ? DUO_OK : duo_fail(DUO_ERR_IO, "cannot write to stdout");
    }
    const void *parts[] = {text, "\n"};
    size_t sizes[] = {strlen(text), 1};
    return duo_write_file_atomic(path, "bench results", parts, sizes, 2);
}

static int run_bench(int argc, char **argv)
{
    cli_option opt[N_OPTIONS] = {
        [CONFIG] = {"config", "FILE", "model shapes and batch (default configs/bench.json)", NULL},
        [DEVICE] = {"device", "D", "device selector (default: $DUOCL_DEVICE, else the best device)", NULL},
        [JSON] = {"json", "OUT", "also write the results as JSON to OUT ('-': stdout, tables go to stderr)", NULL},
        [REPEAT] = {"repeat", "N", "timed runs of each case (default 5; --quick: 2)", NULL},
        [WARMUP] = {"warmup", "N", "untimed runs of each case first (default 1)", NULL},
        [ONLY] = {"only", "LIST", "sections to run, comma-separated (default all; see below)", NULL},
        [QUICK] = {"quick", NULL, "fewer runs, oracle on one sequence, no cold start (a smoke test)", NULL},
        [PROFILE] = {"profile", NULL, "device times from OpenCL events per case and per step piece, "
                                      "as a table and a Chrome trace", NULL},
        [TRACE] = {"trace", "FILE", "where --profile writes the Chrome trace (default duocl-trace.json)", NULL},
        [LABEL] = {"label", "TEXT", "name of this run in 'bench compare' (default: the device)", NULL},
        [ORACLE_BATCH] = {"oracle-batch", "N", "sequences per oracle search (default 4)", NULL},
        [COLD_REPEAT] = {"cold-repeat", "N", "cold starts to time (default 1; each compiles everything)", NULL},
        [PROBE] = {"startup-probe", NULL, "(internal) time runtime, kernels and first GEMM, print JSON", NULL},
        CLI_RUNTIME_OPTIONS,
    };
    int code = cli_parse(&cli_bench_command, argc, argv, opt, N_OPTIONS, NULL, 0, 0, HELP);
    if (code != CLI_OK)
        return code;
    const char *device = cli_device_selector(&opt[DEVICE]);
    duo_runtime_options ro = {.device = device};
    if (!cli_runtime_options("bench", &opt[GEMM], DUO_GEMM_AUTO, &ro))
        return CLI_USER_ERROR;
    /* The start-up suite's fresh processes take them from the environment. */
    if (ro.gemm != DUO_GEMM_AUTO)
        setenv("DUOCL_GEMM", duo_gemm_kind_name(ro.gemm), 1);
    if (ro.kernel_binaries)
        setenv("DUOCL_KERNEL_BINARIES", ro.kernel_binaries, 1);
    if (ro.no_compile)
        setenv("DUOCL_NO_COMPILE", "1", 1);
    if (opt[PROBE].value)
        return startup_probe(device);
    bool quick = opt[QUICK].value != NULL;
    long repeat = quick ? 2 : 5, warmup = 1, oracle_batch = quick ? 1 : 4, cold = quick ? 0 : 1;
    struct { int index; long *value; long lo, hi; } ints[] = {
        {REPEAT, &repeat, 1, DUO_BENCH_MAX_REPEAT}, {WARMUP, &warmup, 0, 100},
        {ORACLE_BATCH, &oracle_batch, 1, 1024}, {COLD_REPEAT, &cold, 0, DUO_BENCH_MAX_REPEAT}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        const char *v = opt[ints[i].index].value;
        if (!v)
            continue;
        char *end;
        long x = strtol(v, &end, 10);
        if (*end || x < ints[i].lo || x > ints[i].hi) {
            fprintf(stderr, "duocl bench: --%s %s: need an integer from %ld to %ld\n",
                    opt[ints[i].index].name, v, ints[i].lo, ints[i].hi);
            return CLI_USER_ERROR;
        }
        *ints[i].value = x;
    }
    const char *only = opt[ONLY].value;
    duo_status st = check_sections(only);
    if (st != DUO_OK)
        return cli_report(st);
    const char *config_path = opt[CONFIG].value ? opt[CONFIG].value : "configs/bench.json";
    duo_config cfg;
    st = duo_config_load(config_path, &cfg);
    if (st != DUO_OK)
        return cli_report(st);
    const char *json = opt[JSON].value;
    FILE *out = json && strcmp(json, "-") == 0 ? stderr : stdout;
    bool profile = opt[PROFILE].value != NULL;

    ro.profiling = profile;
    if (ro.gemm == DUO_GEMM_AUTO)
        ro.gemm = cfg.model.gemm;
    duo_runtime *rt;
    st = duo_runtime_create(&ro, &rt);
    if (st != DUO_OK)
        return cli_report(st);
    duo_bench_report report;
    duo_bench_report_init(&report);
    report.repeat = (int)repeat;
    report.warmup = (int)warmup;
    duo_bench_report_describe(&report, rt, config_path, &cfg, opt[LABEL].value);
    bench_print_header(out, &report);
    fprintf(out, "GEMM     %s (%s)%s%s\n", duo_gemm_kind_name(duo_runtime_gemm(rt)),
            duo_runtime_gemm_reason(rt), duo_runtime_kernel_binaries(rt) ? "; kernels from " : "",
            duo_runtime_kernel_binaries(rt) ? duo_runtime_kernel_binaries(rt) : "");

    duo_trace *trace = NULL;
    if (profile)
        st = duo_trace_create(rt, &trace);
    progress prog = {.tty = isatty(STDERR_FILENO) == 1};
    duo_bench_suite_options so = {
        .config = &cfg,
        .run = {.warmup = (int)warmup, .repeat = (int)repeat, .trace = trace,
                .progress = show_progress, .progress_context = &prog},
        .oracle_batch = (size_t)oracle_batch,
        .seed = 1,
    };
    static const struct {
        const char *section;
        duo_status (*suite)(duo_runtime *, const duo_bench_suite_options *, duo_bench_report *);
    } suites[] = {
        {"gemm", duo_bench_gemm_suite}, {"ops", duo_bench_op_suite},
        {"train", duo_bench_train_suite}, {"eval", duo_bench_eval_suite},
        {"oracle", duo_bench_oracle_suite}, {"attention", duo_bench_attention_suite},
    };
    for (size_t i = 0; i < sizeof suites / sizeof suites[0] && st == DUO_OK; i++) {
        if (!want(only, suites[i].section))
            continue;
        prog.label = suites[i].section;
        int before = report.count;
        st = suites[i].suite(rt, &so, &report);
        if (st == DUO_OK)
            bench_print_section(out, &report, suites[i].section, before);
    }
    duo_runtime_destroy(rt);
    if (st == DUO_OK && want(only, "startup")) {
        int before = report.count;
        char self[1024];
        ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
        self[len > 0 ? len : 0] = '\0';
        prog.label = "startup";
        duo_bench_startup_options so2 = {.program = self, .device = device,
                                         .warm_repeat = (int)(repeat < 5 ? repeat : 5),
                                         .cold_repeat = (int)cold, .progress = show_progress,
                                         .progress_context = &prog};
        st = len > 0 ? duo_bench_startup_suite(&so2, &report)
                     : duo_fail(DUO_ERR_IO, "cannot find this program's path (/proc/self/exe)");
        if (st == DUO_OK)
            bench_print_section(out, &report, "startup", before);
    }
    if (st == DUO_OK && trace) {
        bench_print_profile(out, trace);
        const char *path = opt[TRACE].value ? opt[TRACE].value : "duocl-trace.json";
        st = duo_trace_write_chrome(trace, path);
        if (st == DUO_OK)
            fprintf(out, "Chrome trace (chrome://tracing or ui.perfetto.dev): %s\n", path);
    }
    report.load_end = duo_load_average();
    fprintf(out, "\nload average (1 min): %.2f at the start, %.2f at the end (other jobs; "
                 "%ld cores here)\n", report.load_start, report.load_end, sysconf(_SC_NPROCESSORS_ONLN));
    if (st == DUO_OK && json) {
        char *text;
        st = duo_bench_report_to_json(&report, &text);
        if (st == DUO_OK) {
            st = write_text(json, text);
            free(text);
        }
        if (st == DUO_OK && strcmp(json, "-") != 0)
            fprintf(out, "results: %s\n", json);
    }
    duo_trace_destroy(trace);
    duo_bench_report_free(&report);
    return cli_report(st);
}

static int run_command(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "compare") == 0)
        return bench_compare(argc - 1, argv + 1);
    return run_bench(argc, argv);
}

const cli_command cli_bench_command = {
    .name = "bench",
    .usage = "duocl bench [--config FILE] [--device D] [--json OUT] [--repeat N] [--only LIST] "
             "[--profile]\n       duocl bench compare A.json B.json ...",
    .summary = "measure GEMMs, ops, training, routed evaluation, the oracle and start-up on a device",
    .run = run_command,
};
