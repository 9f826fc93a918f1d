/* Kernel programs: sources from the binary or from DUOCL_KERNEL_DIR, compiled
 * with the device's -cl-std and the profile's defines, cached per process and,
 * where the vendor profile allows it, as binaries on disk; or, with
 * --kernel-binaries, loaded ready-built (program_export.c), and never
 * compiled where compiling is forbidden. Every program is kernels/common.cl
 * (what all kernels share: the work-group reduction) followed by its own file. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "platforms/environment.h"
#include "embedded_kernels.h"
#include "base/fileio.h"
#include "base/hash.h"
#include "runtime_internal.h"

/* Reads kernels/`file` into a malloc'd NUL-terminated string. */
static duo_status load_source(duo_runtime *rt, const char *file, char **out, size_t *length)
{
    if (!rt->kernel_dir[0]) {
        for (const duo_embedded_kernel *k = duo_embedded_kernels; k->file; k++)
            if (strcmp(k->file, file) == 0) {
                *out = malloc(k->length + 1);
                if (!*out)
                    return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory loading %s", file);
                memcpy(*out, k->source, k->length + 1);
                *length = k->length;
                return DUO_OK;
            }
        return duo_fail(DUO_ERR_INTERNAL, "kernel file %s is not embedded in this build", file);
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", rt->kernel_dir, file);
    FILE *f = fopen(path, "rb");
    if (!f)
        return duo_fail(DUO_ERR_IO, "cannot open kernel source %s (DUOCL_KERNEL_DIR=%s)", path,
                        rt->kernel_dir);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc(size > 0 ? (size_t)size + 1 : 1);
    if (!text) {
        fclose(f);
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory loading %s", path);
    }
    size_t got = size > 0 ? fread(text, 1, (size_t)size, f) : 0;
    fclose(f);
    text[got] = '\0';
    *out = text;
    *length = got;
    return DUO_OK;
}

/* Put in front of every program's source; not a program of its own. */
static const char PRELUDE_FILE[] = "common.cl";

/* A program's full source: `#line 1 "common.cl"`, common.cl, `#line 1 "FILE"`,
 * FILE. The #line directives keep the line numbers of a build log those of
 * each file. */
duo_status duo_program_source(duo_runtime *rt, const char *file, char **out, size_t *length)
{
    char *prelude = NULL, *own = NULL;
    size_t prelude_length = 0, own_length = 0;
    DUO_TRY(load_source(rt, PRELUDE_FILE, &prelude, &prelude_length));
    duo_status st = load_source(rt, file, &own, &own_length);
    if (st != DUO_OK) {
        free(prelude);
        return st;
    }
    const char *format = "#line 1 \"%s\"\n%s\n#line 1 \"%s\"\n%s";
    size_t cap = strlen(format) + strlen(PRELUDE_FILE) + prelude_length + strlen(file) +
                 own_length + 1;
    char *text = malloc(cap);
    if (!text) {
        free(prelude);
        free(own);
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory loading %s", file);
    }
    int n = snprintf(text, cap, format, PRELUDE_FILE, prelude, file, own);
    free(prelude);
    free(own);
    if (n < 0 || (size_t)n >= cap) {
        free(text);
        return duo_fail(DUO_ERR_INTERNAL, "assembling the source of %s failed", file);
    }
    *out = text;
    *length = (size_t)n;
    return DUO_OK;
}

void duo_program_source_hash(const char *source, size_t length, char out[17])
{
    uint64_t h = duo_fnv1a(DUO_FNV_OFFSET, source, length);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* The on-disk cache file for this device, driver, source (common.cl included)
 * and options. */
static void binary_cache_path(duo_runtime *rt, const char *file, const char *source, size_t length,
                              char *out, size_t cap)
{
    uint64_t h = DUO_FNV_OFFSET;
    h = duo_fnv1a(h, rt->device.name, strlen(rt->device.name));
    h = duo_fnv1a(h, rt->device.driver, strlen(rt->device.driver));
    h = duo_fnv1a(h, rt->device.platform_version, strlen(rt->device.platform_version));
    h = duo_fnv1a(h, rt->build_options, strlen(rt->build_options));
    h = duo_fnv1a(h, source, length);
    char dir[1024];
    duo_cache_dir(dir, sizeof dir);
    snprintf(out, cap, "%s/programs/%.40s-%016llx.bin", dir, file, (unsigned long long)h);
}

static cl_program load_cached_binary(duo_runtime *rt, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = size > 0 ? malloc((size_t)size) : NULL;
    size_t got = bytes ? fread(bytes, 1, (size_t)size, f) : 0;
    fclose(f);
    cl_program program = NULL;
    if (bytes && got == (size_t)size) {
        cl_int status, err;
        size_t n = got;
        const unsigned char *b = bytes;
        program = clCreateProgramWithBinary(rt->context, 1, &rt->device_id, &n, &b, &status, &err);
        if (err != CL_SUCCESS || status != CL_SUCCESS ||
            clBuildProgram(program, 1, &rt->device_id, rt->build_options, NULL, NULL) != CL_SUCCESS) {
            if (program)
                clReleaseProgram(program);
            program = NULL; /* a stale or foreign binary: rebuild from source */
        }
    }
    free(bytes);
    return program;
}

static void store_cached_binary(duo_runtime *rt, cl_program program, const char *path)
{
    size_t size = 0;
    if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS ||
        size == 0)
        return;
    unsigned char *bytes = malloc(size);
    if (!bytes)
        return;
    if (clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof bytes, &bytes, NULL) == CL_SUCCESS) {
        char dir[1400];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
            duo_make_directories(dir);
        }
        char tmp[1400 + 32];
        snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
        FILE *f = fopen(tmp, "wb");
        if (f) {
            int ok = fwrite(bytes, 1, size, f) == size;
            ok = (fclose(f) == 0) && ok;
            if (ok)
                rename(tmp, path);
            else
                remove(tmp);
        }
    }
    (void)rt;
    free(bytes);
}

duo_status duo_program_build_source(duo_runtime *rt, const char *file, const char *source,
                                    size_t length, cl_program *out)
{
    cl_int err;
    cl_program program = clCreateProgramWithSource(rt->context, 1, &source, &length, &err);
    if (err != CL_SUCCESS)
        return duo_cl_fail(err, "clCreateProgramWithSource", file);
    err = clBuildProgram(program, 1, &rt->device_id, rt->build_options, NULL, NULL);
    if (err != CL_SUCCESS) {
        size_t log_size = 0;
        clGetProgramBuildInfo(program, rt->device_id, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_size);
        char *log = malloc(log_size + 1);
        if (log) {
            log[0] = '\0';
            clGetProgramBuildInfo(program, rt->device_id, CL_PROGRAM_BUILD_LOG, log_size, log, NULL);
            log[log_size] = '\0';
        }
        duo_fail(DUO_ERR_BUILD, "building kernel file %s%s%s failed with %s (options: %s). Build log:\n%s",
                 file, rt->kernel_dir[0] ? " from " : "", rt->kernel_dir, duo_cl_error_name(err),
                 rt->build_options, log ? log : "(no memory for the log)");
        free(log);
        clReleaseProgram(program);
        return DUO_ERR_BUILD;
    }
    *out = program;
    return DUO_OK;
}

static duo_status program_get(duo_runtime *rt, const char *file, cl_program *out)
{
    for (int i = 0; i < rt->program_count; i++)
        if (strcmp(rt->programs[i].file, file) == 0) {
            *out = rt->programs[i].program;
            return DUO_OK;
        }
    if (rt->program_count == DUO_MAX_PROGRAMS)
        return duo_fail(DUO_ERR_INTERNAL, "too many kernel programs (max %d)", DUO_MAX_PROGRAMS);
    if (strcmp(file, PRELUDE_FILE) == 0)
        return duo_fail(DUO_ERR_INTERNAL, "%s goes in front of every program, it is not one",
                        PRELUDE_FILE);

    cl_program program = NULL;
    if (rt->binaries_dir[0])
        DUO_TRY(duo_program_load_binary(rt, file, &program));
    else if (rt->no_compile_reason[0])
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "program %s: compiling at run time is forbidden (%s) and no "
                        "--kernel-binaries folder was given", file, rt->no_compile_reason);
    if (program) {
        duo_program_entry *e = &rt->programs[rt->program_count++];
        snprintf(e->file, sizeof e->file, "%s", file);
        e->program = program;
        *out = program;
        return DUO_OK;
    }

    char *source = NULL;
    size_t length = 0;
    DUO_TRY(duo_program_source(rt, file, &source, &length));
    char cache_path[1400] = "";
    if (rt->profile->binary_cache) {
        binary_cache_path(rt, file, source, length, cache_path, sizeof cache_path);
        program = load_cached_binary(rt, cache_path);
    }
    if (!program) {
        duo_status st = duo_program_build_source(rt, file, source, length, &program);
        if (st != DUO_OK) {
            free(source);
            return st;
        }
        if (cache_path[0])
            store_cached_binary(rt, program, cache_path);
    }
    free(source);
    duo_program_entry *e = &rt->programs[rt->program_count++];
    snprintf(e->file, sizeof e->file, "%s", file);
    e->program = program;
    *out = program;
    return DUO_OK;
}

duo_status duo_kernel_get(duo_runtime *rt, const char *file, const char *name, cl_kernel *out)
{
    for (int i = 0; i < rt->kernel_count; i++)
        if (strcmp(rt->kernels[i].name, name) == 0 && strcmp(rt->kernels[i].file, file) == 0) {
            *out = rt->kernels[i].kernel;
            return DUO_OK;
        }
    if (rt->kernel_count == DUO_MAX_KERNELS)
        return duo_fail(DUO_ERR_INTERNAL, "too many kernels (max %d)", DUO_MAX_KERNELS);
    cl_program program;
    DUO_TRY(program_get(rt, file, &program));
    cl_int err;
    cl_kernel kernel = clCreateKernel(program, name, &err);
    if (err != CL_SUCCESS && rt->binaries_dir[0])
        return duo_fail(DUO_ERR_FORMAT, "kernel %s of %s is not in its ready-built binary in %s "
                        "(clCreateKernel: %s): build the binary from the exported source",
                        name, file, rt->binaries_dir, duo_cl_error_name(err));
    if (err != CL_SUCCESS)
        return duo_fail(DUO_ERR_OPENCL, "clCreateKernel failed with %s for kernel %s in %s",
                        duo_cl_error_name(err), name, file);
    duo_kernel_entry *e = &rt->kernels[rt->kernel_count++];
    snprintf(e->file, sizeof e->file, "%s", file);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->kernel = kernel;
    *out = kernel;
    return DUO_OK;
}

duo_status duo_runtime_compile_all(duo_runtime *rt)
{
    for (const duo_embedded_kernel *k = duo_embedded_kernels; k->file; k++) {
        if (strcmp(k->file, PRELUDE_FILE) == 0)
            continue; /* compiled as part of every other program */
        cl_program program;
        DUO_TRY(program_get(rt, k->file, &program));
    }
    return DUO_OK;
}
