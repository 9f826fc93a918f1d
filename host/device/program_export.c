/* Ready-built kernel programs. `duocl kernels export` writes every program
 * duocl uses on a device as a binary, with a manifest; --kernel-binaries
 * loads them back instead of compiling, after checking the manifest against
 * the device, the options duocl would compile with and its own sources.
 *
 * DIR/manifest.json (version 1):
 *   {"format": "duocl-kernel-binaries", "version": 1, "duocl": "0.1.0",
 *    "device": {"name", "vendor", "vendor_id", "platform", "platform_version",
 *               "driver", "opencl_c_version", "profile"},
 *    "options": "-cl-std=CL1.2 -DDUO_WG_1D=64 ...",  what clBuildProgram is given
 *    "defines": {"DUO_WG_1D": "64", ...},             its -D constants, one by one
 *    "programs": [{"file": "norm.cl",                 the program (kernels/norm.cl)
 *                  "source": "norm.cl",              DIR/norm.cl: the exact text compiled
 *                                                    (kernels/common.cl, then the file)
 *                  "source_hash": "<16 hex digits>", FNV-1a 64 of that text
 *                  "binary": "norm.bin",             in DIR; several programs may name one
 *                                                    file (one FPGA image): loaded once
 *                  "kernels": ["rmsnorm_forward", ...]}, ...]}
 *
 * A device, driver, option or source that differs from what duocl would use,
 * a program duocl needs that the manifest lacks, a binary file that is
 * missing or a kernel that is not in the manifest or not in its binary are
 * errors naming it, at start-up (the kernel of a binary when it loads). */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "base/fileio.h"
#include "base/json_file.h"
#include "embedded_kernels.h"
#include "runtime_internal.h"

static const char FORMAT[] = "duocl-kernel-binaries";
enum { VERSION = 1, KERNEL_NAMES = 4096, MAX_SCANNED = 64 };
#define MAX_MANIFEST_BYTES ((uint64_t)1 << 20)
#define MAX_BINARY_BYTES ((uint64_t)4 << 30)

typedef struct binary_program {
    char file[64];             /* "norm.cl" */
    char binary[256];          /* file name in the folder */
    char kernels[KERNEL_NAMES]; /* "a;b;c", as CL_PROGRAM_KERNEL_NAMES gives them */
    cl_program program;        /* once loaded */
} binary_program;

struct duo_binary_manifest {
    char path[1100];           /* DIR/manifest.json */
    binary_program *programs;
    int count;
};

/* Every program duocl may compile: the kernels/ files but common.cl. */
static bool is_program(const char *file) { return strcmp(file, "common.cl") != 0; }

/* Whether `name` is one of the ';'-separated names of `list`. */
static bool list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

/* The kernels a source defines as `__kernel [__attribute__((...))] void
 * NAME(`; kernels whose names a macro pastes together are not seen. */
static int scan_kernels(const char *source, char names[][64], int max)
{
    int count = 0;
    for (const char *p = strstr(source, "__kernel"); p && count < max;
         p = strstr(p + 1, "__kernel")) {
        const char *q = p + strlen("__kernel");
        while (isspace((unsigned char)*q))
            q++;
        if (strncmp(q, "__attribute__", 13) == 0) {
            q = strchr(q, '(');
            for (int depth = 0; q && *q; q++) {
                depth += *q == '(' ? 1 : *q == ')' ? -1 : 0;
                if (depth == 0)
                    break;
            }
            if (!q || !*q)
                continue;
            q++;
            while (isspace((unsigned char)*q))
                q++;
        }
        if (strncmp(q, "void", 4) != 0 || !isspace((unsigned char)q[4]))
            continue;
        q += 5;
        while (isspace((unsigned char)*q))
            q++;
        size_t len = 0;
        while (isalnum((unsigned char)q[len]) || q[len] == '_')
            len++;
        if (len == 0 || len >= 64 || q[len] != '(')
            continue; /* a pasted name: NAME##SUFFIX */
        memcpy(names[count], q, len);
        names[count][len] = '\0';
        count++;
    }
    return count;
}

static duo_status join_path(const char *dir, const char *file, char *out, size_t cap)
{
    if ((size_t)snprintf(out, cap, "%s/%s", dir, file) >= cap)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "path too long: %s/%s", dir, file);
    return DUO_OK;
}

/* ---- reading a manifest (--kernel-binaries) ---- */

static const char *string_of(const cJSON *object, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(object, key));
    return s ? s : "";
}

/* The manifest's device against this one, field by field. */
static duo_status check_device(const duo_runtime *rt, const char *path, const cJSON *device)
{
    const duo_device_info *d = &rt->device;
    const struct {
        const char *key, *ours;
    } fields[] = {{"name", d->name},
                  {"platform", d->platform},
                  {"platform_version", d->platform_version},
                  {"driver", d->driver}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strcmp(string_of(device, fields[i].key), fields[i].ours) != 0)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                            "%s was exported for another device: its device.%s is '%s', this "
                            "device's is '%s' (%s, driver %s). Export the binaries on this device: "
                            "duocl kernels export --device %d --out DIR",
                            path, fields[i].key, string_of(device, fields[i].key), fields[i].ours,
                            d->name, d->driver, d->index);
    return DUO_OK;
}

/* One program of the manifest: present, its source the one duocl would
 * compile, its binary file there, every kernel of the source listed. */
static duo_status check_program(duo_runtime *rt, const char *path, const cJSON *programs,
                                const char *file, binary_program *out)
{
    const cJSON *entry = NULL, *item;
    cJSON_ArrayForEach(item, programs)
        if (strcmp(string_of(item, "file"), file) == 0)
            entry = item;
    if (!entry)
        return duo_fail(DUO_ERR_FORMAT,
                        "%s has no program %s, which duocl uses: export the binaries again with "
                        "this duocl", path, file);
    const char *binary = string_of(entry, "binary");
    if (!*binary || strchr(binary, '/') || strlen(binary) >= sizeof out->binary)
        return duo_fail(DUO_ERR_FORMAT,
                        "%s: program %s: \"binary\" must be a file name in the folder, got '%s'",
                        path, file, binary);
    memset(out, 0, sizeof *out);
    snprintf(out->file, sizeof out->file, "%s", file);
    snprintf(out->binary, sizeof out->binary, "%s", binary);

    char *source = NULL;
    size_t length = 0;
    DUO_TRY(duo_program_source(rt, file, &source, &length));
    char hash[17];
    duo_program_source_hash(source, length, hash);
    duo_status st = DUO_OK;
    if (strcmp(string_of(entry, "source_hash"), hash) != 0)
        st = duo_fail(DUO_ERR_INVALID_ARGUMENT,
                      "%s: program %s was exported from another source (hash %s; the source "
                      "this duocl compiles, from %s, has %s): export the binaries again",
                      path, file, string_of(entry, "source_hash"), duo_runtime_kernel_source(rt),
                      hash);

    const cJSON *kernels = cJSON_GetObjectItemCaseSensitive(entry, "kernels");
    size_t used = 0;
    cJSON_ArrayForEach(item, kernels) {
        const char *name = cJSON_GetStringValue(item);
        if (st == DUO_OK && (!name || !*name || strchr(name, ';') ||
                             used + strlen(name) + 2 > sizeof out->kernels))
            st = duo_fail(DUO_ERR_FORMAT, "%s: program %s: \"kernels\" must be names", path, file);
        if (st == DUO_OK)
            used += (size_t)snprintf(out->kernels + used, sizeof out->kernels - used, "%s%s",
                                     used ? ";" : "", name);
    }
    char names[MAX_SCANNED][64];
    int n = st == DUO_OK ? scan_kernels(source, names, MAX_SCANNED) : 0;
    for (int i = 0; i < n && st == DUO_OK; i++)
        if (!list_has(out->kernels, names[i]))
            st = duo_fail(DUO_ERR_FORMAT,
                          "%s: kernel %s of program %s is missing from the manifest (so from "
                          "its binary %s): export the binaries again", path, names[i], file,
                          binary);
    free(source);
    DUO_TRY(st);

    char binary_path[1400];
    DUO_TRY(join_path(rt->binaries_dir, binary, binary_path, sizeof binary_path));
    struct stat info;
    if (stat(binary_path, &info) != 0 || !S_ISREG(info.st_mode))
        return duo_fail(DUO_ERR_IO,
                        "%s: the binary of program %s is missing (the manifest %s names it)",
                        binary_path, file, path);
    return DUO_OK;
}

static duo_status check_manifest(duo_runtime *rt, const char *path, const cJSON *root)
{
    if (strcmp(string_of(root, "format"), FORMAT) != 0)
        return duo_fail(DUO_ERR_FORMAT, "%s: not a duocl kernel manifest (\"format\" is not \"%s\")",
                        path, FORMAT);
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsNumber(version) || version->valuedouble != VERSION)
        return duo_fail(DUO_ERR_FORMAT, "%s: manifest version %g; this duocl reads version %d: "
                        "export the binaries again", path,
                        cJSON_IsNumber(version) ? version->valuedouble : -1.0, VERSION);
    DUO_TRY(check_device(rt, path, cJSON_GetObjectItemCaseSensitive(root, "device")));
    const char *options = string_of(root, "options");
    if (strcmp(options, rt->build_options) != 0)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "%s: the programs were built with the options '%s'; duocl compiles with "
                        "'%s' on this device (vendor profile %s): export the binaries again",
                        path, options, rt->build_options, rt->profile->name);
    const cJSON *programs = cJSON_GetObjectItemCaseSensitive(root, "programs");
    if (!cJSON_IsArray(programs))
        return duo_fail(DUO_ERR_FORMAT, "%s: \"programs\" must be an array", path);

    duo_binary_manifest *m = rt->manifest;
    for (const duo_embedded_kernel *k = duo_embedded_kernels; k->file; k++)
        if (is_program(k->file))
            m->count++;
    m->programs = calloc((size_t)m->count, sizeof *m->programs);
    if (!m->programs)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory reading %s", path);
    int i = 0;
    for (const duo_embedded_kernel *k = duo_embedded_kernels; k->file; k++)
        if (is_program(k->file))
            DUO_TRY(check_program(rt, path, programs, k->file, &m->programs[i++]));
    return DUO_OK;
}

duo_status duo_binaries_open(duo_runtime *rt)
{
    rt->manifest = calloc(1, sizeof *rt->manifest);
    if (!rt->manifest)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the kernel manifest");
    duo_binary_manifest *m = rt->manifest;
    DUO_TRY(join_path(rt->binaries_dir, "manifest.json", m->path, sizeof m->path));
    uint8_t *text = NULL;
    size_t n = 0;
    duo_status st = duo_read_file(m->path, "kernel manifest", MAX_MANIFEST_BYTES, &text, &n);
    if (st != DUO_OK)
        return duo_fail_context(st, "--kernel-binaries %s (written by 'duocl kernels export')",
                                rt->binaries_dir);
    cJSON *root = cJSON_ParseWithLength((const char *)text, n);
    free(text);
    if (!root)
        return duo_fail(DUO_ERR_FORMAT, "%s: not valid JSON", m->path);
    st = check_manifest(rt, m->path, root);
    cJSON_Delete(root);
    return st;
}

void duo_binaries_close(duo_runtime *rt)
{
    if (!rt->manifest)
        return;
    /* The programs themselves belong to rt->programs, which releases them. */
    free(rt->manifest->programs);
    free(rt->manifest);
    rt->manifest = NULL;
}

/* ---- loading a binary ---- */

static duo_status kernel_names(cl_program program, char *out, size_t cap, const char *what)
{
    size_t size = 0;
    cl_int err = clGetProgramInfo(program, CL_PROGRAM_KERNEL_NAMES, 0, NULL, &size);
    if (err == CL_SUCCESS && size > cap)
        return duo_fail(DUO_ERR_INTERNAL, "%s: the kernel names take %zu bytes (at most %zu)",
                        what, size, cap);
    if (err == CL_SUCCESS)
        err = clGetProgramInfo(program, CL_PROGRAM_KERNEL_NAMES, cap, out, NULL);
    if (err != CL_SUCCESS)
        return duo_cl_fail(err, "clGetProgramInfo(CL_PROGRAM_KERNEL_NAMES)", what);
    return DUO_OK;
}

static duo_status build_binary(duo_runtime *rt, const char *path, const char *file,
                               cl_program *out)
{
    uint8_t *bytes = NULL;
    size_t n = 0;
    DUO_TRY(duo_read_file(path, "kernel binary", MAX_BINARY_BYTES, &bytes, &n));
    cl_int status = CL_SUCCESS, err;
    const unsigned char *b = bytes;
    cl_program program =
        clCreateProgramWithBinary(rt->context, 1, &rt->device_id, &n, &b, &status, &err);
    free(bytes);
    if (err != CL_SUCCESS || status != CL_SUCCESS) {
        if (program)
            clReleaseProgram(program);
        return duo_fail(DUO_ERR_FORMAT,
                        "%s (program %s): the device does not take this binary "
                        "(clCreateProgramWithBinary: %s, binary status %s)",
                        path, file, duo_cl_error_name(err), duo_cl_error_name(status));
    }
    /* Required before use even for a binary; it does not compile OpenCL C. */
    err = clBuildProgram(program, 1, &rt->device_id, rt->build_options, NULL, NULL);
    if (err != CL_SUCCESS) {
        clReleaseProgram(program);
        return duo_fail(DUO_ERR_BUILD, "%s (program %s): clBuildProgram of the binary failed "
                        "with %s", path, file, duo_cl_error_name(err));
    }
    *out = program;
    return DUO_OK;
}

duo_status duo_program_load_binary(duo_runtime *rt, const char *file, cl_program *out)
{
    duo_binary_manifest *m = rt->manifest;
    binary_program *p = NULL;
    for (int i = 0; m && i < m->count; i++)
        if (strcmp(m->programs[i].file, file) == 0)
            p = &m->programs[i];
    if (!p)
        return duo_fail(DUO_ERR_INTERNAL, "program %s is not among the checked binaries", file);
    /* Another program in the same binary (one FPGA image) loaded it already. */
    for (int i = 0; i < m->count && !p->program; i++)
        if (m->programs[i].program && strcmp(m->programs[i].binary, p->binary) == 0) {
            clRetainProgram(m->programs[i].program);
            p->program = m->programs[i].program;
        }
    char path[1400];
    DUO_TRY(join_path(rt->binaries_dir, p->binary, path, sizeof path));
    if (!p->program)
        DUO_TRY(build_binary(rt, path, file, &p->program));
    char names[KERNEL_NAMES];
    duo_status st = kernel_names(p->program, names, sizeof names, path);
    for (const char *k = p->kernels; st == DUO_OK && *k;) {
        const char *end = strchr(k, ';');
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(end ? (size_t)(end - k) : strlen(k)), k);
        if (!list_has(names, name))
            st = duo_fail(DUO_ERR_FORMAT,
                          "%s: kernel %s of program %s is not in this binary (its kernels: %s)",
                          path, name, file, names);
        k = end ? end + 1 : k + strlen(k);
    }
    if (st != DUO_OK) {
        clReleaseProgram(p->program);
        p->program = NULL;
        return st;
    }
    *out = p->program;
    return DUO_OK;
}

/* ---- writing (duocl kernels export) ---- */

static duo_status write_bytes(const char *path, const char *what, const void *data, size_t n)
{
    const void *parts[] = {data};
    size_t sizes[] = {n};
    return duo_write_file_atomic(path, what, parts, sizes, 1);
}

static duo_status program_binary(cl_program program, const char *file, unsigned char **out,
                                 size_t *n)
{
    size_t size = 0;
    cl_int err = clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL);
    if (err != CL_SUCCESS)
        return duo_cl_fail(err, "clGetProgramInfo(CL_PROGRAM_BINARY_SIZES)", file);
    if (size == 0)
        return duo_fail(DUO_ERR_OPENCL, "the driver gives no binary for program %s", file);
    unsigned char *bytes = malloc(size);
    if (!bytes)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the binary of %s", file);
    err = clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof bytes, &bytes, NULL);
    if (err != CL_SUCCESS) {
        free(bytes);
        return duo_cl_fail(err, "clGetProgramInfo(CL_PROGRAM_BINARIES)", file);
    }
    *out = bytes;
    *n = size;
    return DUO_OK;
}

static cJSON *device_json(const duo_runtime *rt)
{
    const duo_device_info *d = &rt->device;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "vendor", d->vendor);
    cJSON_AddNumberToObject(o, "vendor_id", d->vendor_id);
    cJSON_AddStringToObject(o, "platform", d->platform);
    cJSON_AddStringToObject(o, "platform_version", d->platform_version);
    cJSON_AddStringToObject(o, "driver", d->driver);
    cJSON_AddStringToObject(o, "opencl_c_version", d->opencl_c_version);
    cJSON_AddStringToObject(o, "profile", rt->profile->name);
    return o;
}

/* {"NAME": "VALUE"} for every -DNAME=VALUE of the options. */
static cJSON *defines_json(const duo_runtime *rt)
{
    cJSON *o = cJSON_CreateObject();
    char copy[sizeof rt->build_options];
    snprintf(copy, sizeof copy, "%s", rt->build_options);
    for (char *word = strtok(copy, " "); word; word = strtok(NULL, " ")) {
        if (strncmp(word, "-D", 2) != 0)
            continue;
        char *eq = strchr(word, '=');
        if (eq)
            *eq = '\0';
        cJSON_AddStringToObject(o, word + 2, eq ? eq + 1 : "1");
    }
    return o;
}

/* One program: its source, its binary (when the device compiles) and its
 * manifest entry. */
static duo_status export_program(duo_runtime *rt, const char *dir, const char *file,
                                 cJSON *programs, duo_kernel_export *out)
{
    char *source = NULL;
    size_t length = 0;
    DUO_TRY(duo_program_source(rt, file, &source, &length));
    char path[1400], hash[17], binary[256], names[KERNEL_NAMES] = "";
    duo_program_source_hash(source, length, hash);
    snprintf(binary, sizeof binary, "%.*s.bin", (int)(strlen(file) - strlen(".cl")), file);
    duo_status st = join_path(dir, file, path, sizeof path);
    if (st == DUO_OK)
        st = write_bytes(path, "kernel source", source, length);
    if (st == DUO_OK && out->binaries) {
        cl_program program = NULL;
        unsigned char *bytes = NULL;
        size_t n = 0;
        st = duo_program_build_source(rt, file, source, length, &program);
        if (st == DUO_OK)
            st = kernel_names(program, names, sizeof names, file);
        if (st == DUO_OK)
            st = program_binary(program, file, &bytes, &n);
        if (st == DUO_OK)
            st = join_path(dir, binary, path, sizeof path);
        if (st == DUO_OK)
            st = write_bytes(path, "kernel binary", bytes, n);
        free(bytes);
        if (program)
            clReleaseProgram(program);
    } else if (st == DUO_OK) {
        char scanned[MAX_SCANNED][64];
        int n = scan_kernels(source, scanned, MAX_SCANNED);
        size_t used = 0;
        for (int i = 0; i < n; i++)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ";" : "",
                                     scanned[i]);
    }
    free(source);
    DUO_TRY(st);

    cJSON *entry = cJSON_CreateObject();
    cJSON_AddStringToObject(entry, "file", file);
    cJSON_AddStringToObject(entry, "source", file);
    cJSON_AddStringToObject(entry, "source_hash", hash);
    cJSON_AddStringToObject(entry, "binary", binary);
    cJSON *kernels = cJSON_AddArrayToObject(entry, "kernels");
    char *save = NULL;
    for (char *name = strtok_r(names, ";", &save); name; name = strtok_r(NULL, ";", &save)) {
        cJSON_AddItemToArray(kernels, cJSON_CreateString(name));
        out->kernels++;
    }
    cJSON_AddItemToArray(programs, entry);
    out->programs++;
    return DUO_OK;
}

duo_status duo_kernels_export(const duo_runtime_options *options, const char *dir,
                              duo_kernel_export *out)
{
    memset(out, 0, sizeof *out);
    duo_runtime_options defaults = {0};
    duo_runtime *rt;
    DUO_TRY(duo_runtime_create_for_export(options ? options : &defaults, &rt));
    out->binaries = rt->no_compile_reason[0] == '\0';
    duo_status st = duo_make_directories(dir);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", FORMAT);
    cJSON_AddNumberToObject(root, "version", VERSION);
    cJSON_AddStringToObject(root, "duocl", DUOCL_VERSION);
    cJSON_AddItemToObject(root, "device", device_json(rt));
    cJSON_AddStringToObject(root, "options", rt->build_options);
    cJSON_AddItemToObject(root, "defines", defines_json(rt));
    cJSON *programs = cJSON_AddArrayToObject(root, "programs");
    for (const duo_embedded_kernel *k = duo_embedded_kernels; st == DUO_OK && k->file; k++)
        if (is_program(k->file))
            st = export_program(rt, dir, k->file, programs, out);
    if (st == DUO_OK)
        st = join_path(dir, "manifest.json", out->manifest, sizeof out->manifest);
    if (st == DUO_OK)
        st = duo_write_json_file(out->manifest, "kernel manifest", root, false);
    cJSON_Delete(root);
    duo_runtime_destroy(rt);
    return st;
}
