/* duo_tune_device: runs CLBlast's tuner programs, keeps their best
 * parameters, stores them as the device's tuning file and checks GEMM with
 * them (duocl/tune.h). The file itself is tuning.c's. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "device/tuner.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/fileio.h"
#include "device/tuning.h"
#include "duocl/runtime.h"
#include "platforms/environment.h"

typedef struct tuner {
    const char *program;  /* under /usr/bin */
    const char *kernel;   /* CLBlastOverrideParameters kernel name */
    double budget_share;  /* of options.seconds */
} tuner;

static const tuner TUNERS[DUO_TUNE_TUNERS] = {
    {"clblast_tuner_xgemm", "Xgemm", 1.0},
    {"clblast_tuner_xgemm_direct", "XgemmDirect", 0.5},
    {"clblast_tuner_copy_fast", "Copy", 0.125},
    {"clblast_tuner_copy_pad", "Pad", 0.125},
    {"clblast_tuner_transpose_fast", "Transpose", 0.125},
    {"clblast_tuner_transpose_pad", "Padtranspose", 0.125},
};

const char *duo_tuner_outcome_name(duo_tuner_outcome outcome)
{
    switch (outcome) {
    case DUO_TUNER_NOT_INSTALLED: return "not installed";
    case DUO_TUNER_FINISHED: return "finished";
    case DUO_TUNER_STOPPED: return "stopped on time";
    case DUO_TUNER_FAILED: return "failed";
    default: return "not run";
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int duo_run_child(char *const argv[], const char *dir, double seconds)
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

static void emit(const duo_tune_options *o, duo_tune_event e)
{
    if (o->callback)
        o->callback(&e, o->user);
}

/* Best result among the clblast_*.json files a tuner left in dir (one per phase). */
static bool collect(const duo_tune_options *o, const char *dir, const char *kernel,
                    duo_tuning_kernel *best)
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
        if (duo_tuning_read_clblast_result(path, kernel, &k) != DUO_OK) {
            emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_RESULT_SKIPPED, .path = path,
                                     .message = duo_last_error()});
            continue;
        }
        if (!found || k.time_ms < best->time_ms)
            *best = k;
        found = true;
    }
    closedir(d);
    return found;
}

/* Runs tuner i in work/<kernel>, adding what it found to t. */
static void run_tuner(const duo_tune_options *o, int i, const char *const args[], const char *work,
                      duo_tuning *t, duo_tuner_run *run)
{
    char dir[1600];
    snprintf(run->path, sizeof run->path, "/usr/bin/%s", TUNERS[i].program);
    snprintf(dir, sizeof dir, "%s/%s", work, TUNERS[i].kernel);
    duo_make_directories(dir);
    if (access(run->path, X_OK) != 0) {
        run->outcome = DUO_TUNER_NOT_INSTALLED;
        emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_TUNER_DONE, .tuner = run});
        return;
    }
    char *targv[] = {run->path, "-platform", (char *)args[0], "-device", (char *)args[1],
                     "-precision", "32", "-m", (char *)args[2], "-n", (char *)args[3],
                     "-k", (char *)args[4], "-fraction", (char *)args[5], "-runs", "2", NULL};
    double t0 = duo_now_seconds();
    emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_TUNER_START, .tuner = run});
    int rc = duo_run_child(targv, dir, run->budget_s);
    duo_tuning_kernel best;
    run->found = collect(o, dir, TUNERS[i].kernel, &best);
    run->seconds = duo_now_seconds() - t0;
    run->outcome = rc == -2 ? DUO_TUNER_STOPPED : rc == 0 ? DUO_TUNER_FINISHED : DUO_TUNER_FAILED;
    if (run->found) {
        run->best_ms = best.time_ms;
        duo_tuning_put(t, &best, true);
    }
    emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_TUNER_DONE, .tuner = run});
}

/* The device as it is untuned, and its tuning file's path. */
static duo_status find_device(const duo_tune_options *o, duo_tune_result *out)
{
    setenv("DUOCL_NO_TUNING", "1", 1); /* an old, possibly bad, file must not stop us */
    duo_runtime *rt;
    out->failed = DUO_TUNE_FAILED_DEVICE;
    DUO_TRY(duo_runtime_create(&(duo_runtime_options){.device = o->device}, &rt));
    out->device = *duo_runtime_device(rt);
    duo_runtime_destroy(rt);
    duo_tuning_path(&out->device, out->path, sizeof out->path);
    out->failed = DUO_TUNE_FAILED_CACHE;
    if (!out->path[0])
        return duo_fail(DUO_ERR_CONFIG, "no cache folder ($XDG_CACHE_HOME and $HOME unset)");
    out->failed = DUO_TUNE_OK;
    return DUO_OK;
}

/* Runs every tuner in a new work folder; t gets their best parameters. */
static duo_status run_tuners(const duo_tune_options *o, const size_t shape[3], double fraction,
                             double seconds, duo_tune_result *out, duo_tuning *t)
{
    char cache[1024], tuning_dir[1200];
    duo_cache_dir(cache, sizeof cache);
    snprintf(out->work_dir, sizeof out->work_dir, "%s/tuning/work-XXXXXX", cache);
    duo_make_directories(cache);
    snprintf(tuning_dir, sizeof tuning_dir, "%s/tuning", cache);
    duo_make_directories(tuning_dir);
    if (!mkdtemp(out->work_dir)) {
        out->failed = DUO_TUNE_FAILED_WORK_DIR;
        return duo_fail(DUO_ERR_IO, "cannot create a work folder under %s", tuning_dir);
    }
    char sp[16], sd[16], sm[32], sn[32], sk[32], sf[32];
    snprintf(sp, sizeof sp, "%d", out->device.platform_index);
    snprintf(sd, sizeof sd, "%d", out->device.device_index);
    snprintf(sm, sizeof sm, "%zu", shape[0]);
    snprintf(sn, sizeof sn, "%zu", shape[1]);
    snprintf(sk, sizeof sk, "%zu", shape[2]);
    snprintf(sf, sizeof sf, "%g", 1.0 / fraction); /* CLBlast's -fraction is a divisor */
    const char *const args[] = {sp, sd, sm, sn, sk, sf};
    emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_TUNING, .device = &out->device,
                             .work_dir = out->work_dir});
    for (int i = 0; i < DUO_TUNE_TUNERS; i++) {
        out->tuners[i].budget_s = seconds * TUNERS[i].budget_share;
        run_tuner(o, i, args, out->work_dir, t, &out->tuners[i]);
    }
    if (t->kernel_count == 0) {
        out->failed = DUO_TUNE_FAILED_NO_RESULT;
        return duo_fail(DUO_ERR_CLBLAST, "no tuner produced a result; see the logs in %s", out->work_dir);
    }
    return DUO_OK;
}

/* Stores t as the device's file and checks GEMM with it; removes it if that fails. */
static duo_status save_and_check(const duo_tune_options *o, duo_tuning *t, duo_tune_result *out)
{
    /* CLBlast picks its direct kernel below XGEMM_MIN_INDIRECT_SIZE^3 (m*n*k);
     * on PoCL that kernel is several times slower than the tuned Xgemm at
     * every model shape (bench median 6.7 -> 16.6 GFLOP/s with 128), so
     * route everything but tiny GEMMs through the tuned indirect kernel. */
    if (o->min_indirect >= 0) {
        duo_tuning_kernel r = {.name = "GemmRoutine", .count = 1};
        strcpy(r.names[0], "XGEMM_MIN_INDIRECT_SIZE");
        r.values[0] = o->min_indirect ? (size_t)o->min_indirect : DUO_TUNE_DEFAULT_MIN_INDIRECT;
        duo_tuning_put(t, &r, true);
    }
    out->kernel_count = t->kernel_count;
    out->failed = DUO_TUNE_FAILED_SAVE;
    DUO_TRY(duo_tuning_save(out->path, t));
    /* The parameters must still give correct GEMMs; else take the file back. */
    unsetenv("DUOCL_NO_TUNING");
    duo_runtime *rt;
    duo_status st = duo_runtime_create(&(duo_runtime_options){.device = o->device}, &rt);
    if (st == DUO_OK) {
        st = duo_selftest_gemm(rt, &out->selftest);
        duo_runtime_destroy(rt);
    }
    if (st != DUO_OK) {
        remove(out->path);
        out->failed = DUO_TUNE_FAILED_SELFTEST;
        return st;
    }
    out->failed = DUO_TUNE_OK;
    return DUO_OK;
}

duo_status duo_tune_device(const duo_tune_options *o, duo_tune_result *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < DUO_TUNE_TUNERS; i++) {
        out->tuners[i].kernel = TUNERS[i].kernel;
        out->tuners[i].program = TUNERS[i].program;
    }
    double fraction = o->fraction ? o->fraction : 0.25;
    double seconds = o->seconds ? o->seconds : 240.0;
    size_t shape[3] = {o->m ? o->m : 1024, o->n ? o->n : 256, o->k ? o->k : 256};
    out->failed = DUO_TUNE_FAILED_OPTIONS;
    if (!(fraction > 0 && fraction <= 1))
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "tuning fraction must be in (0, 1], got %g", fraction);
    if (!(seconds > 0))
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "tuning budget must be > 0 s, got %g", seconds);
    out->failed = DUO_TUNE_OK;

    /* The environment is the caller's again when we return. */
    const char *was = getenv("DUOCL_NO_TUNING");
    char saved[256];
    bool had = was != NULL;
    if (had)
        snprintf(saved, sizeof saved, "%s", was);

    duo_tuning t = {.m = shape[0], .n = shape[1], .k = shape[2]};
    duo_status st = find_device(o, out);
    if (st == DUO_OK) {
        snprintf(t.device, sizeof t.device, "%s", out->device.name);
        snprintf(t.driver, sizeof t.driver, "%s", out->device.driver);
        snprintf(t.platform, sizeof t.platform, "%s", out->device.platform);
        duo_tune_options settings = *o;
        settings.fraction = fraction;
        settings.seconds = seconds;
        settings.m = shape[0], settings.n = shape[1], settings.k = shape[2];
        emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_DEVICE, .device = &out->device,
                                 .path = out->path, .settings = &settings});
        st = run_tuners(o, shape, fraction, seconds, out, &t);
    }
    if (st == DUO_OK)
        st = save_and_check(o, &t, out);

    if (had)
        setenv("DUOCL_NO_TUNING", saved, 1);
    else
        unsetenv("DUOCL_NO_TUNING");
    return st;
}
