/* A bench JSON file is untrusted input: every count read from it is checked
 * before use. A case whose "seconds": {"n": 100000} was once accepted, and
 * writing the report back read past the 64-sample array; a null or
 * fractional count was converted to an int (undefined for NaN). Each is now
 * refused with a message naming the field, and so is a number too large for
 * a double. No OpenCL device is needed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bench/bench.h"
#include "unitcheck.h"

/* A valid report with one case of three samples, as JSON text (malloc'd). */
static char *valid_report(void)
{
    duo_bench_report r;
    duo_bench_report_init(&r);
    snprintf(r.label, sizeof r.label, "fixture");
    r.repeat = 3;
    r.model.vocab = 256;
    duo_bench_case c = {.section = "gemm", .name = "q", .shape = "m=1 n=1 k=1", .work = 2,
                        .unit = "GFLOP/s", .samples = {0.3, 0.1, 0.2}, .device_median = NAN,
                        .cores = 1};
    double sorted[3] = {0.3, 0.1, 0.2};
    duo_bench_stats_of(sorted, 3, &c.seconds);
    duo_bench_report_add(&r, &c);
    char *text = NULL;
    duo_bench_report_to_json(&r, &text);
    duo_bench_report_free(&r);
    return text;
}

/* valid_report with root[key] (or cases[0][key], or cases[0].seconds[key])
 * replaced by the JSON value `value`. */
static char *with(const char *where, const char *key, const char *value)
{
    char *text = valid_report();
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *o = root;
    if (strcmp(where, "case") == 0 || strcmp(where, "seconds") == 0)
        o = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "cases"), 0);
    if (strcmp(where, "seconds") == 0)
        o = cJSON_GetObjectItem(o, "seconds");
    if (strcmp(where, "model") == 0)
        o = cJSON_GetObjectItem(root, "model");
    /* cJSON would print an infinity as null: a placeholder, then the text. */
    cJSON_ReplaceItemInObject(o, key, cJSON_CreateString("@VALUE@"));
    text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    char *at = strstr(text, "\"@VALUE@\"");
    char *out = malloc(strlen(text) + strlen(value) + 1);
    sprintf(out, "%.*s%s%s", (int)(at - text), text, value, at + strlen("\"@VALUE@\""));
    free(text);
    return out;
}

static void refused(const char *name, const char *where, const char *key, const char *value,
                    const char *needle)
{
    char *text = with(where, key, value);
    duo_bench_report r;
    unit_fails(name, duo_bench_report_from_json(text, "b.json", &r), DUO_ERR_FORMAT, "b.json", needle);
    free(text);
}

static void valid_report_reads_back_and_writes_again(void)
{
    char *text = valid_report();
    duo_bench_report r;
    if (unit_ok("from_json", duo_bench_report_from_json(text, "b.json", &r))) {
        unit_check("one_case_three_samples", r.count == 1 && r.cases[0].seconds.n == 3 &&
                   r.cases[0].samples[2] == 0.2, "count %d n %d", r.count,
                   r.count ? r.cases[0].seconds.n : -1);
        char *again = NULL;
        unit_ok("to_json_again", duo_bench_report_to_json(&r, &again));
        unit_check("same_text", again && strcmp(again, text) == 0, "texts differ");
        free(again);
        duo_bench_report_free(&r);
    }
    free(text);
}

static void sample_count_past_the_array_is_refused(void)
{
    refused("n_100000", "seconds", "n", "100000", "'n' must be a whole number from 0 to 64");
    refused("n_65", "seconds", "n", "65", "'n'");
    refused("n_negative", "seconds", "n", "-1", "'n'");
    refused("n_null", "seconds", "n", "null", "'n'");
    refused("n_fraction", "seconds", "n", "2.5", "'n'");
    refused("n_more_than_samples", "seconds", "n", "4", "'samples'");
    refused("n_fewer_than_samples", "seconds", "n", "2", "'samples'");
    refused("samples_not_array", "case", "samples", "{}", "'samples'");
}

static void counts_that_are_not_whole_numbers_are_refused(void)
{
    refused("version_null", "root", "version", "null", "version none");
    refused("version_fraction", "root", "version", "1.5", "version 1.5");
    refused("repeat_null", "root", "repeat", "null", "'repeat'");
    refused("repeat_huge", "root", "repeat", "1e300", "'repeat'");
    refused("batch_null", "root", "batch", "null", "'batch'");
    refused("batch_negative", "root", "batch", "-3", "'batch'");
    refused("vocab_fraction", "model", "vocab", "0.5", "'vocab'");
    refused("vocab_null", "model", "vocab", "null", "'vocab'");
}

/* 1e999 reads as infinity, which the writer can only write as null. */
static void numbers_that_are_not_finite_are_refused(void)
{
    refused("median_infinite", "seconds", "median", "1e999", "'median' is not a finite number");
    refused("work_infinite", "case", "work", "-1e999", "'work' is not a finite number");
}

int main(void)
{
    UNIT_RUN(valid_report_reads_back_and_writes_again);
    UNIT_RUN(sample_count_past_the_array_is_refused);
    UNIT_RUN(counts_that_are_not_whole_numbers_are_refused);
    UNIT_RUN(numbers_that_are_not_finite_are_refused);
    return unit_summary("test_bench_json");
}
