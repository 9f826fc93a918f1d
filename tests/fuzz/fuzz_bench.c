/* A bench JSON file (duo_bench_report_from_json, read by `duocl bench
 * compare`). A report that loads writes back to JSON (reading only what it
 * holds) that loads again to the same cases and numbers. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "fuzz_util.h"

/* Equal, or both NaN, or within cJSON's printing (15 significant digits
 * when they read back within its epsilon). */
static int near(double a, double b)
{
    return a == b || (a != a && b != b) || fabs(a - b) <= 1e-12 * fmax(fabs(a), fabs(b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    duo_bench_report r;
    if (duo_bench_report_from_json(text, "fuzz.json", &r) == DUO_OK) {
        char *json = NULL;
        FUZZ_ASSERT(duo_bench_report_to_json(&r, &json) == DUO_OK, "%s", duo_last_error());
        duo_bench_report back;
        FUZZ_ASSERT(duo_bench_report_from_json(json, "written back", &back) == DUO_OK,
                    "the written report does not load: %s", duo_last_error());
        FUZZ_ASSERT(back.count == r.count && back.repeat == r.repeat && back.batch == r.batch &&
                    strcmp(back.label, r.label) == 0, "the report changed on a round trip");
        for (int i = 0; i < r.count; i++) {
            const duo_bench_case *a = &r.cases[i], *b = &back.cases[i];
            FUZZ_ASSERT(strcmp(a->section, b->section) == 0 && strcmp(a->name, b->name) == 0 &&
                        a->seconds.n == b->seconds.n && near(a->seconds.median, b->seconds.median) &&
                        near(a->work, b->work), "case %d changed on a round trip", i);
            for (int k = 0; k < a->seconds.n; k++)
                FUZZ_ASSERT(near(a->samples[k], b->samples[k]), "case %d sample %d changed", i, k);
            FUZZ_ASSERT(duo_bench_report_find(&back, a->section, a->name) != NULL, "case %d not found", i);
        }
        free(json);
        duo_bench_report_free(&back);
        duo_bench_report_free(&r);
    }
    duo_clear_error();
    free(text);
    return 0;
}
