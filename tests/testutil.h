/* What the tests share. First the op tests' harness: one runtime per
 * process, seeded random inputs, comparisons that print the worst error and
 * the tolerance, and a closing "N passed, M failed" line. Then, for the unit
 * tests, temporary folders and what a training run wrote (files, logs,
 * checkpoint steps), a tiny run's data (shards and config), and the parity
 * fixture's batch. */
#ifndef DUOCL_TESTS_TESTUTIL_H
#define DUOCL_TESTS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duocl/checkpoint.h"
#include "duocl/config.h"
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

/* ---- for the unit tests ----
 * The helpers below need no test_context: they report a failure by what they
 * return (a duo_status with duo_last_error() set, false with the reason in
 * `why`), and a test counts it with its own check (unitcheck.h). */

/* A new empty folder $TMPDIR/duocl-NAME-XXXXXX (/tmp without $TMPDIR) in dir;
 * false, after saying why on stderr, if it cannot be made. */
bool test_temp_dir(char *dir, size_t size, const char *name);

/* rm -rf dir; says so on stdout if that fails. */
void test_remove_dir(const char *dir);

/* Whether two files hold the same bytes; if not, why in `why` (names, sizes). */
bool test_same_files(const char *a, const char *b, char *why, size_t size);

/* The "state.step" a checkpoint file holds; UINT64_MAX if it cannot be read. */
uint64_t test_checkpoint_step(const char *path);

/* A run's log.jsonl (its first TEST_LOG_LINES records), one record a line,
 * without the newline and cut at the first timing field (tokens_per_s,
 * elapsed_s), which differs between runs: what is left must be equal bit for
 * bit between a run and its resumed copy. */
enum { TEST_LOG_LINES = 256, TEST_LOG_LINE = 512 };
typedef struct test_log {
    bool found; /* false: the file could not be opened (and n is 0) */
    int n;
    char line[TEST_LOG_LINES][TEST_LOG_LINE];
} test_log;

/* Reads the log at path into a new test_log (free() it; never NULL). */
test_log *test_read_log(const char *path);

/* How many of the log's records contain `needle` ("\"type\":\"train\""). */
int test_log_count(const test_log *log, const char *needle);

/* Whether two logs hold the same records; if not, why in `why` (the counts, or
 * the first record that differs, both versions). */
bool test_same_logs(const test_log *a, const test_log *b, char *why, size_t size);

/* ---- a tiny training run's data, for the tests that train ---- */

/* Byte-level shards of generated text in dir (created): for the domains "web"
 * (sentences from a tiny grammar) and "code" (assignments), <domain>.train.tok
 * from about train_bytes bytes of text and <domain>.val.tok from about
 * val_bytes; documents end with a 0x00 byte. Structured, so a tiny model
 * learns; the same bytes every time. */
duo_status test_tiny_shards(const char *dir, size_t train_bytes, size_t val_bytes);

/* The tiny model (byte vocabulary, d_model 32, 4 layers of 2 heads, ctx 32,
 * FFNs 64 and 8) trained on `shards` with batch 4, web and code weighted 1:1,
 * warm-up 2, seed 3, `steps` steps, validation on 200 tokens every
 * `eval_every` steps and a checkpoint every `ckpt_every`. */
duo_status test_tiny_config(const char *shards, int steps, int eval_every, int ckpt_every,
                            duo_config *out);

/* ---- the parity fixture's batch (parity_dump, router_parity_dump) ---- */

typedef struct test_batch {
    size_t B, T, L;
    int32_t *tokens, *targets; /* (B, T) */
    uint8_t *routes;           /* (L, B, T) */
} test_batch;

/* Allocates the arrays of a batch of B sequences of T tokens for L layers. */
duo_status test_batch_alloc(test_batch *b, size_t B, size_t T, size_t L);

/* Reads batch.tokens, batch.targets (i32 (B, T)) and batch.routes (u8 (L, B, T))
 * from a fixture; B and T come from batch.tokens' shape. */
duo_status test_batch_read(const duo_checkpoint *ck, size_t L, test_batch *b);

/* Frees the arrays and zeroes *b (so a second call does nothing). */
void test_batch_free(test_batch *b);

#endif
