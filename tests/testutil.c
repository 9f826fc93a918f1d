#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

static void die(const char *what)
{
    fprintf(stderr, "fatal: %s: %s\n", what, duo_last_error());
    exit(2);
}

int test_main(int argc, char **argv, const char *suite, void (*run)(test_context *t))
{
    test_context t = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--small") == 0)
            t.small = true;
        else {
            fprintf(stderr, "usage: %s [--small]\n", argv[0]);
            return 2;
        }
    }
    const char *seed_text = getenv("DUOCL_TEST_SEED");
    unsigned long long seed = seed_text ? strtoull(seed_text, NULL, 10) : (unsigned long long)time(NULL);
    t.rng = duo_rng_seeded(seed);
    duo_runtime_options options = {.device = getenv("DUOCL_DEVICE")};
    duo_status st = duo_runtime_create(&options, &t.rt);
    if (st != DUO_OK)
        die("creating the runtime");
    printf("%s on %s [%s], seed %llu (DUOCL_TEST_SEED=%llu reproduces)%s\n", suite,
           duo_runtime_device(t.rt)->name, duo_runtime_profile_name(t.rt), seed, seed,
           t.small ? ", small sizes" : "");
    run(&t);
    if (duo_runtime_finish(t.rt) != DUO_OK)
        test_ok(&t, "finish queue", DUO_ERR_OPENCL);
    duo_runtime_destroy(t.rt);
    printf("%s: %d passed, %d failed\n", suite, t.passed, t.failed);
    return t.failed ? 1 : 0;
}

bool test_close(test_context *t, const char *name, const float *got, const float *want, size_t n,
                double atol, double rtol)
{
    /* Two worst elements: the largest absolute error (what is printed on
     * success) and the one furthest past its bound (what is printed on failure). */
    double largest_error = 0, worst_excess = -INFINITY;
    size_t worst = 0;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        bool both_nan = isnan(got[i]) && isnan(want[i]);
        double error = both_nan ? 0 : fabs((double)got[i] - (double)want[i]);
        if (isnan(error))
            error = INFINITY;
        double excess = error - (atol + rtol * fabs((double)want[i]));
        if (excess > 0)
            ok = false;
        if (error > largest_error)
            largest_error = error;
        if (excess > worst_excess) {
            worst_excess = excess;
            worst = i;
        }
    }
    if (ok) {
        t->passed++;
        printf("  ok    %-48s largest error %.3g (atol %.1g, rtol %.1g)\n", name, largest_error,
               atol, rtol);
    } else {
        t->failed++;
        printf("  FAIL  %-48s at [%zu]: got %.9g want %.9g, error %.3g > atol %.1g + rtol %.1g\n",
               name, worst, got[worst], want[worst], fabs((double)got[worst] - (double)want[worst]),
               atol, rtol);
    }
    return ok;
}

bool test_same_bytes(test_context *t, const char *name, const void *a, const void *b, size_t bytes)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < bytes; i++)
        if (x[i] != y[i]) {
            t->failed++;
            printf("  FAIL  %-48s first differing byte %zu of %zu\n", name, i, bytes);
            return false;
        }
    t->passed++;
    printf("  ok    %-48s %zu identical bytes\n", name, bytes);
    return true;
}

bool test_true(test_context *t, const char *name, bool ok, const char *detail)
{
    if (ok)
        t->passed++;
    else
        t->failed++;
    printf("  %-5s %-48s %s\n", ok ? "ok" : "FAIL", name, detail ? detail : "");
    return ok;
}

bool test_ok(test_context *t, const char *name, duo_status status)
{
    if (status == DUO_OK)
        return true;
    t->failed++;
    printf("  FAIL  %-48s %s: %s\n", name, duo_status_name(status), duo_last_error());
    return false;
}

void test_fill(test_context *t, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = duo_rng_range(&t->rng, lo, hi);
}

void *test_malloc(size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "fatal: out of memory (%zu bytes)\n", bytes);
        exit(2);
    }
    return p;
}

cl_mem test_alloc(test_context *t, size_t bytes)
{
    /* Poisoned with NaN from the host: an element a kernel fails to write shows
     * up in the comparison, and oclgrind 21.10 (which misreports reads of
     * device-written memory in a recycled allocation as uninitialised) sees the
     * whole buffer initialised by a host write. */
    float *poison = test_malloc(bytes);
    for (size_t i = 0; i < bytes / sizeof(float); i++)
        poison[i] = NAN;
    cl_mem m = test_upload(t, poison, bytes);
    free(poison);
    return m;
}

cl_mem test_upload(test_context *t, const void *host, size_t bytes)
{
    cl_mem m;
    if (duo_buffer_create(t->rt, bytes, &m) != DUO_OK || duo_buffer_write(t->rt, m, 0, bytes, host) != DUO_OK)
        die("uploading a buffer");
    return m;
}

void test_download(test_context *t, cl_mem buffer, void *host, size_t bytes)
{
    if (duo_buffer_read(t->rt, buffer, 0, bytes, host) != DUO_OK)
        die("downloading a buffer");
}
