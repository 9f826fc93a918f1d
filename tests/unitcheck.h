/* A tiny harness for plain unit tests that need no OpenCL device: named
 * checks that print what failed, a summary line, and the source tree's root
 * (for the shipped configs) found from this file's path. Header-only so a
 * test_*.c needs nothing else. */
#ifndef DUOCL_TESTS_UNITCHECK_H
#define DUOCL_TESTS_UNITCHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duocl/status.h"

static int unit_passed, unit_failed;

/* Counts one check; on failure prints the name and the formatted detail. */
static bool unit_check(const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), unused));
static bool unit_check(const char *name, bool ok, const char *fmt, ...)
{
    if (ok) {
        unit_passed++;
        return true;
    }
    unit_failed++;
    printf("  FAIL  %s: ", name);
    va_list args;
    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);
    printf("\n");
    return false;
}

/* A call that must succeed; prints duo_last_error() otherwise. */
__attribute__((unused)) static bool unit_ok(const char *name, duo_status st)
{
    return unit_check(name, st == DUO_OK, "%s: %s", duo_status_name(st), duo_last_error());
}

/* A call that must fail with `want` and a message containing every non-NULL
 * needle (key paths, allowed ranges, file names). */
__attribute__((unused)) static bool unit_fails(const char *name, duo_status st, duo_status want,
                                               const char *needle1, const char *needle2)
{
    const char *msg = duo_last_error();
    bool ok = st == want && (!needle1 || strstr(msg, needle1)) && (!needle2 || strstr(msg, needle2));
    return unit_check(name, ok, "got %s \"%s\", want %s with \"%s\"%s%s%s", duo_status_name(st),
                      st == DUO_OK ? "" : msg, duo_status_name(want), needle1 ? needle1 : "",
                      needle2 ? " and \"" : "", needle2 ? needle2 : "", needle2 ? "\"" : "");
}

/* Runs one named test function and prints "ok NAME" if it added no failure. */
#define UNIT_RUN(fn)                                                  \
    do {                                                              \
        int failed_before_ = unit_failed;                             \
        fn();                                                         \
        printf("  %-5s %s\n", unit_failed == failed_before_ ? "ok" : "FAIL", #fn); \
    } while (0)

__attribute__((unused)) static int unit_summary(const char *suite)
{
    printf("%s: %d checks passed, %d failed\n", suite, unit_passed, unit_failed);
    return unit_failed ? 1 : 0;
}

/* The repository root: $DUOCL_SOURCE_DIR, else derived from this header's
 * path (tests/unitcheck.h), which CMake gives as an absolute path. */
__attribute__((unused)) static const char *unit_source_dir(void)
{
    static char dir[4096];
    const char *env = getenv("DUOCL_SOURCE_DIR");
    if (env && *env)
        return env;
    snprintf(dir, sizeof dir, "%s", __FILE__);
    char *end = strstr(dir, "tests/unitcheck.h");
    if (end)
        *end = '\0';
    else
        snprintf(dir, sizeof dir, "./");
    return dir;
}

#endif
