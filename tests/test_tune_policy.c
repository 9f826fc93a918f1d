/* duocl tune never keeps parameters that make the device slower (issue 13).
 * A deliberately bad parameter set (1x1 Xgemm tiles, and every GEMM sent
 * through that in-direct kernel) given to duo_tune_device as the tuned
 * candidate is timed against CLBlast's built-in parameters on a small model's
 * training-step GEMMs, interleaved in fresh processes (`duocl tune
 * --measure-job`, the duocl CMake built: DUOCL_PROGRAM), and refused: the file
 * records "built-in parameters kept", both totals and no kernels, and a
 * runtime then starts with CLBlast's own parameters. A file whose recorded
 * comparison says its parameters are slower is refused at start-up with a
 * message naming it. The step's GEMM list counts every multiply-add of the
 * model's training step; a tuner's log gives its fastest matching row. No
 * CLBlast tuner runs (too slow for CI).
 * Runs in a temporary $XDG_CACHE_HOME so the user's tuning file is untouched. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "platforms/environment.h"
#include "device/tuning.h"
#include "duocl/runtime.h"
#include "duocl/tune.h"
#include "unitcheck.h"

static duo_device_info device;
static char path[1400], tmp[] = "/tmp/duocl-test-tune-policy-XXXXXX";

/* d 64, 2 layers, 2 heads, T 64, V 300, F 128/16; batch 4: 256 tokens a step. */
static const duo_model_config MODEL = {.vocab = 300, .d_model = 64, .n_layers = 2, .n_heads = 2,
                                       .ctx = 64, .ffn_big = 128, .ffn_small = 16,
                                       .rope_theta = 10000, .norm_eps = 1e-5};
enum { BATCH = 4 };

static void write_text(const char *p, const char *text)
{
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* A tuning file for this device: `comparison` (JSON, or "") and `kernels` (JSON). */
static void tuning_file(const char *p, const char *decision, const char *comparison, const char *kernels)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"format\": \"duocl-clblast-tuning\", \"version\": 1, \"device\": \"%s\","
             " \"driver\": \"%s\", \"platform\": \"x\", \"shape\": [1, 1, 1],%s%s%s%s%s%s"
             " \"kernels\": {%s}}",
             device.name, device.driver, decision[0] ? " \"decision\": \"" : "", decision,
             decision[0] ? "\"," : "", comparison[0] ? " \"comparison\": " : "", comparison,
             comparison[0] ? "," : "", kernels);
    write_text(p, text);
}

/* Every Xgemm parameter, for 1x1 tiles: one work-item per work-group and
 * output, no local memory. Valid, and far slower than anything tuned. */
static const char TINY_TILES[] =
    "\"Xgemm\": {\"time_ms\": 1, \"parameters\": {\"GEMMK\": 0, \"KREG\": 1, \"KWG\": 1, \"KWI\": 1,"
    " \"MDIMA\": 1, \"MDIMC\": 1, \"MWG\": 1, \"NDIMB\": 1, \"NDIMC\": 1, \"NWG\": 1, \"SA\": 0,"
    " \"SB\": 0, \"STRM\": 0, \"STRN\": 0, \"VWM\": 1, \"VWN\": 1}},"
    " \"GemmRoutine\": {\"time_ms\": 1, \"parameters\": {\"XGEMM_MIN_INDIRECT_SIZE\": 1}}";

/* The set clblast_tuner_xgemm found on PoCL (as in test_tuning). */
static const char GOOD_XGEMM[] =
    "\"Xgemm\": {\"time_ms\": 1, \"parameters\": {\"GEMMK\": 0, \"KREG\": 1, \"KWG\": 32, \"KWI\": 2,"
    " \"MDIMA\": 8, \"MDIMC\": 8, \"MWG\": 64, \"NDIMB\": 32, \"NDIMC\": 32, \"NWG\": 64, \"SA\": 1,"
    " \"SB\": 1, \"STRM\": 0, \"STRN\": 0, \"VWM\": 4, \"VWN\": 1}}";

static void step_gemms_count_every_multiply_add(void)
{
    duo_tune_gemm g[DUO_TUNE_MAX_GEMMS];
    int n = duo_tune_step_gemms(&MODEL, BATCH, g, DUO_TUNE_MAX_GEMMS);
    double N = BATCH * MODEL.ctx, d = MODEL.d_model, L = MODEL.n_layers, half = N / 2;
    /* Forward, dX and dW of every linear layer: 4 projections, 3 matrices per
     * FFN route over half of the tokens, the head. */
    double want = 3 * (L * (4 * N * d * d + 3 * half * d * (MODEL.ffn_big + MODEL.ffn_small)) +
                       N * MODEL.vocab * d);
    double got = 0;
    int attention = 0;
    for (int i = 0; i < n; i++) {
        if (g[i].batch > 1) {
            attention++;
            /* T 64: one query block; two products of each kind per block and layer. */
            unit_check("attention_runs_twice_per_block_and_layer", g[i].count == 2 * 1 * MODEL.n_layers,
                       "%s: %d", g[i].name, g[i].count);
            continue;
        }
        got += (double)g[i].count * g[i].m * g[i].n * g[i].k;
    }
    unit_check("step_gemm_kinds", n == 21 && attention == 3, "%d GEMMs, %d attention", n, attention);
    unit_check("step_multiply_adds", got == want, "%.0f, want %.0f", got, want);
}

/* Equal to the 15 digits a JSON number keeps. */
static bool same(double a, double b) { return fabs(a - b) <= 1e-12 * fabs(b); }

static void slower_candidate_refused_builtin_kept(void)
{
    char candidate[1500];
    snprintf(candidate, sizeof candidate, "%s/tiny-tiles.json", tmp);
    tuning_file(candidate, "", "", TINY_TILES);
    duo_tune_options o = {.model = &MODEL, .batch = BATCH, .rounds = 2, .candidate = candidate,
                          .program = DUOCL_PROGRAM};
    duo_tune_result *r = calloc(1, sizeof *r);
    if (!r || !unit_ok("tune_with_candidate", duo_tune_device(&o, r))) {
        free(r);
        return;
    }
    unit_check("candidate_timed_slower", r->set_count == 2 && r->best_tuned == 1 &&
                                             r->total_ms[1] > r->total_ms[0],
               "sets %d, built-in %.3f ms, candidate %.3f ms a step", r->set_count, r->total_ms[0],
               r->total_ms[1]);
    unit_check("builtin_parameters_kept", r->kept == 0 && r->kernel_count == 0 &&
                                              r->failed == DUO_TUNE_OK,
               "kept %d, %d kernels", r->kept, r->kernel_count);
    unit_check("no_tuning_env_restored", getenv("DUOCL_NO_TUNING") == NULL, "DUOCL_NO_TUNING=%s",
               getenv("DUOCL_NO_TUNING"));
    duo_tuning t;
    if (unit_ok("decision_file_loads", duo_tuning_load(r->path, &device, &t)))
        unit_check("file_records_builtin_kept_and_both_totals",
                   strcmp(r->path, path) == 0 && t.builtin_kept && t.kernel_count == 0 && t.compared &&
                       same(t.builtin_ms, r->total_ms[0]) && same(t.tuned_ms, r->total_ms[1]) &&
                       t.rounds == 2 && t.gemms == r->gemm_count,
                   "%s: builtin_kept %d, %d kernels, %.17g vs %.17g ms (result %.17g, %.17g), "
                   "%d rounds, %d gemms", r->path, t.builtin_kept, t.kernel_count, t.builtin_ms,
                   t.tuned_ms, r->total_ms[0], r->total_ms[1], t.rounds, t.gemms);
    duo_runtime *rt = NULL;
    unit_ok("runtime_starts_with_builtin_kept_file", duo_runtime_create(NULL, &rt));
    duo_runtime_destroy(rt);
    free(r);
}

/* Writes the device's tuning file; runtime creation must fail naming it. */
static void runtime_refuses(const char *name, const char *needle)
{
    duo_runtime *rt = NULL;
    unit_fails(name, duo_runtime_create(NULL, &rt), DUO_ERR_FORMAT, path, needle);
    duo_runtime_destroy(rt);
}

static void slower_file_refused_at_start(void)
{
    static const char slower[] = "{\"builtin_ms\": 10, \"tuned_ms\": 20, \"gemms\": 21, \"rounds\": 3}";
    static const char faster[] = "{\"builtin_ms\": 20, \"tuned_ms\": 10, \"gemms\": 21, \"rounds\": 3}";
    tuning_file(path, "tuned parameters kept", slower, GOOD_XGEMM);
    runtime_refuses("recorded_slower_file_refused", "slower than CLBlast's built-in");
    tuning_file(path, "tuned parameters kept", "{\"builtin_ms\": 10, \"tuned_ms\": 10, \"gemms\": 21,"
                                               " \"rounds\": 3}", GOOD_XGEMM);
    runtime_refuses("recorded_equal_file_refused", "slower than CLBlast's built-in");
    tuning_file(path, "built-in parameters kept", slower, GOOD_XGEMM);
    runtime_refuses("builtin_kept_file_with_kernels_refused", "holds kernel parameters");
    tuning_file(path, "kept", faster, GOOD_XGEMM);
    runtime_refuses("unknown_decision_refused", "decision");
    tuning_file(path, "tuned parameters kept", faster, GOOD_XGEMM);
    duo_runtime *rt = NULL;
    unit_ok("recorded_faster_file_applied", duo_runtime_create(NULL, &rt));
    duo_runtime_destroy(rt);
    remove(path);
}

/* A tuner stopped on time leaves no JSON for its phase: its log's rows count. */
static void stopped_tuner_log_is_read(void)
{
    char p[1500];
    snprintf(p, sizeof p, "%s/log.txt", tmp);
    write_text(p, "* Parameters explored: WGD MDIMCD VWMD \n"
                  "|  ref |     - |    - |       8       8 |    1024      32 |   OK |   9.00 ms |"
                  "      - |      reference OK |\n"
                  "|    1 |    11 |   32   16    2 |      16      16 |    1024      32 |   OK     68 ms |"
                  "     22.01 ms |    3.0 |     results match |\n"
                  "|    2 |    11 |   64    8    1 |      16       8 |    1024      16 |   OK     58 ms |"
                  "      7.56 ms |    8.9 |     results match |\n"
                  "|    3 |    11 |   16    8    4 |      16       8 |    1024      16 |   OK     58 ms |"
                  "      1.00 ms |   60.0 |   L2 error 6.25e+00 | <-- skipping\n"
                  "|    4 |    11 |   32    8    1 |      16       8 |  "); /* cut off when killed */
    duo_tuning_kernel k;
    bool found = duo_tuning_read_clblast_log(p, "XgemmDirect", &k);
    unit_check("fastest_matching_row_of_log", found && k.count == 3 && k.time_ms == 7.56 &&
                                                  strcmp(k.names[2], "VWMD") == 0 &&
                                                  k.values[0] == 64 && k.values[2] == 1 &&
                                                  strcmp(k.name, "XgemmDirect") == 0,
               "found %d, %d parameters, %.2f ms, WGD %zu", found, k.count, k.time_ms, k.values[0]);
    remove(p);
}

static void options_checked(void)
{
    duo_tune_result *r = calloc(1, sizeof *r);
    if (!r)
        return;
    duo_tune_options o = {.rounds = 2};
    duo_status st = duo_tune_device(&o, r);
    unit_check("model_required", st == DUO_ERR_INVALID_ARGUMENT && r->failed == DUO_TUNE_FAILED_OPTIONS,
               "%s: %s", duo_status_name(st), duo_last_error());
    o = (duo_tune_options){.model = &MODEL, .rounds = DUO_TUNE_MAX_ROUNDS + 1};
    st = duo_tune_device(&o, r);
    unit_fails("rounds_bounded", st, DUO_ERR_INVALID_ARGUMENT, "rounds", NULL);
    o = (duo_tune_options){.model = &MODEL, .program = "/nonexistent/duocl"};
    st = duo_tune_device(&o, r);
    unit_fails("program_must_exist", st, DUO_ERR_INVALID_ARGUMENT, "/nonexistent/duocl", NULL);
    free(r);
}

int main(void)
{
    /* Keep PoCL's warm kernel cache (a cold CLBlast compile is ~12 s), then
     * move duocl's own cache (and so the tuning file) to a temporary folder. */
    duo_platform_prepare_environment();
    if (!mkdtemp(tmp)) {
        printf("cannot create a temporary folder\n");
        return 1;
    }
    setenv("XDG_CACHE_HOME", tmp, 1);
    unsetenv("DUOCL_NO_TUNING");
    duo_runtime *rt = NULL;
    if (!unit_ok("runtime_untuned", duo_runtime_create(NULL, &rt)))
        return unit_summary("test_tune_policy");
    device = *duo_runtime_device(rt);
    duo_runtime_destroy(rt);
    duo_tuning_path(&device, path, sizeof path);

    UNIT_RUN(step_gemms_count_every_multiply_add);
    UNIT_RUN(options_checked);
    UNIT_RUN(stopped_tuner_log_is_read);
    UNIT_RUN(slower_candidate_refused_builtin_kept);
    UNIT_RUN(slower_file_refused_at_start);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp); /* the tuner's work folder and logs */
    if (system(cmd) != 0)
        printf("could not remove %s\n", tmp);
    return unit_summary("test_tune_policy");
}
