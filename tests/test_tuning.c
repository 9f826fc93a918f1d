/* Stored CLBlast tuning (host/tuning.h), without running any tuner (too slow
 * for CI): a file round-trips; a CLBlast tuner result is read with PRECISION
 * dropped; broken, foreign or CLBlast-rejected files make duo_runtime_create
 * fail with the file's path in the message (the documented policy), and
 * DUOCL_NO_TUNING=1 skips them; valid parameters are applied and GEMM stays
 * correct (duo_selftest_gemm) with them, including through the tuned Xgemm
 * kernel (GemmRoutine's XGEMM_MIN_INDIRECT_SIZE=1 forces the indirect path).
 * Runs in a temporary $XDG_CACHE_HOME so the user's tuning file is untouched. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "platforms/environment.h"
#include "duocl/runtime.h"
#include "duocl/selftest.h"
#include "base/fileio.h"
#include "device/tuning.h"
#include "unitcheck.h"

static duo_device_info device;
static char path[1400];

/* A valid Xgemm set found by clblast_tuner_xgemm on PoCL. */
static duo_tuning_kernel xgemm_kernel(void)
{
    static const char *names[] = {"GEMMK", "KREG", "KWG",  "KWI",  "MDIMA", "MDIMC",
                                  "MWG",   "NDIMB", "NDIMC", "NWG", "SA",    "SB",
                                  "STRM",  "STRN", "VWM",  "VWN"};
    static const size_t values[] = {0, 1, 32, 2, 8, 8, 64, 32, 32, 64, 1, 1, 0, 0, 4, 1};
    duo_tuning_kernel k = {.name = "Xgemm", .time_ms = 0.87, .count = 16};
    for (int i = 0; i < k.count; i++) {
        strcpy(k.names[i], names[i]);
        k.values[i] = values[i];
    }
    return k;
}

static duo_tuning valid_tuning(void)
{
    duo_tuning t = {0};
    strcpy(t.device, device.name);
    strcpy(t.driver, device.driver);
    strcpy(t.platform, device.platform);
    t.m = 1024, t.n = 256, t.k = 256;
    duo_tuning_kernel x = xgemm_kernel();
    duo_tuning_put(&t, &x, true);
    duo_tuning_kernel r = {.name = "GemmRoutine", .time_ms = 1.0, .count = 1};
    strcpy(r.names[0], "XGEMM_MIN_INDIRECT_SIZE");
    r.values[0] = 1;
    duo_tuning_put(&t, &r, true);
    return t;
}

static void write_text(const char *p, const char *text)
{
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void file_round_trips(void)
{
    duo_tuning t = valid_tuning(), back;
    if (!unit_ok("save", duo_tuning_save(path, &t)))
        return;
    if (!unit_ok("load", duo_tuning_load(path, &device, &back)))
        return;
    bool same = back.kernel_count == 2 && back.m == 1024 && back.n == 256 && back.k == 256 &&
                strcmp(back.device, device.name) == 0 && strcmp(back.driver, device.driver) == 0;
    for (int i = 0; same && i < t.kernel_count; i++) {
        const duo_tuning_kernel *a = &t.kernels[i], *b = &back.kernels[i];
        same = strcmp(a->name, b->name) == 0 && a->count == b->count && a->time_ms == b->time_ms;
        for (int p = 0; same && p < a->count; p++)
            same = strcmp(a->names[p], b->names[p]) == 0 && a->values[p] == b->values[p];
    }
    unit_check("round_trip_same_fields", same, "kernels %d shape %zux%zux%zu", back.kernel_count,
               back.m, back.n, back.k);
}

static void clblast_result_is_read(void)
{
    char p[1500];
    snprintf(p, sizeof p, "%s.clblast.json", path);
    write_text(p, "{\"kernel_family\": \"xgemm_1\", \"best_kernel\": \"Xgemm\", \"best_time\": \"0.87\","
                  " \"best_parameters\": \"GEMMK=0 KWG=32 PRECISION=32 VWN=1\", \"results\": []}");
    duo_tuning_kernel k;
    if (unit_ok("read_clblast_result", duo_tuning_read_clblast_result(p, "Xgemm", &k)))
        unit_check("clblast_result_drops_precision",
                   k.count == 3 && strcmp(k.names[1], "KWG") == 0 && k.values[1] == 32 &&
                       strcmp(k.names[2], "VWN") == 0 && k.time_ms == 0.87,
                   "count %d", k.count);
    write_text(p, "{\"best_time\": \"0.87\"}");
    unit_fails("clblast_result_without_parameters_refused",
               duo_tuning_read_clblast_result(p, "Xgemm", &k), DUO_ERR_FORMAT, p, NULL);
    remove(p);
}

/* Writes `text` as the device's tuning file; runtime creation must fail naming it. */
static void runtime_refuses(const char *name, const char *text, duo_status want, const char *needle)
{
    write_text(path, text);
    duo_runtime *rt = NULL;
    duo_status st = duo_runtime_create(NULL, &rt);
    unit_fails(name, st, want, path, needle);
    duo_runtime_destroy(rt);
}

/* A tuning file for the named device on this driver with one Xgemm parameter, KWG. */
static void xgemm_file(char *text, size_t size, const char *device_name, int kwg)
{
    snprintf(text, size,
             "{\"format\": \"duocl-clblast-tuning\", \"version\": 1, \"device\": \"%s\","
             " \"driver\": \"%s\", \"platform\": \"x\", \"shape\": [1, 1, 1],"
             " \"kernels\": {\"Xgemm\": {\"parameters\": {\"KWG\": %d}}}}",
             device_name, device.driver, kwg);
}

static void bad_files_are_refused(void)
{
    runtime_refuses("not_json_refused", "{not json", DUO_ERR_FORMAT, "not valid JSON");
    runtime_refuses("wrong_format_refused", "{\"format\": \"other\", \"version\": 1}", DUO_ERR_FORMAT,
                    "format");
    char text[2048];
    xgemm_file(text, sizeof text, "Some GPU", 32);
    runtime_refuses("foreign_device_refused", text, DUO_ERR_FORMAT, "Some GPU");
    xgemm_file(text, sizeof text, device.name, -3);
    runtime_refuses("negative_parameter_refused", text, DUO_ERR_FORMAT, "non-negative");
    /* Well-formed, but CLBlast needs every Xgemm parameter. */
    xgemm_file(text, sizeof text, device.name, 32);
    runtime_refuses("incomplete_parameters_rejected_by_clblast", text, DUO_ERR_CLBLAST, "Xgemm");

    setenv("DUOCL_NO_TUNING", "1", 1);
    duo_runtime *rt = NULL;
    unit_ok("no_tuning_env_skips_bad_file", duo_runtime_create(NULL, &rt));
    duo_runtime_destroy(rt);
    unsetenv("DUOCL_NO_TUNING");
    remove(path);
    rt = NULL;
    unit_ok("no_file_means_untuned", duo_runtime_create(NULL, &rt));
    duo_runtime_destroy(rt);
}

static void tuned_gemm_stays_correct(void)
{
    duo_tuning t = valid_tuning();
    if (!unit_ok("save_valid", duo_tuning_save(path, &t)))
        return;
    duo_runtime *rt = NULL;
    if (!unit_ok("runtime_applies_valid_file", duo_runtime_create(NULL, &rt)))
        return;
    duo_selftest_result r;
    duo_status st = duo_selftest_gemm(rt, &r);
    unit_check("selftest_gemm_passes_with_tuned_xgemm", st == DUO_OK && r.failed == 0,
               "%s; worst %.3e at %s", duo_last_error(), r.max_error, r.worst_case);
    duo_runtime_destroy(rt);
    remove(path);
}

int main(void)
{
    /* Keep PoCL's warm kernel cache (a cold CLBlast compile is ~12 s), then
     * move duocl's own cache (and so the tuning file) to a temporary folder. */
    duo_platform_prepare_environment();
    char tmp[] = "/tmp/duocl-test-tuning-XXXXXX";
    if (!mkdtemp(tmp)) {
        printf("cannot create a temporary folder\n");
        return 1;
    }
    setenv("XDG_CACHE_HOME", tmp, 1);
    unsetenv("DUOCL_NO_TUNING");
    duo_runtime *rt = NULL;
    if (!unit_ok("runtime_untuned", duo_runtime_create(NULL, &rt)))
        return unit_summary("test_tuning");
    device = *duo_runtime_device(rt);
    duo_runtime_destroy(rt);
    duo_tuning_path(&device, path, sizeof path);
    unit_check("path_in_temporary_cache", strncmp(path, tmp, strlen(tmp)) == 0 &&
                                              strstr(path, "/duocl/tuning/") != NULL,
               "%s", path);
    char dir[1400];
    snprintf(dir, sizeof dir, "%s/duocl/tuning", tmp);
    duo_make_directories(dir);

    UNIT_RUN(file_round_trips);
    UNIT_RUN(clblast_result_is_read);
    UNIT_RUN(bad_files_are_refused);
    UNIT_RUN(tuned_gemm_stays_correct);
    rmdir(dir);
    snprintf(dir, sizeof dir, "%s/duocl", tmp);
    rmdir(dir);
    rmdir(tmp);
    return unit_summary("test_tuning");
}
