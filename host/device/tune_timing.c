/* The processes of duo_tune_device (duocl/tune.h): the child-process runner,
 * and timing a parameter set on a step's GEMMs in a fresh process
 * (`PROGRAM tune --measure-job JOB`, which calls duo_tune_measure_job), set
 * against set in interleaved rounds. CLBlast can override its parameters but
 * not restore its built-in ones, hence one process per set and round. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "device/tune_timing.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/fileio.h"
#include "device/gemm.h"
#include "device/tuner.h"
#include "device/tuning.h"
#include "duocl/runtime.h"
#include "platforms/environment.h"

extern char **environ;

/* ---- child processes ---- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* duo_run_child with the environment envp. */
static int run_child(char *const argv[], char *const envp[], const char *dir, double seconds)
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
            fd = open("/dev/null", O_RDONLY);
            if (fd >= 0) {
                dup2(fd, 0);
                close(fd);
            }
        }
        execve(argv[0], argv, envp);
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
        sleep_ms(50);
    }
}

int duo_run_child(char *const argv[], const char *dir, double seconds)
{
    return run_child(argv, environ, dir, seconds);
}

/* ---- timing a parameter set in a fresh process ----
 *
 * Job file (text): "duocl-tune-measure 1", then "device SELECTOR" (optional),
 * "parameters FILE" (optional: a tuning file applied over the built-in
 * parameters), "warm-up" (optional: a warm-up call before every GEMM) and
 * one "gemm M N K BATCH TA TB" per GEMM. The child (`PROGRAM tune
 * --measure-job JOB`: duo_tune_measure_job) writes JOB.out: "ok" and one line
 * per GEMM with the median milliseconds of one call, or "error MESSAGE". */

typedef struct measure_job {
    char device[256], parameters[1800];
    bool warm_up;
    int count;
    duo_tune_gemm gemms[DUO_TUNE_MAX_GEMMS];
} measure_job;

duo_status duo_tune_write_job(const char *path, const duo_device_info *device,
                              const char *parameters, bool warm_up, const duo_tune_gemm *gemms,
                              int count)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return duo_fail(DUO_ERR_IO, "cannot write the timing job %s", path);
    fprintf(f, "duocl-tune-measure 1\ndevice %d:%d\n", device->platform_index, device->device_index);
    if (parameters)
        fprintf(f, "parameters %s\n", parameters);
    if (warm_up)
        fprintf(f, "warm-up\n");
    for (int i = 0; i < count; i++) {
        const duo_tune_gemm *g = &gemms[i];
        fprintf(f, "gemm %zu %zu %zu %zu %d %d\n", g->m, g->n, g->k, g->batch, g->ta, g->tb);
    }
    return fclose(f) == 0 ? DUO_OK : duo_fail(DUO_ERR_IO, "cannot write the timing job %s", path);
}

static duo_status read_job(const char *path, measure_job *job)
{
    memset(job, 0, sizeof *job);
    FILE *f = fopen(path, "r");
    if (!f)
        return duo_fail(DUO_ERR_IO, "cannot read the timing job %s", path);
    char line[2048];
    bool header = false;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        int ta, tb;
        duo_tune_gemm *g = &job->gemms[job->count];
        if (strcmp(line, "duocl-tune-measure 1") == 0)
            header = true;
        else if (strncmp(line, "device ", 7) == 0)
            snprintf(job->device, sizeof job->device, "%.255s", line + 7);
        else if (strcmp(line, "warm-up") == 0)
            job->warm_up = true;
        else if (strncmp(line, "parameters ", 11) == 0)
            snprintf(job->parameters, sizeof job->parameters, "%.1799s", line + 11);
        else if (job->count < DUO_TUNE_MAX_GEMMS &&
                 sscanf(line, "gemm %zu %zu %zu %zu %d %d", &g->m, &g->n, &g->k, &g->batch, &ta,
                        &tb) == 6 && g->m && g->n && g->k && g->batch) {
            g->ta = ta, g->tb = tb;
            job->count++;
        }
    }
    fclose(f);
    return header ? DUO_OK : duo_fail(DUO_ERR_FORMAT, "%s is not a timing job", path);
}

typedef struct gemm_buffers {
    cl_mem a, b, c;
} gemm_buffers;

static duo_status call_gemm(duo_runtime *rt, const duo_tune_gemm *g, const gemm_buffers *x)
{
    /* Row-major operands stored as used: op(A) is m x k, so A is k x m when transposed. */
    duo_matrix a = {x->a, 0, g->ta ? g->m : g->k, g->ta};
    duo_matrix b = {x->b, 0, g->tb ? g->k : g->n, g->tb};
    duo_matrix c = {x->c, 0, g->n, false};
    if (g->batch == 1)
        return duo_gemm(rt, g->m, g->n, g->k, 1.0f, a, b, 0.0f, c);
    return duo_gemm_strided_batched(rt, g->m, g->n, g->k, 1.0f, a, g->m * g->k, b, g->k * g->n,
                                    0.0f, c, g->m * g->n, g->batch);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Median milliseconds of one call. The first call of each routine (plain or
 * batched) in the process compiles CLBlast's program: a separate warm-up call.
 * Later GEMMs take their first call as warm-up only when it is short; short
 * GEMMs run in batches of at least ~5 ms so that the launch and the wait do
 * not dominate; long ones are timed once (the rounds give the median). */
static duo_status time_gemm(duo_runtime *rt, const duo_tune_gemm *g, const gemm_buffers *x,
                            bool compiled, double *ms)
{
    if (!compiled) {
        DUO_TRY(call_gemm(rt, g, x));
        DUO_TRY(duo_runtime_finish(rt));
    }
    double samples[5];
    int n = 0, calls = 1;
    bool warm = !compiled;
    while (n < 5) {
        double t0 = duo_now_seconds();
        for (int i = 0; i < calls; i++)
            DUO_TRY(call_gemm(rt, g, x));
        DUO_TRY(duo_runtime_finish(rt));
        double s = duo_now_seconds() - t0;
        bool keep = warm || s > 0.3;
        warm = true;
        if (s < 0.005 && calls < 1000) /* too short to time: batch more calls */
            calls = (int)fmin(1000, ceil(calls * 0.005 / fmax(s, 1e-6))), keep = false;
        if (!keep)
            continue;
        samples[n++] = 1e3 * s / calls;
        if ((n >= 3 && s * n > 0.3) || s > 0.3)
            break;
    }
    *ms = median(samples, n);
    return DUO_OK;
}

static size_t larger(size_t a, size_t b) { return a > b ? a : b; }

static duo_status measure(const measure_job *job, double *ms)
{
    setenv("DUOCL_NO_TUNING", "1", 1); /* the job's parameters, not the stored file */
    duo_runtime *rt;
    DUO_TRY(duo_runtime_create(&(duo_runtime_options){.device = job->device[0] ? job->device : NULL,
                                                       .gemm = DUO_GEMM_CLBLAST},
                               &rt));
    duo_status st = DUO_OK;
    if (job->parameters[0]) {
        duo_tuning t;
        st = duo_tuning_load(job->parameters, &rt->device, &t);
        if (st == DUO_OK)
            st = duo_tuning_apply(rt, &t, job->parameters);
    }
    size_t a = 1, b = 1, c = 1;
    for (int i = 0; i < job->count; i++) {
        const duo_tune_gemm *g = &job->gemms[i];
        a = larger(a, g->m * g->k * g->batch);
        b = larger(b, g->k * g->n * g->batch);
        c = larger(c, g->m * g->n * g->batch);
    }
    gemm_buffers x = {0};
    if (st == DUO_OK)
        st = duo_buffer_create(rt, a * sizeof(float), &x.a);
    if (st == DUO_OK)
        st = duo_buffer_create(rt, b * sizeof(float), &x.b);
    if (st == DUO_OK)
        st = duo_buffer_create(rt, c * sizeof(float), &x.c);
    /* 0x3c3c3c3c is 0.0115f: finite products, no denormals. */
    if (st == DUO_OK)
        st = duo_buffer_fill_byte(rt, x.a, 0, a * sizeof(float), 0x3c);
    if (st == DUO_OK)
        st = duo_buffer_fill_byte(rt, x.b, 0, b * sizeof(float), 0x3c);
    bool compiled[2] = {false, false}; /* plain, batched */
    for (int i = 0; i < job->count && st == DUO_OK; i++) {
        bool batched = job->gemms[i].batch > 1;
        st = time_gemm(rt, &job->gemms[i], &x, compiled[batched] && !job->warm_up, &ms[i]);
        compiled[batched] = true;
    }
    duo_buffer_release(&x.a);
    duo_buffer_release(&x.b);
    duo_buffer_release(&x.c);
    duo_runtime_destroy(rt);
    return st;
}

duo_status duo_tune_measure_job(const char *job_path)
{
    char out[1900];
    snprintf(out, sizeof out, "%s.out", job_path);
    duo_platform_prepare_environment();
    measure_job job;
    double ms[DUO_TUNE_MAX_GEMMS];
    duo_status st = read_job(job_path, &job);
    if (st == DUO_OK)
        st = measure(&job, ms);
    FILE *f = fopen(out, "w");
    if (!f)
        return st != DUO_OK ? st : duo_fail(DUO_ERR_IO, "cannot write the timing result %s", out);
    if (st == DUO_OK) {
        fprintf(f, "ok\n");
        for (int i = 0; i < job.count; i++)
            fprintf(f, "%.9g\n", ms[i]);
    } else {
        fprintf(f, "error %s\n", duo_last_error());
    }
    if (fclose(f) != 0 && st == DUO_OK)
        st = duo_fail(DUO_ERR_IO, "cannot write the timing result %s", out);
    return st;
}

bool duo_tune_time_job(const char *program, const char *job_path, int count, double seconds,
                       double *ms, char *why, size_t cap)
{
    char dir[1800], out[1900];
    snprintf(dir, sizeof dir, "%s.d", job_path);
    snprintf(out, sizeof out, "%s.out", job_path);
    duo_make_directories(dir);
    remove(out);
    char *argv[] = {(char *)program, "tune", "--measure-job", (char *)job_path, NULL};
    /* The child is no MPI rank, also when this process is one (duocl study
     * under mpirun tunes on rank 0): without the launcher's variables it
     * does not join the job. */
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 1, sizeof *env);
    if (!env) {
        snprintf(why, cap, "out of memory");
        return false;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "OMPI_", 5) != 0 && strncmp(environ[i], "PMIX_", 5) != 0 &&
            strncmp(environ[i], "PMI_", 4) != 0)
            env[k++] = environ[i];
    int rc = run_child(argv, env, dir, seconds);
    free(env);
    FILE *f = fopen(out, "r");
    char line[1024] = "";
    bool ok = f && fgets(line, sizeof line, f) && strcmp(line, "ok\n") == 0;
    for (int i = 0; ok && i < count; i++)
        ok = fscanf(f, "%lf", &ms[i]) == 1 && ms[i] > 0;
    if (f)
        fclose(f);
    if (!ok) {
        line[strcspn(line, "\n")] = '\0';
        snprintf(why, cap, "%.300s (log: %.600s/log.txt)",
                 rc == -2 ? "stopped on time"
                 : strncmp(line, "error ", 6) == 0 ? line + 6
                                                   : "the timing process did not finish",
                 dir);
    }
    return ok;
}

/* ---- built-in against tuned ---- */

duo_status duo_tune_compare(const duo_tune_options *o, duo_tune_set *sets, duo_tune_result *out)
{
    char dir[1500];
    snprintf(dir, sizeof dir, "%s/timing", out->work_dir);
    duo_make_directories(dir);
    for (int s = 1; s < out->set_count; s++) {
        duo_tuning *t = &sets[s].tuning;
        snprintf(t->device, sizeof t->device, "%s", out->device.name);
        snprintf(t->driver, sizeof t->driver, "%s", out->device.driver);
        snprintf(t->platform, sizeof t->platform, "%s", out->device.platform);
        snprintf(sets[s].file, sizeof sets[s].file, "%s/set%d.json", dir, s);
        DUO_TRY(duo_tuning_save(sets[s].file, t));
    }
    duo_tune_emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_TIMING, .result = out});
    double ms[DUO_TUNE_MAX_SETS][DUO_TUNE_MAX_ROUNDS][DUO_TUNE_MAX_GEMMS];
    bool failed[DUO_TUNE_MAX_SETS] = {false};
    double child_budget = duo_tune_child_seconds(o);
    for (int round = 0; round < out->rounds; round++)
        for (int i = 0; i < out->set_count; i++) {
            int s = (round + i) % out->set_count;
            if (failed[s])
                continue;
            char job[1700], why[1024] = "";
            snprintf(job, sizeof job, "%s/round%d-set%d.job", dir, round + 1, s);
            /* PoCL compiles a kernel again for each new launch shape (and caches it on
             * disk): the first round warms up before every GEMM. */
            DUO_TRY(duo_tune_write_job(job, &out->device, s ? sets[s].file : NULL, round == 0,
                                       out->gemms, out->gemm_count));
            failed[s] = !duo_tune_time_job(o->program, job, out->gemm_count, child_budget,
                                           ms[s][round], why, sizeof why);
            double total = 0;
            for (int g = 0; !failed[s] && g < out->gemm_count; g++)
                total += out->gemms[g].count * ms[s][round][g];
            duo_tune_emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_TIMED, .result = out,
                                              .set = s, .round = round, .name = out->set_names[s],
                                              .total_ms = total, .message = failed[s] ? why : NULL});
            if (failed[0]) {
                out->failed = DUO_TUNE_FAILED_TIMING;
                return duo_fail(DUO_ERR_CLBLAST, "timing GEMMs with CLBlast's built-in parameters "
                                "failed: %s", why);
            }
        }
    for (int s = 0; s < out->set_count; s++) {
        out->total_ms[s] = 0;
        for (int g = 0; !failed[s] && g < out->gemm_count; g++) {
            double v[DUO_TUNE_MAX_ROUNDS];
            for (int round = 0; round < out->rounds; round++)
                v[round] = ms[s][round][g];
            out->gemms[g].ms[s] = median(v, out->rounds);
            out->total_ms[s] += out->gemms[g].count * out->gemms[g].ms[s];
        }
    }
    return DUO_OK;
}
