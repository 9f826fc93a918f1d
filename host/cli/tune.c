/* duocl tune: runs CLBlast's own tuners (Debian's clblast-utils) on one device,
 * keeps the best parameters per kernel in the user's cache (see host/tuning.h),
 * checks GEMM with them, and times the model's GEMMs before and after by
 * running `duocl bench --only gemm` untuned (DUOCL_NO_TUNING=1) and tuned. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "platforms/environment.h"
#include "base/fileio.h"
#include "device/tuning.h"
#include "cli.h"
#include "commands.h"
#include "duocl/selftest.h"

typedef struct tuner {
    const char *program;  /* under /usr/bin */
    const char *kernel;   /* CLBlastOverrideParameters kernel name */
    double budget_share;  /* of --seconds */
} tuner;

static const tuner TUNERS[] = {
    {"clblast_tuner_xgemm", "Xgemm", 1.0},
    {"clblast_tuner_xgemm_direct", "XgemmDirect", 0.5},
    {"clblast_tuner_copy_fast", "Copy", 0.125},
    {"clblast_tuner_copy_pad", "Pad", 0.125},
    {"clblast_tuner_transpose_fast", "Transpose", 0.125},
    {"clblast_tuner_transpose_pad", "Padtranspose", 0.125},
};
enum { TUNER_COUNT = sizeof TUNERS / sizeof TUNERS[0] };

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Runs argv in `dir` with output to dir/log.txt; kills it after `seconds`.
 * Returns the exit status, -2 when killed on time, -1 when it did not start. */
static int run_child(char *const argv[], const char *dir, double seconds, bool quiet_env_untuned)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (dir) {
            if (chdir(dir) != 0)
                _exit(127);
            int fd = open("log.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
        }
        if (quiet_env_untuned)
            setenv("DUOCL_NO_TUNING", "1", 1);
        execv(argv[0], argv);
        _exit(127);
    }
    double start = duo_now_seconds();
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (r < 0 && errno != EINTR)
            return -1;
        if (seconds > 0 && duo_now_seconds() - start > seconds) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -2;
        }
        sleep_ms(200);
    }
}

/* Best result among the clblast_*.json files a tuner left in dir (one per phase). */
static bool collect(const char *dir, const char *kernel, duo_tuning_kernel *best)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool found = false;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "clblast_", 8) != 0 || len < 5 ||
            strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        duo_tuning_kernel k;
        duo_status st = duo_tuning_read_clblast_result(path, kernel, &k);
        if (st != DUO_OK) {
            fprintf(stderr, "  skipping %s: %s\n", path, duo_last_error());
            continue;
        }
        if (!found || k.time_ms < best->time_ms)
            *best = k;
        found = true;
    }
    closedir(d);
    return found;
}

static int bench(const char *self, const char *device, const char *config, bool untuned)
{
    printf("\n== %s: duocl bench --only gemm ==\n", untuned ? "untuned (DUOCL_NO_TUNING=1)" : "tuned");
    fflush(stdout);
    char *argv[12];
    int n = 0;
    argv[n++] = (char *)self;
    argv[n++] = "bench";
    argv[n++] = "--only";
    argv[n++] = "gemm";
    if (device) {
        argv[n++] = "--device";
        argv[n++] = (char *)device;
    }
    if (config) {
        argv[n++] = "--config";
        argv[n++] = (char *)config;
    }
    argv[n] = NULL;
    return run_child(argv, NULL, 0, untuned);
}

static bool parse_shape(const char *s, size_t *m, size_t *n, size_t *k)
{
    char extra;
    return sscanf(s, "%zu,%zu,%zu%c", m, n, k, &extra) == 3 && *m > 0 && *n > 0 && *k > 0;
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
    double fraction = opt[FRACTION].value ? atof(opt[FRACTION].value) : 0.25;
    double seconds = opt[SECONDS].value ? atof(opt[SECONDS].value) : 240.0;
    int rounds = opt[ROUNDS].value ? atoi(opt[ROUNDS].value) : 1;
    size_t m = 1024, n = 256, k = 256;
    if (!(fraction > 0 && fraction <= 1)) {
        fprintf(stderr, "duocl tune: error: --fraction must be in (0, 1], got %s\n", opt[FRACTION].value);
        return CLI_USER_ERROR;
    }
    if (!(seconds > 0) || rounds < 1) {
        fprintf(stderr, "duocl tune: error: --seconds must be > 0 and --rounds >= 1\n");
        return CLI_USER_ERROR;
    }
    if (opt[SHAPE].value && !parse_shape(opt[SHAPE].value, &m, &n, &k)) {
        fprintf(stderr, "duocl tune: error: --shape takes M,N,K (positive), got '%s'\n", opt[SHAPE].value);
        return CLI_USER_ERROR;
    }
    const char *selector = cli_device_selector(&opt[DEVICE]);

    /* The device, without applying an old (possibly bad) tuning file. */
    setenv("DUOCL_NO_TUNING", "1", 1);
    duo_runtime *rt;
    duo_status st = duo_runtime_create(&(duo_runtime_options){.device = selector}, &rt);
    if (st != DUO_OK)
        return cli_report(st);
    duo_device_info dev = *duo_runtime_device(rt);
    duo_runtime_destroy(rt);
    char path[1400];
    duo_tuning_path(&dev, path, sizeof path);
    if (!path[0]) {
        fprintf(stderr, "duocl tune: error: no cache folder ($XDG_CACHE_HOME and $HOME unset)\n");
        return CLI_USER_ERROR;
    }
    printf("device %s (driver %s), platform %d device %d\ntuning shape m=%zu n=%zu k=%zu, "
           "fraction %.3g, Xgemm budget %.0f s\n",
           dev.name, dev.driver, dev.platform_index, dev.device_index, m, n, k, fraction, seconds);

    char self[1024];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    bool can_bench = len > 0 && !opt[NO_BENCH].value;
    if (can_bench)
        self[len] = '\0';
    if (can_bench)
        bench(self, selector, opt[CONFIG].value, true);

    char work[1400];
    char cache[1024];
    duo_cache_dir(cache, sizeof cache);
    snprintf(work, sizeof work, "%s/tuning/work-XXXXXX", cache);
    duo_make_directories(cache);
    char tuning_dir[1200];
    snprintf(tuning_dir, sizeof tuning_dir, "%s/tuning", cache);
    duo_make_directories(tuning_dir);
    if (!mkdtemp(work)) {
        fprintf(stderr, "duocl tune: error: cannot create a work folder under %s\n", tuning_dir);
        return CLI_INTERNAL_ERROR;
    }

    duo_tuning t = {0};
    snprintf(t.device, sizeof t.device, "%s", dev.name);
    snprintf(t.driver, sizeof t.driver, "%s", dev.driver);
    snprintf(t.platform, sizeof t.platform, "%s", dev.platform);
    t.m = m, t.n = n, t.k = k;
    char sp[16], sd[16], sm[32], sn[32], sk[32], sf[32];
    snprintf(sp, sizeof sp, "%d", dev.platform_index);
    snprintf(sd, sizeof sd, "%d", dev.device_index);
    snprintf(sm, sizeof sm, "%zu", m);
    snprintf(sn, sizeof sn, "%zu", n);
    snprintf(sk, sizeof sk, "%zu", k);
    snprintf(sf, sizeof sf, "%g", 1.0 / fraction); /* CLBlast's -fraction is a divisor */
    printf("\n== tuning (logs in %s) ==\n", work);
    for (int i = 0; i < TUNER_COUNT; i++) {
        char prog[256], dir[1600];
        snprintf(prog, sizeof prog, "/usr/bin/%s", TUNERS[i].program);
        snprintf(dir, sizeof dir, "%s/%s", work, TUNERS[i].kernel);
        duo_make_directories(dir);
        char *targv[] = {prog, "-platform", sp, "-device", sd, "-precision", "32", "-m", sm,
                         "-n", sn, "-k", sk,
                         "-fraction", sf, "-runs", "2", NULL};
        if (access(prog, X_OK) != 0) {
            printf("  %-13s skipped: %s not installed (Debian package clblast-utils)\n",
                   TUNERS[i].kernel, prog);
            continue;
        }
        double budget = seconds * TUNERS[i].budget_share, t0 = duo_now_seconds();
        printf("  %-13s running %s (up to %.0f s) ... ", TUNERS[i].kernel, TUNERS[i].program, budget);
        fflush(stdout);
        int rc = run_child(targv, dir, budget, false);
        duo_tuning_kernel best;
        bool found = collect(dir, TUNERS[i].kernel, &best);
        printf("%.0f s, %s", duo_now_seconds() - t0,
               rc == -2 ? "stopped on time" : rc == 0 ? "finished" : "failed");
        if (found) {
            printf(", best %.3f ms\n", best.time_ms);
            duo_tuning_put(&t, &best, true);
        } else {
            printf(", no result (kernel stays untuned)\n");
        }
    }
    if (t.kernel_count == 0) {
        fprintf(stderr, "duocl tune: error: no tuner produced a result; see the logs in %s\n", work);
        return CLI_INTERNAL_ERROR;
    }

    /* CLBlast picks its direct kernel below XGEMM_MIN_INDIRECT_SIZE^3 (m*n*k);
     * on PoCL that kernel is several times slower than the tuned Xgemm at
     * every model shape (bench median 6.7 -> 16.6 GFLOP/s with 128), so
     * route everything but tiny GEMMs through the tuned indirect kernel. */
    if (opt[MIN_INDIRECT].value ? atoi(opt[MIN_INDIRECT].value) > 0 : true) {
        duo_tuning_kernel r = {.name = "GemmRoutine", .count = 1};
        strcpy(r.names[0], "XGEMM_MIN_INDIRECT_SIZE");
        r.values[0] = opt[MIN_INDIRECT].value ? (size_t)atoi(opt[MIN_INDIRECT].value) : 128;
        duo_tuning_put(&t, &r, true);
    }
    st = duo_tuning_save(path, &t);
    if (st != DUO_OK)
        return cli_report(st);
    /* The parameters must still give correct GEMMs; else take the file back. */
    unsetenv("DUOCL_NO_TUNING");
    st = duo_runtime_create(&(duo_runtime_options){.device = selector}, &rt);
    duo_selftest_result r = {0};
    if (st == DUO_OK) {
        st = duo_selftest_gemm(rt, &r);
        duo_runtime_destroy(rt);
    }
    if (st != DUO_OK) {
        remove(path);
        fprintf(stderr, "duocl tune: the tuned parameters failed the GEMM self-test; file removed\n");
        return cli_report(st);
    }
    printf("\nsaved %s (%d kernels); GEMM self-test with them passed\n", path, t.kernel_count);

    if (can_bench) {
        for (int r2 = 0; r2 < rounds; r2++) {
            if (r2 > 0)
                bench(self, selector, opt[CONFIG].value, true);
            bench(self, selector, opt[CONFIG].value, false);
        }
    }
    return CLI_OK;
}

const cli_command cli_tune_command = {
    "tune", "duocl tune [--device D] [--fraction F] [--shape M,N,K] [--seconds S]",
    "tune CLBlast's GEMM kernels for a device; store the parameters in the user's cache",
    run_tune};
