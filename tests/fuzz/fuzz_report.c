/* The report's inputs (duocl report): a run folder's eval.json,
 * oracle.json, difficulty.json, log.jsonl and a router's log.jsonl, read by
 * rpt_run_open, turned into the claims' inputs (claims_read.c), decided and
 * rendered (every section; charts stand as notes, gnuplot is not run).
 *
 * Input: the five files one after another, separated by a line "@@@"
 * (fewer parts: the later files are absent; an empty part: an empty file).
 * config.json is a fixed tiny config (its loader has its own target). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report/report.h"
#include "fuzz_util.h"

static const char CONFIG[] =
    "{\"model\": {\"vocab\": 257, \"d_model\": 32, \"n_layers\": 4, \"n_heads\": 2, \"ctx\": 32,"
    " \"ffn_big\": 64, \"ffn_small\": 8},"
    " \"train\": {\"batch\": 4, \"steps\": 40, \"warmup\": 10, \"eval_every\": 20, \"eval_tokens\": 256,"
    " \"ckpt_every\": 10, \"seed\": 5, \"domain_weights\": {\"web\": 1, \"code\": 1}},"
    " \"data\": {\"tokenizer\": \"byte\", \"shards\": \"shards\"}}\n";

static const char *const FILES[] = {"run/eval.json", "run/oracle.json", "run/difficulty.json",
                                    "run/log.jsonl", "run/router/k1-SB/log.jsonl"};
enum { N_FILES = sizeof FILES / sizeof FILES[0] };

/* The first `sep` in [p, end), or NULL. */
static const uint8_t *find(const uint8_t *p, const uint8_t *end, const char *sep, size_t n)
{
    for (; (size_t)(end - p) >= n; p++)
        if (memcmp(p, sep, n) == 0)
            return p;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char run_dir[400];
    if (!run_dir[0]) {
        snprintf(run_dir, sizeof run_dir, "%s/run", fuzz_temp_dir());
        mkdir(run_dir, 0755);
        char path[512];
        snprintf(path, sizeof path, "%s/router", run_dir);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/router/k1-SB", run_dir);
        mkdir(path, 0755);
        fuzz_write("run/config.json", (const uint8_t *)CONFIG, strlen(CONFIG));
    }
    static const char SEP[] = "\n@@@\n";
    const uint8_t *p = data, *end = data + size;
    for (int i = 0; i < N_FILES; i++) {
        if (!p) {
            fuzz_write(FILES[i], NULL, 0);
            continue;
        }
        const uint8_t *next = find(p, end, SEP, sizeof SEP - 1);
        size_t n = next ? (size_t)(next - p) : (size_t)(end - p);
        fuzz_write(FILES[i], p, n);
        p = next ? next + sizeof SEP - 1 : NULL;
    }
    rpt_run run;
    if (rpt_run_open(run_dir, NULL, &run) == DUO_OK) {
        rpt_plotter plotter = {.unavailable = true, .why = "charts are not drawn while fuzzing"};
        rpt_buf html = {0};
        rpt_render(&run, &plotter, &html);
        FUZZ_ASSERT(html.failed || (html.data && strstr(html.data, "</html>")), "no whole page");
        rb_free(&html);
    }
    rpt_run_close(&run);
    duo_clear_error();
    return 0;
}
