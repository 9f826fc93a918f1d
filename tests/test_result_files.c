/* A result file that later runs add to is never overwritten when it does
 * not parse (issue 14): `duocl eval` on a run whose eval.json had been cut by
 * 3 bytes exited 0 and rewrote it with only the new entry. Now it stops with
 * DUO_ERR_FORMAT naming the file and --force, before evaluating, and leaves
 * the file as it was; with force the damaged file is kept as eval.json.bad
 * and a new eval.json starts. A good eval.json keeps its other entries. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duocl/eval.h"
#include "duocl/runtime.h"
#include "study/train.h"
#include "testutil.h"
#include "unitcheck.h"

static char work[256], run_dir[512], eval_path[700];
static duo_runtime *rt;

static duo_status eval(const char *routes, bool force, duo_eval_summary *s)
{
    duo_eval_options o = {.run_dir = run_dir, .routes = routes, .tokens = 64, .force = force};
    return duo_eval_run(rt, &o, s);
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    char *b = calloc(1, *n + 1);
    if (b && fread(b, 1, *n, f) != *n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

/* The routing specs eval.json holds, comma-separated, of the four these
 * tests use (a spec appears in the file only as an entry's key). */
static void keys_of(const char *path, char *out, size_t cap)
{
    static const char *const specs[] = {"all-big", "all-small", "all-skip", "pattern:BBBB"};
    size_t n = 0;
    char *text = slurp(path, &n);
    out[0] = '\0';
    for (int i = 0; text && i < 4; i++) {
        char key[64];
        snprintf(key, sizeof key, "\"%s\":", specs[i]);
        if (strstr(text, key))
            snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? "," : "", specs[i]);
    }
    free(text);
}

static duo_eval_summary summary;

static void good_file_keeps_other_entries(void)
{
    unit_ok("eval all-big", eval("all-big", false, &summary));
    unit_ok("eval all-small", eval("all-small", false, &summary));
    char keys[256];
    keys_of(eval_path, keys, sizeof keys);
    unit_check("both entries", strcmp(keys, "all-big,all-small") == 0, "eval.json has %s", keys);
}

static void damaged_file_is_never_overwritten(void)
{
    size_t n = 0;
    char *text = slurp(eval_path, &n);
    if (!unit_check("read eval.json", text && n > 3, "%s", eval_path))
        return;
    FILE *f = fopen(eval_path, "wb"); /* cut by 3 bytes, as the fuzzer did */
    fwrite(text, 1, n - 3, f);
    fclose(f);
    unit_fails("a damaged eval.json stops eval", eval("all-skip", false, &summary), DUO_ERR_FORMAT,
               "eval.json' is not valid JSON", "--force");
    size_t after_n = 0;
    char *after = slurp(eval_path, &after_n);
    unit_check("eval.json is left as it was", after && after_n == n - 3 && memcmp(after, text, n - 3) == 0,
               "%zu bytes, want the %zu damaged bytes", after_n, n - 3);
    free(after);

    unit_ok("--force starts afresh", eval("all-skip", true, &summary));
    char bad[800], keys[256];
    snprintf(bad, sizeof bad, "%s.bad", eval_path);
    unit_check("the summary names the kept copy", strcmp(summary.bad_copy, bad) == 0, "bad_copy \"%s\"",
               summary.bad_copy);
    char *kept = slurp(bad, &after_n);
    unit_check("the damaged file is kept as eval.json.bad",
               kept && after_n == n - 3 && memcmp(kept, text, n - 3) == 0, "%s: %zu bytes", bad, after_n);
    free(kept);
    keys_of(eval_path, keys, sizeof keys);
    unit_check("the new eval.json has the new entry", strcmp(keys, "all-skip") == 0, "eval.json has %s",
               keys);

    /* A second damaged file does not replace the first copy. */
    f = fopen(eval_path, "wb");
    fputs("[1, 2", f);
    fclose(f);
    unit_ok("--force again", eval("all-big", true, &summary));
    snprintf(bad, sizeof bad, "%s.bad2", eval_path);
    unit_check("the next copy is eval.json.bad2", strcmp(summary.bad_copy, bad) == 0 && access(bad, F_OK) == 0,
               "bad_copy \"%s\"", summary.bad_copy);
    free(text);
}

static void json_that_is_not_an_object_is_not_overwritten(void)
{
    FILE *f = fopen(eval_path, "wb");
    fputs("[]\n", f);
    fclose(f);
    unit_fails("an array is refused", eval("all-big", false, &summary), DUO_ERR_FORMAT,
               "not an object", "--force");
    size_t n = 0;
    char *text = slurp(eval_path, &n);
    unit_check("left as it was", text && strcmp(text, "[]\n") == 0, "\"%s\"", text ? text : "?");
    free(text);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!test_temp_dir(work, sizeof work, "result-files"))
        return 1;
    char shards[300];
    snprintf(shards, sizeof shards, "%s/shards", work);
    snprintf(run_dir, sizeof run_dir, "%s/run", work);
    snprintf(eval_path, sizeof eval_path, "%s/eval.json", run_dir);
    duo_config c;
    if (!unit_ok("shards", test_tiny_shards(shards, 30000, 4000)) ||
        !unit_ok("config", test_tiny_config(shards, 2, 0, 0, &c)))
        return unit_summary("test_result_files");
    duo_runtime_options ro = {.device = getenv("DUOCL_DEVICE")};
    if (!unit_ok("runtime", duo_runtime_create(&ro, &rt)))
        return unit_summary("test_result_files");
    duo_train_options o = {.run_dir = run_dir};
    if (unit_ok("train", duo_train(rt, &c, &o))) {
        UNIT_RUN(good_file_keeps_other_entries);
        UNIT_RUN(damaged_file_is_never_overwritten);
        UNIT_RUN(json_that_is_not_an_object_is_not_overwritten);
    }
    duo_runtime_destroy(rt);
    if (unit_failed)
        printf("kept %s for inspection\n", work);
    else
        test_remove_dir(work);
    return unit_summary("test_result_files");
}
