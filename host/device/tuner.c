/* duo_tune_device (duocl/tune.h): the GEMMs of a training step, CLBlast's
 * kernel and routine tuners, the sets to time, the decision and the file.
 * The timing processes are tune_timing.c's, the file itself tuning.c's. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device/tuner.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/fileio.h"
#include "device/tune_timing.h"
#include "device/tuning.h"
#include "duocl/runtime.h"
#include "platforms/environment.h"

enum { ROUTINE = DUO_TUNE_TUNERS - 1 }; /* index of the routine tuner */

typedef struct tuner {
    const char *program;
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
    {"clblast_tuner_routine_xgemm", "GemmRoutine", 0.5},
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

/* ---- the GEMMs of a training step ---- */

int duo_tune_step_gemms(const duo_model_config *mc, int batch, duo_tune_gemm *out, int cap)
{
    size_t B = batch > 0 ? (size_t)batch : 16, T = (size_t)mc->ctx, d = (size_t)mc->d_model;
    size_t N = B * T, half = (N + 1) / 2, V = (size_t)mc->vocab;
    size_t Fb = (size_t)mc->ffn_big, Fs = (size_t)mc->ffn_small;
    size_t hd = d / (size_t)mc->n_heads, heads = B * (size_t)mc->n_heads;
    /* Attention runs its products per 64-query block (ops/attention.c), the
     * block at r0 over keys 0..r0+64 and its transposed backward over keys
     * r0..T; each is timed at the middle block. */
    size_t blk = T < 64 ? T : 64, blocks = (T + blk - 1) / blk, r0 = blk * (blocks / 2);
    size_t r1 = r0 + blk < T ? r0 + blk : T;
    int L = mc->n_layers, att = 2 * (int)blocks * L;
    /* Per layer: q, k, v, o; FFN w1 and w3 (x W), w2; forward, dX = dY W^T, dW = X^T dY. */
    const duo_tune_gemm all[] = {
        {"qkvo.forward", N, d, d, 1, false, false, 4 * L, {0}},
        {"qkvo.backward_input", N, d, d, 1, false, true, 4 * L, {0}},
        {"qkvo.backward_weight", d, d, N, 1, true, false, 4 * L, {0}},
        {"ffn_big.w1w3.forward", half, Fb, d, 1, false, false, 2 * L, {0}},
        {"ffn_big.w2.forward", half, d, Fb, 1, false, false, L, {0}},
        {"ffn_big.w1w3.backward_input", half, d, Fb, 1, false, true, 2 * L, {0}},
        {"ffn_big.w2.backward_input", half, Fb, d, 1, false, true, L, {0}},
        {"ffn_big.w1w3.backward_weight", d, Fb, half, 1, true, false, 2 * L, {0}},
        {"ffn_big.w2.backward_weight", Fb, d, half, 1, true, false, L, {0}},
        {"ffn_small.w1w3.forward", half, Fs, d, 1, false, false, 2 * L, {0}},
        {"ffn_small.w2.forward", half, d, Fs, 1, false, false, L, {0}},
        {"ffn_small.w1w3.backward_input", half, d, Fs, 1, false, true, 2 * L, {0}},
        {"ffn_small.w2.backward_input", half, Fs, d, 1, false, true, L, {0}},
        {"ffn_small.w1w3.backward_weight", d, Fs, half, 1, true, false, 2 * L, {0}},
        {"ffn_small.w2.backward_weight", Fs, d, half, 1, true, false, L, {0}},
        {"head.forward", N, V, d, 1, false, true, 1, {0}},
        {"head.backward_input", N, d, V, 1, false, false, 1, {0}},
        {"head.backward_weight", V, d, N, 1, true, false, 1, {0}},
        /* S = Q K^T and dP = dY V^T; Y = P V and dQ = dS K; dV = P^T dY and dK = dS^T Q. */
        {"attention.scores", r1 - r0, r1, hd, heads, false, true, att, {0}},
        {"attention.values", r1 - r0, hd, r1, heads, false, false, att, {0}},
        {"attention.backward_keys", r1 - r0, hd, T - r0, heads, true, false, att, {0}},
    };
    int n = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i].m && all[i].n && all[i].k && n < cap && n < DUO_TUNE_MAX_GEMMS)
            out[n++] = all[i];
    return n;
}

static double work(const duo_tune_gemm *g)
{
    return (double)g->m * (double)g->n * (double)g->k * (double)g->batch * g->count;
}

/* The plain GEMM with the most work per step (Xgemm's tuning shape), and the
 * smallest plain one (XgemmDirect's: the direct kernel serves small GEMMs). */
static void pick_gemms(const duo_tune_result *r, const duo_tune_gemm **heavy,
                       const duo_tune_gemm **small)
{
    const duo_tune_gemm *h = &r->gemms[0], *s = &r->gemms[0];
    for (int i = 0; i < r->gemm_count; i++) {
        const duo_tune_gemm *g = &r->gemms[i];
        if (g->batch > 1)
            continue;
        if (work(g) > work(h))
            h = g;
        if ((double)g->m * g->n * g->k < (double)s->m * s->n * s->k)
            s = g;
    }
    *heavy = h, *small = s;
}

/* ---- CLBlast's tuner programs ---- */

/* The program in $DUOCL_CLBLAST_TUNERS, else on $PATH, else in /usr/bin. */
static bool find_program(const char *name, char *out, size_t cap)
{
    const char *env = getenv("DUOCL_CLBLAST_TUNERS");
    if (env && *env) {
        snprintf(out, cap, "%s/%s", env, name);
        if (access(out, X_OK) == 0)
            return true;
    }
    const char *path = getenv("PATH");
    while (path && *path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len > 0) {
            snprintf(out, cap, "%.*s/%s", (int)len, path, name);
            if (access(out, X_OK) == 0)
                return true;
        }
        path = end ? end + 1 : NULL;
    }
    snprintf(out, cap, "/usr/bin/%s", name);
    return access(out, X_OK) == 0;
}

/* Best result among the clblast_*.json files a tuner left in dir (one per
 * finished phase) and the rows of its log (also of the phase it was stopped in). */
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
            duo_tune_emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_RESULT_SKIPPED, .path = path,
                                             .message = duo_last_error()});
            continue;
        }
        if (!found || k.time_ms < best->time_ms)
            *best = k;
        found = true;
    }
    closedir(d);
    char log[1800];
    duo_tuning_kernel k;
    snprintf(log, sizeof log, "%s/log.txt", dir);
    if (duo_tuning_read_clblast_log(log, kernel, &k) && (!found || k.time_ms < best->time_ms)) {
        *best = k;
        found = true;
    }
    return found;
}

typedef struct tuner_args {
    char platform[16], device[16], fraction[32]; /* fraction: "" for every configuration */
} tuner_args;

/* Runs `run`'s program in dir at m, n, k; its exit code as duo_run_child's. */
static int run_program(const tuner_args *a, duo_tuner_run *run, const char *dir, size_t m, size_t n,
                       size_t k, const char *runs, double seconds)
{
    char sm[32], sn[32], sk[32];
    snprintf(sm, sizeof sm, "%zu", m);
    snprintf(sn, sizeof sn, "%zu", n);
    snprintf(sk, sizeof sk, "%zu", k);
    char *argv[20] = {run->path, "-platform", (char *)a->platform, "-device", (char *)a->device,
                      "-precision", "32", "-m", sm, "-n", sn, "-k", sk, "-runs", (char *)runs};
    int n_args = 15;
    /* CLBlast's tuners keep size/F of each phase's configurations: F >= 1. */
    if (a->fraction[0]) {
        argv[n_args++] = "-fraction";
        argv[n_args++] = (char *)a->fraction;
    }
    argv[n_args] = NULL;
    duo_make_directories(dir);
    return duo_run_child(argv, dir, seconds);
}

/* Runs kernel tuner i in work/<kernel> at shape, adding its best to t. */
static void run_kernel_tuner(const duo_tune_options *o, int i, const tuner_args *a, const char *work,
                             const size_t shape[3], duo_tuning *t, duo_tuner_run *run)
{
    char dir[1600];
    snprintf(dir, sizeof dir, "%s/%s", work, TUNERS[i].kernel);
    run->m = shape[0], run->n = shape[1], run->k = shape[2];
    if (!find_program(TUNERS[i].program, run->path, sizeof run->path)) {
        run->outcome = DUO_TUNER_NOT_INSTALLED;
        duo_tune_emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_TUNER_DONE, .tuner = run});
        return;
    }
    double t0 = duo_now_seconds();
    duo_tune_emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_TUNER_START, .tuner = run});
    int rc = run_program(a, run, dir, shape[0], shape[1], shape[2], "2", run->budget_s);
    duo_tuning_kernel best;
    run->found = collect(o, dir, TUNERS[i].kernel, &best);
    run->seconds = duo_now_seconds() - t0;
    run->outcome = rc == -2 ? DUO_TUNER_STOPPED : rc == 0 ? DUO_TUNER_FINISHED : DUO_TUNER_FAILED;
    if (run->found) {
        run->best_ms = best.time_ms;
        duo_tuning_put(t, &best, true);
    }
    duo_tune_emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_TUNER_DONE, .tuner = run});
}

/* ---- XGEMM_MIN_INDIRECT_SIZE from CLBlast's routine tuner ---- */

/* Largest s with s^3 <= x. */
static unsigned long long cube_root_floor(unsigned long long x)
{
    unsigned long long s = (unsigned long long)cbrt((double)x);
    while (s > 0 && s * s * s > x)
        s--;
    while ((s + 1) * (s + 1) * (s + 1) <= x)
        s++;
    return s;
}

typedef struct routine_shape {
    unsigned long long mnk;
    size_t m, n, k;
    double count, indirect_ms, direct_ms;
} routine_shape;

static int by_mnk(const void *a, const void *b)
{
    unsigned long long x = ((const routine_shape *)a)->mnk, y = ((const routine_shape *)b)->mnk;
    return x < y ? -1 : x > y;
}

/* CLBlast runs a GEMM with the direct kernel when m*n*k < S^3. Returns the S
 * with the smallest step time: below the split the shapes measured faster
 * direct, from it on in-direct (S between the two, geometrically). */
static int switch_point(routine_shape *s, int n)
{
    qsort(s, (size_t)n, sizeof *s, by_mnk);
    int best = 0;
    double best_ms = INFINITY;
    for (int split = 0; split <= n; split++) {
        if (split > 0 && split < n && s[split].mnk == s[split - 1].mnk)
            continue; /* one m*n*k cannot go both ways */
        double ms = 0;
        for (int i = 0; i < n; i++)
            ms += s[i].count * (i < split ? s[i].direct_ms : s[i].indirect_ms);
        if (ms < best_ms)
            best_ms = ms, best = split;
    }
    if (best == n)
        return (int)cube_root_floor(s[n - 1].mnk) + 1;
    unsigned long long hi = s[best].mnk, point = cube_root_floor(hi);
    if (best > 0) {
        unsigned long long lo = s[best - 1].mnk;
        point = (unsigned long long)llround(cbrt(sqrt((double)lo * (double)hi)));
        if (point * point * point > hi)
            point = cube_root_floor(hi);
        if (point * point * point <= lo)
            point = cube_root_floor(lo) + 1;
    }
    return point > 0 ? (int)point : 1;
}

/* Runs the routine tuner at every distinct plain GEMM of the step with the
 * tuned kernels; out->min_indirect gets the switch point, or stays 0. */
static void measure_switch_point(const duo_tune_options *o, const tuner_args *a, const duo_tuning *tuned,
                                 duo_tune_result *out)
{
    duo_tuner_run *run = &out->tuners[ROUTINE];
    if (!find_program(TUNERS[ROUTINE].program, run->path, sizeof run->path)) {
        run->outcome = DUO_TUNER_NOT_INSTALLED;
        duo_tune_emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_TUNER_DONE, .tuner = run});
        duo_tune_emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_SWITCH_POINT,
                                         .message = "clblast_tuner_routine_xgemm is not installed"});
        return;
    }
    routine_shape shapes[DUO_TUNE_MAX_GEMMS];
    int n = 0;
    for (int i = 0; i < out->gemm_count; i++) {
        const duo_tune_gemm *g = &out->gemms[i];
        if (g->batch > 1)
            continue;
        int j = 0;
        while (j < n && !(shapes[j].m == g->m && shapes[j].n == g->n && shapes[j].k == g->k))
            j++;
        if (j == n)
            shapes[n++] = (routine_shape){(unsigned long long)g->m * g->n * g->k, g->m, g->n, g->k,
                                          0, -1, -1};
        shapes[j].count += g->count;
    }
    qsort(shapes, (size_t)n, sizeof *shapes, by_mnk);
    double start = duo_now_seconds(), t0 = start;
    duo_tune_emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_TUNER_START, .tuner = run});
    run->outcome = DUO_TUNER_FINISHED;
    int measured = 0;
    for (int i = 0; i < n && run->outcome == DUO_TUNER_FINISHED; i++) {
        /* The first run compiles CLBlast's kernels with the tuned parameters
         * (PoCL on a busy CPU: a minute or more; cached for the later runs):
         * the budget counts from its end. */
        double left = i == 0 ? duo_tune_child_seconds(o) : run->budget_s - (duo_now_seconds() - t0);
        if (left <= 0) {
            run->outcome = DUO_TUNER_STOPPED;
            break;
        }
        char dir[1700];
        snprintf(dir, sizeof dir, "%s/%s/%zux%zux%zu", out->work_dir, TUNERS[ROUTINE].kernel,
                 shapes[i].m, shapes[i].n, shapes[i].k);
        duo_make_directories(dir);
        duo_tuning_write_clblast_files(dir, tuned);
        tuner_args whole = *a;
        whole.fraction[0] = '\0';
        int rc = run_program(&whole, run, dir, shapes[i].m, shapes[i].n, shapes[i].k, "1", left);
        if (i == 0)
            t0 = duo_now_seconds();
        if (rc == -2)
            run->outcome = DUO_TUNER_STOPPED;
        else if (rc != 0 ||
                 !duo_tuning_read_routine_result(dir, &shapes[i].indirect_ms, &shapes[i].direct_ms))
            run->outcome = DUO_TUNER_FAILED;
        else
            measured++;
    }
    run->seconds = duo_now_seconds() - start;
    /* Shapes left when the budget ran out are the largest: count them as
     * in-direct, which the largest GEMMs favour (the timing that follows
     * checks the switch point anyway). */
    for (int i = measured; i < n; i++)
        shapes[i].indirect_ms = 0, shapes[i].direct_ms = INFINITY;
    run->found = measured > 0;
    if (run->found)
        out->min_indirect = switch_point(shapes, n);
    duo_tune_emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_TUNER_DONE, .tuner = run});
    char why[160];
    snprintf(why, sizeof why, "measured at %d of the step's %d GEMM shapes%s", measured, n,
             measured == 0 ? "; CLBlast's own kept" : measured < n ? ", the larger ones counted as "
                                                                     "faster in-direct" : "");
    duo_tune_emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_SWITCH_POINT, .value = out->min_indirect,
                                     .message = why});
}

/* ---- the decision ---- */

/* The fastest tuned set, kept only when it beats the built-in parameters by the margin. */
static void decide(duo_tune_result *out)
{
    out->best_tuned = 0;
    for (int s = 1; s < out->set_count; s++)
        if (out->total_ms[s] > 0 &&
            (!out->best_tuned || out->total_ms[s] < out->total_ms[out->best_tuned]))
            out->best_tuned = s;
    double limit = out->total_ms[0] * (1.0 - DUO_TUNE_MARGIN_PERCENT / 100.0);
    out->kept = out->best_tuned && out->total_ms[out->best_tuned] < limit ? out->best_tuned : 0;
}

/* ---- the whole run ---- */

/* The device as it is untuned, the GEMM the model runs there, and the tuning file's path. */
static duo_status find_device(const duo_tune_options *o, duo_tune_result *out)
{
    setenv("DUOCL_NO_TUNING", "1", 1); /* an old, possibly bad, file must not stop us */
    duo_runtime *rt;
    out->failed = DUO_TUNE_FAILED_DEVICE;
    DUO_TRY(duo_runtime_create(&(duo_runtime_options){.device = o->device, .gemm = o->model->gemm},
                               &rt));
    out->device = *duo_runtime_device(rt);
    out->model_gemm = duo_runtime_gemm(rt);
    snprintf(out->model_gemm_reason, sizeof out->model_gemm_reason, "%s",
             duo_runtime_gemm_reason(rt));
    const char *no_compile = duo_runtime_no_compile_reason(rt);
    char why[256];
    snprintf(why, sizeof why, "%s", no_compile ? no_compile : "");
    duo_runtime_destroy(rt);
    if (why[0])
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "CLBlast cannot run on this device (it compiles its "
                        "kernels at run time, which is forbidden: %s); there is nothing to tune", why);
    duo_tuning_path(&out->device, out->path, sizeof out->path);
    out->failed = DUO_TUNE_FAILED_CACHE;
    if (!out->path[0])
        return duo_fail(DUO_ERR_CONFIG, "no cache folder ($XDG_CACHE_HOME and $HOME unset)");
    out->failed = DUO_TUNE_OK;
    return DUO_OK;
}

static duo_status make_work_dir(const duo_tune_options *o, duo_tune_result *out)
{
    char cache[1024], tuning_dir[1200];
    duo_cache_dir(cache, sizeof cache);
    snprintf(out->work_dir, sizeof out->work_dir, "%s/tuning/work-XXXXXX", cache);
    snprintf(tuning_dir, sizeof tuning_dir, "%s/tuning", cache);
    duo_make_directories(tuning_dir);
    char *absolute = NULL;
    if (!mkdtemp(out->work_dir) || !(absolute = realpath(out->work_dir, NULL))) {
        out->failed = DUO_TUNE_FAILED_WORK_DIR;
        return duo_fail(DUO_ERR_IO, "cannot create a work folder under %s", tuning_dir);
    }
    /* Absolute: the children run in folders of their own. */
    snprintf(out->work_dir, sizeof out->work_dir, "%s", absolute);
    free(absolute);
    duo_tune_emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_TUNING, .device = &out->device,
                                     .work_dir = out->work_dir});
    return DUO_OK;
}

/* A set: the tuned kernels with GemmRoutine's switch point (0: CLBlast's own). */
static void add_set(duo_tune_result *out, duo_tune_set *sets, const duo_tuning *kernels, int switch_point,
                    const char *name)
{
    duo_tune_set *s = &sets[out->set_count];
    s->tuning = *kernels;
    if (switch_point > 0) {
        duo_tuning_kernel r = {.name = "GemmRoutine", .count = 1};
        strcpy(r.names[0], "XGEMM_MIN_INDIRECT_SIZE");
        r.values[0] = (size_t)switch_point;
        duo_tuning_put(&s->tuning, &r, true);
    }
    snprintf(out->set_names[out->set_count++], sizeof out->set_names[0], "%s", name);
}

/* The sets to time: [0] built-in, then the tuned kernels with CLBlast's own
 * switch point, with the measured one, and with every plain GEMM of the step
 * on the tuned Xgemm (the routine tuner times only untransposed GEMMs; a
 * transposed one can be far faster in-direct, its transpose done by a kernel
 * of its own, than in the direct kernel tuned untransposed). */
static void add_sets(const duo_tune_options *o, const duo_tuning *kernels, duo_tune_result *out,
                     duo_tune_set *sets)
{
    out->set_count = 1;
    snprintf(out->set_names[0], sizeof out->set_names[0], "built-in");
    char name[48];
    if (kernels->kernel_count > 0)
        add_set(out, sets, kernels, 0, "tuned");
    if (out->min_indirect > 0) {
        snprintf(name, sizeof name, "%s, switch point %d",
                 kernels->kernel_count > 0 ? "tuned" : "built-in", out->min_indirect);
        add_set(out, sets, kernels, out->min_indirect, name);
    }
    bool xgemm = false;
    for (int i = 0; i < kernels->kernel_count; i++)
        xgemm |= strcmp(kernels->kernels[i].name, "Xgemm") == 0;
    const duo_tune_gemm *heavy, *small;
    pick_gemms(out, &heavy, &small);
    int all = (int)cube_root_floor((unsigned long long)small->m * small->n * small->k);
    if (!o->candidate && o->min_indirect >= 0 && xgemm && all > 0 && all != out->min_indirect) {
        snprintf(name, sizeof name, "tuned, all in-direct (switch point %d)", all);
        add_set(out, sets, kernels, all, name);
    }
}

/* Xgemm's tuning shape: the heaviest GEMM, its larger side halved (then
 * either) until one call with the built-in parameters would take about
 * DUO_TUNE_CALL_MS, so that the tuner's fixed-set phase (hundreds of
 * configurations, each compiled and run three times) fits its budget; on a GPU
 * the step's GEMMs are faster than that and keep their shape. Halving the
 * larger side keeps the shape's proportions of a real GEMM (a set tuned at a
 * skinny 1280x128 was 4x slower than one tuned at 1024x256 on the model's
 * GEMMs). m and n become multiples of 128 (clblast_tuner_xgemm needs that;
 * Xgemm pads to its tiles anyway), k of 64. */
static void xgemm_shape(const duo_tune_options *o, const duo_tune_result *out,
                        const duo_tune_gemm *h, size_t shape[3])
{
    duo_tune_gemm probe = {"probe", h->m, h->n, h->k, 1, false, false, 1, {0}};
    char job[1600], why[1024];
    double ms = 0;
    snprintf(job, sizeof job, "%s/probe.job", out->work_dir);
    if (duo_tune_write_job(job, &out->device, NULL, true, &probe, 1) != DUO_OK ||
        !duo_tune_time_job(o->program, job, 1, duo_tune_child_seconds(o), &ms, why, sizeof why))
        ms = 0; /* not timed: the full shape */
    size_t m = (h->m + 127) / 128 * 128, n = (h->n + 127) / 128 * 128;
    double area = 1; /* of the GEMM's */
    while (area * ms > DUO_TUNE_CALL_MS * M_SQRT2 && (m > 128 || n > 128)) {
        size_t *side = m >= n ? &m : &n;
        *side = (*side / 2 + 127) / 128 * 128;
        area = (double)m * n / ((double)h->m * h->n);
    }
    shape[0] = m, shape[1] = n, shape[2] = (h->k + 63) / 64 * 64;
}

/* Runs the tuners (or reads options.candidate) into *kernels. o: every default filled in. */
static duo_status find_candidates(const duo_tune_options *o, duo_tune_result *out,
                                  duo_tuning *kernels)
{
    if (o->candidate) {
        duo_tuning c;
        out->failed = DUO_TUNE_FAILED_CANDIDATE;
        DUO_TRY(duo_tuning_load(o->candidate, &out->device, &c));
        if (c.kernel_count == 0)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT, "%s holds no kernel parameters to time",
                            o->candidate);
        for (int i = 0; i < c.kernel_count; i++)
            duo_tuning_put(kernels, &c.kernels[i], true);
        kernels->m = c.m, kernels->n = c.n, kernels->k = c.k;
        out->min_indirect = o->min_indirect > 0 ? o->min_indirect : 0;
        out->failed = DUO_TUNE_OK;
        return DUO_OK;
    }
    tuner_args a;
    memset(&a, 0, sizeof a);
    snprintf(a.platform, sizeof a.platform, "%d", out->device.platform_index);
    snprintf(a.device, sizeof a.device, "%d", out->device.device_index);
    if (o->fraction < 1)
        snprintf(a.fraction, sizeof a.fraction, "%.6g", 1.0 / o->fraction);
    const duo_tune_gemm *h, *s;
    pick_gemms(out, &h, &s);
    size_t heavy[3] = {o->m, o->n, o->k}, small[3] = {s->m, s->n, s->k};
    if (!heavy[0])
        xgemm_shape(o, out, h, heavy);
    /* These kernels copy Xgemm's operands. CLBlast's transpose tuners crash
     * unless the matrix is square with a side of a power of two (>= 256). */
    size_t side = 256;
    while (side * 2 <= heavy[0] || side * 2 <= heavy[1])
        side *= 2;
    size_t square[3] = {side, side, heavy[2]};
    kernels->m = heavy[0], kernels->n = heavy[1], kernels->k = heavy[2];
    for (int i = 0; i < DUO_TUNE_TUNERS; i++)
        out->tuners[i].budget_s = o->seconds * TUNERS[i].budget_share;
    for (int i = 0; i < ROUTINE; i++)
        run_kernel_tuner(o, i, &a, out->work_dir, i == 0 ? heavy : i == 1 ? small : square, kernels,
                         &out->tuners[i]);
    if (o->min_indirect == 0)
        measure_switch_point(o, &a, kernels, out);
    else
        out->min_indirect = o->min_indirect > 0 ? o->min_indirect : 0;
    if (kernels->kernel_count == 0 && out->min_indirect == 0) {
        out->failed = DUO_TUNE_FAILED_NO_RESULT;
        return duo_fail(DUO_ERR_CLBLAST, "no tuner produced a result; see the logs in %s", out->work_dir);
    }
    return DUO_OK;
}

/* Stores the decision; kept tuned parameters must pass the GEMM self-test,
 * else the file is removed again. */
static duo_status save_and_check(const duo_tune_options *o, const duo_tune_set *sets,
                                 const duo_tuning *kernels, duo_tune_result *out)
{
    duo_tuning t = out->kept ? sets[out->kept].tuning : (duo_tuning){0};
    snprintf(t.device, sizeof t.device, "%s", out->device.name);
    snprintf(t.driver, sizeof t.driver, "%s", out->device.driver);
    snprintf(t.platform, sizeof t.platform, "%s", out->device.platform);
    t.m = kernels->m, t.n = kernels->n, t.k = kernels->k;
    t.builtin_kept = out->kept == 0;
    t.compared = true;
    t.builtin_ms = out->total_ms[0];
    t.tuned_ms = out->best_tuned ? out->total_ms[out->best_tuned] : 0;
    t.gemms = out->gemm_count;
    t.rounds = out->rounds;
    out->kernel_count = t.kernel_count;
    out->failed = DUO_TUNE_FAILED_SAVE;
    DUO_TRY(duo_tuning_save(out->path, &t));
    out->failed = DUO_TUNE_OK;
    if (!out->kept)
        return DUO_OK;
    unsetenv("DUOCL_NO_TUNING");
    duo_runtime *rt;
    duo_status st = duo_runtime_create(
        &(duo_runtime_options){.device = o->device, .gemm = DUO_GEMM_CLBLAST}, &rt);
    if (st == DUO_OK) {
        st = duo_selftest_gemm(rt, &out->selftest);
        duo_runtime_destroy(rt);
    }
    if (st != DUO_OK) {
        remove(out->path);
        out->failed = DUO_TUNE_FAILED_SELFTEST;
    }
    return st;
}

/* o: the caller's options with every default filled in. */
static duo_status tune(const duo_tune_options *o, duo_tune_result *out)
{
    DUO_TRY(find_device(o, out));
    duo_tune_emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_DEVICE, .device = &out->device,
                                     .path = out->path, .settings = o, .result = out});
    DUO_TRY(make_work_dir(o, out));
    duo_tuning *kernels = calloc(1, sizeof *kernels);
    duo_tune_set *sets = calloc(DUO_TUNE_MAX_SETS, sizeof *sets);
    duo_status st = kernels && sets ? DUO_OK : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory tuning");
    if (st == DUO_OK)
        st = find_candidates(o, out, kernels);
    if (st == DUO_OK) {
        add_sets(o, kernels, out, sets);
        st = duo_tune_compare(o, sets, out);
    }
    if (st == DUO_OK) {
        decide(out);
        duo_tune_emit(o, (duo_tune_event){.kind = DUO_TUNE_EVENT_DECIDED, .result = out});
        st = save_and_check(o, sets, kernels, out);
    }
    free(kernels);
    free(sets);
    return st;
}

duo_status duo_tune_device(const duo_tune_options *o, duo_tune_result *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < DUO_TUNE_TUNERS; i++) {
        out->tuners[i].kernel = TUNERS[i].kernel;
        out->tuners[i].program = TUNERS[i].program;
    }
    duo_tune_options s = *o; /* every default filled in */
    s.fraction = o->fraction ? o->fraction : 0.25;
    s.seconds = o->seconds ? o->seconds : 240.0;
    s.batch = o->batch ? o->batch : 16;
    s.rounds = o->rounds ? o->rounds : 3;
    out->rounds = s.rounds;
    out->failed = DUO_TUNE_FAILED_OPTIONS;
    if (!o->model)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "duo_tune_device needs the model whose training step it tunes (options.model)");
    if (!(s.fraction > 0 && s.fraction <= 1))
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "tuning fraction must be in (0, 1], got %g", s.fraction);
    if (!(s.seconds > 0))
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "tuning budget must be > 0 s, got %g", s.seconds);
    if (s.batch < 1 || s.rounds < 1 || s.rounds > DUO_TUNE_MAX_ROUNDS)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "batch must be >= 1 and rounds 1..%d (got %d, %d)",
                        DUO_TUNE_MAX_ROUNDS, s.batch, s.rounds);
    if ((o->m || o->n || o->k) && !(o->m && o->n && o->k))
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "the tuning shape needs m, n and k");
    /* Absolute: the timing children run in folders of their own. */
    char program[PATH_MAX];
    if (o->program && (!realpath(o->program, program) || access(program, X_OK) != 0))
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "options.program: '%s' is not an executable "
                        "(the duocl binary that runs the timing jobs)", o->program);
    s.program = o->program ? program : "/proc/self/exe";
    out->gemm_count = duo_tune_step_gemms(o->model, s.batch, out->gemms, DUO_TUNE_MAX_GEMMS);
    if (out->gemm_count == 0)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "the model has no GEMMs to tune");
    out->failed = DUO_TUNE_OK;

    /* The environment is the caller's again when we return. */
    const char *was = getenv("DUOCL_NO_TUNING");
    char saved[256];
    bool had = was != NULL;
    if (had)
        snprintf(saved, sizeof saved, "%s", was);
    duo_status st = tune(&s, out);
    if (had)
        setenv("DUOCL_NO_TUNING", saved, 1);
    else
        unsetenv("DUOCL_NO_TUNING");
    return st;
}
