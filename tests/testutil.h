/* A small test harness shared by every op test: one runtime per process,
 * seeded random inputs, comparisons that print the worst error and the
 * tolerance, and a closing "N passed, M failed" line. */
#ifndef DUOCL_TESTS_TESTUTIL_H
#define DUOCL_TESTS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "base/rng.h"
#include "device/runtime_internal.h"

typedef struct test_context {
    duo_runtime *rt;
    duo_rng rng;     /* seeded from the clock unless DUOCL_TEST_SEED is set; printed */
    bool small;      /* --small: tiny sizes, for oclgrind */
    int passed, failed;
} test_context;

/* Parses --small, creates the runtime (device from $DUOCL_DEVICE), calls run,
 * prints the summary and returns the process exit code (0 only if all passed). */
int test_main(int argc, char **argv, const char *suite, void (*run)(test_context *t));

/* One check: |got - want| <= atol + rtol * |want| element-wise. Prints the
 * worst element, its error and the tolerance; counts a pass or a failure. */
bool test_close(test_context *t, const char *name, const float *got, const float *want, size_t n,
                double atol, double rtol);

/* Exact byte equality (determinism checks). */
bool test_same_bytes(test_context *t, const char *name, const void *a, const void *b, size_t bytes);

/* A boolean check with a message. */
bool test_true(test_context *t, const char *name, bool ok, const char *detail);

/* A status must be DUO_OK; otherwise the failure is counted and the message printed. */
bool test_ok(test_context *t, const char *name, duo_status status);

/* n floats uniform in [lo, hi). */
void test_fill(test_context *t, float *x, size_t n, float lo, float hi);

/* Device copies of host arrays (abort the process on failure: a broken
 * runtime makes the rest of the suite meaningless). */
cl_mem test_upload(test_context *t, const void *host, size_t bytes);
cl_mem test_alloc(test_context *t, size_t bytes); /* filled with NaN */
void test_download(test_context *t, cl_mem buffer, void *host, size_t bytes);

/* malloc that aborts on failure. */
void *test_malloc(size_t bytes);

#endif
