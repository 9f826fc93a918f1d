/* Shared pieces of the libFuzzer targets: a private temporary folder (in
 * /dev/shm when there is one, so writing each input costs little), writing
 * an input there as a file, and a NUL-terminated copy of an input. Each
 * target defines LLVMFuzzerTestOneInput and calls only duocl's loaders. */
#ifndef DUOCL_TESTS_FUZZ_UTIL_H
#define DUOCL_TESTS_FUZZ_UTIL_H

#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "duocl/status.h"

static char fuzz_dir[256];

/* What a target reads from a loaded file goes here, so the reads stay. */
static volatile double fuzz_sink __attribute__((unused));

static void fuzz_remove_dir(void)
{
    char command[300];
    snprintf(command, sizeof command, "rm -rf '%s'", fuzz_dir);
    if (fuzz_dir[0] && system(command) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir);
}

/* The private folder, made on first use and removed at exit. */
static __attribute__((unused)) const char *fuzz_temp_dir(void)
{
    if (fuzz_dir[0])
        return fuzz_dir;
    const char *tmp = getenv("TMPDIR");
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : tmp && *tmp ? tmp : "/tmp";
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/duocl-fuzz-XXXXXX", base);
    if (!mkdtemp(fuzz_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fuzz_remove_dir);
    return fuzz_dir;
}

/* Writes data to <temp dir>/<name> (replacing it) and returns the path in a
 * static buffer; NULL data with size 0 removes the file instead. */
static __attribute__((unused)) const char *fuzz_write(const char *name, const uint8_t *data, size_t size)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", fuzz_temp_dir(), name);
    if (!data) {
        unlink(path);
        return path;
    }
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

/* A NUL-terminated copy (the caller frees). */
static __attribute__((unused)) char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

/* An invariant of a loader failed: report it as a crash. */
#define FUZZ_ASSERT(cond, ...)                                       \
    do {                                                             \
        if (!(cond)) {                                               \
            fprintf(stderr, "fuzz: %s failed: ", #cond);             \
            fprintf(stderr, __VA_ARGS__);                            \
            fprintf(stderr, "\n");                                   \
            abort();                                                 \
        }                                                            \
    } while (0)

#endif
