/* Start-up times (a fresh process to its first GEMM, PoCL's cache warm or
 * empty) and the description of a bench run (device, tuning, load). */
#define _DEFAULT_SOURCE /* getloadavg */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "bench.h"
#include "device/gemm.h"
#include "device/tuning.h"

extern char **environ;

duo_status duo_bench_startup_probe(const char *device, duo_startup_times *out)
{
    double t0 = duo_now_seconds();
    duo_runtime_options ro = {.device = device};
    duo_runtime *rt;
    DUO_TRY(duo_runtime_create(&ro, &rt));
    double t1 = duo_now_seconds();
    duo_status st = duo_runtime_compile_all(rt);
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
    *out = (duo_startup_times){.runtime = t1 - t0, .kernels = t2 - t1, .gemm = t3 - t2};
    return st;
}

/* Runs `PROGRAM bench --startup-probe` with POCL_CACHE_DIR=cache_dir (NULL:
 * inherited) and reads its timings; wall is from spawn to exit. */
static duo_status run_probe(const char *program, const char *device, const char *cache_dir,
                            duo_startup_times *out)
{
    char *exe = (char *)program;
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
        return duo_fail(DUO_ERR_INTERNAL, "the start-up probe (a child '%s bench "
                        "--startup-probe') failed; run it by hand to see why", exe);
    return DUO_OK;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

duo_status duo_bench_startup_suite(const duo_bench_startup_options *o, duo_bench_report *r)
{
    const char *device = o->device;
    int warm_repeat = o->warm_repeat, cold_repeat = o->cold_repeat;
    duo_startup_times p;
    DUO_TRY(run_probe(o->program, device, NULL, &p)); /* fills the cache if this process has not */
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
        c.blocking = NAN;
        double parts[3][DUO_BENCH_MAX_REPEAT];
        for (int i = 0; i < n; i++) {
            char dir[] = "/tmp/duocl-cold-cache-XXXXXX";
            if (cold && !mkdtemp(dir))
                return duo_fail(DUO_ERR_IO, "cannot make a temporary PoCL cache folder in /tmp");
            duo_status st = run_probe(o->program, device, cold ? dir : NULL, &p);
            if (cold)
                nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
            if (o->progress)
                o->progress(o->progress_context, i + 1, n);
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

/* The 1-minute load average: how busy the machine was with other work. */
double duo_load_average(void)
{
    double load;
    return getloadavg(&load, 1) == 1 ? load : NAN;
}

void duo_bench_report_describe(duo_bench_report *r, duo_runtime *rt, const char *config_path,
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
    r->load_start = duo_load_average();
    /* duo_runtime_create applied the device's tuning file if it exists (and
     * failed if it was bad), unless DUOCL_NO_TUNING is set. */
    char path[1400];
    duo_tuning_path(d, path, sizeof path);
    const char *off = getenv("DUOCL_NO_TUNING");
    bool tuned = path[0] && access(path, R_OK) == 0 && !(off && *off && strcmp(off, "0") != 0);
    snprintf(r->gemm_tuning, sizeof r->gemm_tuning, "%s%.250s%s", tuned ? "tuned (" : "untuned",
             tuned ? path : "", tuned ? ")" : "");
}
