/* A bench JSON file (duo_bench_report_from_json, read by `duocl bench
 * compare`). A report that loads writes back to JSON (reading only what it
 * holds) that loads again to the same text. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    duo_bench_report r;
    if (duo_bench_report_from_json(text, "fuzz.json", &r) == DUO_OK) {
        char *json = NULL, *again = NULL;
        FUZZ_ASSERT(duo_bench_report_to_json(&r, &json) == DUO_OK, "%s", duo_last_error());
        duo_bench_report back;
        FUZZ_ASSERT(duo_bench_report_from_json(json, "written back", &back) == DUO_OK,
                    "the written report does not load: %s", duo_last_error());
        FUZZ_ASSERT(duo_bench_report_to_json(&back, &again) == DUO_OK, "%s", duo_last_error());
        FUZZ_ASSERT(strcmp(json, again) == 0, "a report changed on a round trip");
        for (int i = 0; i < r.count; i++)
            (void)duo_bench_report_find(&back, r.cases[i].section, r.cases[i].name);
        free(json);
        free(again);
        duo_bench_report_free(&back);
        duo_bench_report_free(&r);
    }
    duo_clear_error();
    free(text);
    return 0;
}
