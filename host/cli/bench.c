/* duocl bench: GEMM shapes, per-op times, training and routed-evaluation
 * throughput, oracle search rate and start-up times on one device, as tables
 * and as a JSON file; `duocl bench compare` puts JSON files side by side. */
#define _DEFAULT_SOURCE /* getloadavg */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "bench/bench.h"
#include "bench_cli.h"
#include "commands.h"
#include "duocl/config.h"
#include "duocl/runtime.h"
#include "base/fileio.h"
#include "device/gemm.h"
#include "device/tuning.h"

extern char **environ;

static const char HELP[] =
    "Sections (--only, comma-separated; default all): gemm, ops, train, eval, oracle, startup.\n"
    "  gemm     GFLOP/s of every GEMM shape of a training step and an evaluation\n"
    "  ops      every op family forward and backward at the bench shapes, and the routed FFN\n"
    "           block at 50% routing whole / GEMMs only / compaction only\n"
    "  train    training tokens/s at p_big 0.5 (forward, backward, clipping, AdamW)\n"
    "  eval     forward tokens/s all-small, half-big, all-big, beside the FLOP fractions\n"
    "  oracle   patterns/s of the oracle's depth-first search (every SB pattern)\n"
    "  startup  time to the first kernel in a fresh process, PoCL cache warm and cold\n"
    "Times are medians of --repeat runs after --warmup runs, with min-max; the cases of a\n"
    "section run round-robin so that speed drift hits them all alike. Tokens are random.\n\n"
    "duocl bench compare A.json B.json ... prints runs side by side with ratios to A.";

enum { CONFIG, DEVICE, JSON, REPEAT, WARMUP, ONLY, QUICK, PROFILE, TRACE, LABEL, ORACLE_BATCH,
       COLD_REPEAT, PROBE, N_OPTIONS };

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
    static const char *const known[] = {"gemm", "ops", "train", "eval", "oracle", "startup"};
    for (const char *p = only; p && *p;) {
        size_t len = strcspn(p, ",");
        bool ok = false;
        for (int i = 0; i < 6; i++)
            ok |= strlen(known[i]) == len && strncmp(p, known[i], len) == 0;
        if (!ok)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT, "--only: '%.*s' is not a section (allowed: "
                            "gemm, ops, train, eval, oracle, startup)", (int)len, p);
        p += len + (p[len] == ',');
    }
    return DUO_OK;
}

/* ---- start-up: a fresh process of this binary, PoCL cache warm or empty ---- */

/* In the child: runtime, every duocl kernel, then one GEMM of the model's
 * projection shape (CLBlast compiles its GEMM kernels on first use). */
static int startup_probe(const char *device)
{
    double t0 = duo_now_seconds();
    duo_runtime_options ro = {.device = device};
    duo_runtime *rt;
    duo_status st = duo_runtime_create(&ro, &rt);
    if (st != DUO_OK)
        return cli_report(st);
    double t1 = duo_now_seconds();
    st = duo_runtime_compile_all(rt);
    double t2 = duo_now_seconds();
    cl_mem a = NULL, b = NULL, c = NULL;
    size_t m = 4096, n = 256, k = 256;
    if (st == DUO_OK)
        st = duo_buffer_create(rt, m * k * sizeof(float), &a);
    if (st == DUO_OK)
        st = duo_buffer_create(rt, k * n * sizeof(float), &b);
    if (st == DUO_OK)
        st = duo_buffer_create(rt, m * n * sizeof(float), &c);
    if (st == DUO_OK)
        st = duo_buffer_fill_zero(rt, a, m * k * sizeof(float));
    if (st == DUO_OK)
        st = duo_buffer_fill_zero(rt, b, k * n * sizeof(float));
    if (st == DUO_OK)
        st = duo_gemm(rt, m, n, k, 1.0f, (duo_matrix){a, 0, k, false}, (duo_matrix){b, 0, n, false},
                      0.0f, (duo_matrix){c, 0, n, false});
    if (st == DUO_OK)
        st = duo_runtime_finish(rt);
    double t3 = duo_now_seconds();
    duo_buffer_release(&a);
    duo_buffer_release(&b);
    duo_buffer_release(&c);
    duo_runtime_destroy(rt);
    if (st != DUO_OK)
        return cli_report(st);
    printf("{\"runtime_s\": %.6f, \"kernels_s\": %.6f, \"gemm_s\": %.6f}\n", t1 - t0, t2 - t1,
           t3 - t2);
    return CLI_OK;
}

typedef struct probe_result {
    double wall, runtime, kernels, gemm;
} probe_result;

/* Runs `duocl bench --startup-probe` with POCL_CACHE_DIR=cache_dir (NULL:
 * inherited) and reads its timings; wall is from spawn to exit. */
static duo_status run_probe(const char *device, const char *cache_dir, probe_result *out)
{
    char exe[1024];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return duo_fail(DUO_ERR_IO, "cannot find this program's path (/proc/self/exe)");
    exe[len] = '\0';
    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    char **env = calloc(n_env + 2, sizeof *env);
    char cache_var[1200];
    if (!env)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++)
        if (!cache_dir || strncmp(environ[i], "POCL_CACHE_DIR=", 15) != 0)
            env[k++] = environ[i];
    if (cache_dir) {
        snprintf(cache_var, sizeof cache_var, "POCL_CACHE_DIR=%s", cache_dir);
        env[k++] = cache_var;
    }
    char *argv[] = {exe, "bench", "--startup-probe", "--device", (char *)(device ? device : ""), NULL};
    if (!device)
        argv[3] = NULL;
    int fds[2];
    if (pipe(fds) != 0) {
        free(env);
        return duo_fail(DUO_ERR_IO, "pipe failed");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    pid_t pid;
    fflush(NULL);
    double t0 = duo_now_seconds();
    int err = posix_spawn(&pid, exe, &actions, NULL, argv, env);
    posix_spawn_file_actions_destroy(&actions);
    free(env);
    close(fds[1]);
    if (err != 0) {
        close(fds[0]);
        return duo_fail(DUO_ERR_IO, "cannot start %s for the start-up probe", exe);
    }
    char text[512] = "";
    size_t used = 0;
    ssize_t got;
    while ((got = read(fds[0], text + used, sizeof text - 1 - used)) > 0)
        used += (size_t)got;
    text[used] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    out->wall = duo_now_seconds() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        sscanf(text, "{\"runtime_s\": %lf, \"kernels_s\": %lf, \"gemm_s\": %lf}", &out->runtime,
               &out->kernels, &out->gemm) != 3)
        return duo_fail(DUO_ERR_INTERNAL, "the start-up probe (a child 'duocl bench "
                        "--startup-probe') failed; run it by hand to see why");
    return DUO_OK;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static duo_status startup_suite(const char *device, int warm_repeat, int cold_repeat,
                                duo_bench_report *r)
{
    probe_result p;
    DUO_TRY(run_probe(device, NULL, &p)); /* fills the cache if this process has not */
    for (int cold = 0; cold <= 1; cold++) {
        int n = cold ? cold_repeat : warm_repeat;
        if (n <= 0)
            continue;
        duo_bench_case c;
        memset(&c, 0, sizeof c);
        snprintf(c.section, sizeof c.section, "startup");
        snprintf(c.name, sizeof c.name, cold ? "cold" : "warm");
        c.device_median = NAN;
        c.cores = NAN;
        double parts[3][DUO_BENCH_MAX_REPEAT];
        for (int i = 0; i < n; i++) {
            char dir[] = "/tmp/duocl-cold-cache-XXXXXX";
            if (cold && !mkdtemp(dir))
                return duo_fail(DUO_ERR_IO, "cannot make a temporary PoCL cache folder in /tmp");
            if (isatty(STDERR_FILENO))
                fprintf(stderr, "\rstartup: %s run %d/%d   ", c.name, i + 1, n);
            duo_status st = run_probe(device, cold ? dir : NULL, &p);
            if (cold)
                nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
            if (isatty(STDERR_FILENO))
                fprintf(stderr, "\r%*s\r", 40, "");
            DUO_TRY(st);
            c.samples[i] = p.wall;
            parts[0][i] = p.runtime;
            parts[1][i] = p.kernels;
            parts[2][i] = p.gemm;
        }
        double sorted[DUO_BENCH_MAX_REPEAT];
        memcpy(sorted, c.samples, (size_t)n * sizeof *sorted);
        duo_bench_stats_of(sorted, n, &c.seconds);
        duo_bench_stats s[3];
        for (int j = 0; j < 3; j++)
            duo_bench_stats_of(parts[j], n, &s[j]);
        snprintf(c.shape, sizeof c.shape, "runtime %.3f s, kernels %.3f s, first GEMM %.3f s",
                 s[0].median, s[1].median, s[2].median);
        DUO_TRY(duo_bench_report_add(r, &c));
    }
    return DUO_OK;
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

/* The 1-minute load average: how busy the machine was with other work. */
static double load_average(void)
{
    double load;
    return getloadavg(&load, 1) == 1 ? load : NAN;
}

static void fill_header(duo_bench_report *r, duo_runtime *rt, const char *config_path,
                        const duo_config *cfg, const char *label)
{
    const duo_device_info *d = duo_runtime_device(rt);
    snprintf(r->device, sizeof r->device, "%s", d->name);
    snprintf(r->platform, sizeof r->platform, "%s", d->platform);
    snprintf(r->driver, sizeof r->driver, "%s", d->driver);
    snprintf(r->profile, sizeof r->profile, "%s", duo_runtime_profile_name(rt));
    r->compute_units = d->compute_units;
    const char *threads = getenv("POCL_MAX_PTHREAD_COUNT");
    if (threads && *threads)
        snprintf(r->environment, sizeof r->environment, "POCL_MAX_PTHREAD_COUNT=%s", threads);
    if (label)
        snprintf(r->label, sizeof r->label, "%s", label);
    else
        snprintf(r->label, sizeof r->label, "%.80s%s%.40s", d->name, r->environment[0] ? " " : "",
                 r->environment);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(r->date, sizeof r->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(r->config, sizeof r->config, "%s", config_path);
    r->model = cfg->model;
    r->batch = cfg->train.batch;
    r->load_start = load_average();
    /* duo_runtime_create applied the device's tuning file if it exists (and
     * failed if it was bad), unless DUOCL_NO_TUNING is set. */
    char path[1400];
    duo_tuning_path(d, path, sizeof path);
    const char *off = getenv("DUOCL_NO_TUNING");
    bool tuned = path[0] && access(path, R_OK) == 0 && !(off && *off && strcmp(off, "0") != 0);
    snprintf(r->gemm_tuning, sizeof r->gemm_tuning, "%s%.250s%s", tuned ? "tuned (" : "untuned",
             tuned ? path : "", tuned ? ")" : "");
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
    };
    int code = cli_parse(&cli_bench_command, argc, argv, opt, N_OPTIONS, NULL, 0, 0, HELP);
    if (code != CLI_OK)
        return code;
    const char *device = cli_device_selector(&opt[DEVICE]);
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

    duo_runtime_options ro = {.device = device, .profiling = profile};
    duo_runtime *rt;
    st = duo_runtime_create(&ro, &rt);
    if (st != DUO_OK)
        return cli_report(st);
    duo_bench_report report;
    duo_bench_report_init(&report);
    report.repeat = (int)repeat;
    report.warmup = (int)warmup;
    fill_header(&report, rt, config_path, &cfg, opt[LABEL].value);
    bench_print_header(out, &report);

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
        {"oracle", duo_bench_oracle_suite},
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
        st = startup_suite(device, (int)(repeat < 5 ? repeat : 5), (int)cold, &report);
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
    report.load_end = load_average();
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
