/* Stored CLBlast parameters per device: path, load/validate, save, apply. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <clblast_c.h>

#include "platforms/environment.h"
#include "base/fileio.h"
#include "base/json_file.h"
#include "tuning.h"

static const char FORMAT_NAME[] = "duocl-clblast-tuning";
enum { FORMAT_VERSION = 1 };

/* Keeps letters, digits, '.', '-' and '_'; everything else becomes '_'. */
static void sanitise(const char *in, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; in[i] && j + 1 < cap; i++) {
        unsigned char c = (unsigned char)in[i];
        out[j++] = (isalnum(c) || c == '.' || c == '-' || c == '_') ? (char)c : '_';
    }
    out[j] = '\0';
}

void duo_tuning_path(const duo_device_info *device, char *out, size_t cap)
{
    char dir[1024], name[256], driver[128];
    duo_cache_dir(dir, sizeof dir);
    if (!dir[0]) {
        out[0] = '\0';
        return;
    }
    sanitise(device->name, name, sizeof name);
    sanitise(device->driver, driver, sizeof driver);
    snprintf(out, cap, "%s/tuning/%s__%s.json", dir, name, driver);
}

static duo_status bad(const char *path, const char *what)
{
    return duo_fail(DUO_ERR_FORMAT,
                    "tuning file %s: %s (rerun `duocl tune` for this device, or delete the file "
                    "or set DUOCL_NO_TUNING=1 to use untuned CLBlast)",
                    path, what);
}

static duo_status copy_string(const cJSON *root, const char *key, char *out, size_t cap,
                              const char *path)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsString(item) || strlen(item->valuestring) >= cap) {
        char msg[96];
        snprintf(msg, sizeof msg, "\"%s\" is missing or not a string", key);
        return bad(path, msg);
    }
    strcpy(out, item->valuestring);
    return DUO_OK;
}

static bool is_count(const cJSON *item)
{
    return cJSON_IsNumber(item) && item->valuedouble >= 0 && item->valuedouble < 1e9 &&
           item->valuedouble == floor(item->valuedouble);
}

/* The CLBlast kernels a tuning file may name: what `duocl tune` writes. */
static const char *const KNOWN_KERNELS[] = {"Xgemm", "XgemmDirect", "Copy", "Pad", "Transpose",
                                            "Padtranspose", "GemmRoutine"};

/* CLBlast's tile sizes, vector widths and switches are 0, 1 or powers of
 * two; only the routine's XGEMM_MIN_INDIRECT_SIZE is any count. */
static bool valid_parameter(const char *name, size_t value)
{
    return strcmp(name, "XGEMM_MIN_INDIRECT_SIZE") == 0 || (value & (value - 1)) == 0;
}

static duo_status parse_kernel(const cJSON *entry, const char *path, duo_tuning_kernel *k)
{
    memset(k, 0, sizeof *k);
    if (!entry->string || strlen(entry->string) >= sizeof k->name || !cJSON_IsObject(entry))
        return bad(path, "a kernel entry is not an object with a short name");
    bool known = false;
    for (size_t i = 0; i < sizeof KNOWN_KERNELS / sizeof KNOWN_KERNELS[0]; i++)
        known |= strcmp(entry->string, KNOWN_KERNELS[i]) == 0;
    if (!known) {
        char msg[256];
        snprintf(msg, sizeof msg, "unknown kernel '%.64s' (allowed: Xgemm, XgemmDirect, Copy, "
                 "Pad, Transpose, Padtranspose, GemmRoutine)", entry->string);
        return bad(path, msg);
    }
    strcpy(k->name, entry->string);
    const cJSON *time = cJSON_GetObjectItemCaseSensitive(entry, "time_ms");
    k->time_ms = cJSON_IsNumber(time) ? time->valuedouble : 0.0;
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(entry, "parameters");
    if (!cJSON_IsObject(params) || !params->child)
        return bad(path, "a kernel has no \"parameters\" object");
    const cJSON *p;
    cJSON_ArrayForEach(p, params)
    {
        if (k->count >= DUO_TUNING_MAX_PARAMS)
            return bad(path, "a kernel has too many parameters");
        if (strlen(p->string) >= sizeof k->names[0] || !is_count(p))
            return bad(path, "a parameter is not a non-negative integer with a short name");
        strcpy(k->names[k->count], p->string);
        k->values[k->count] = (size_t)p->valuedouble;
        if (!valid_parameter(k->names[k->count], k->values[k->count])) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s=%zu in kernel %s: CLBlast takes 0, 1 or a power of two",
                     k->names[k->count], k->values[k->count], k->name);
            return bad(path, msg);
        }
        k->count++;
    }
    return DUO_OK;
}

static duo_status parse(const cJSON *root, const char *path, const duo_device_info *device,
                        duo_tuning *t)
{
    if (!cJSON_IsObject(root))
        return bad(path, "not a JSON object");
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsString(format) || strcmp(format->valuestring, FORMAT_NAME) != 0)
        return bad(path, "\"format\" is not \"duocl-clblast-tuning\"");
    if (!cJSON_IsNumber(version) || version->valuedouble != FORMAT_VERSION)
        return bad(path, "unsupported \"version\" (this duocl reads version 1)");
    DUO_TRY(copy_string(root, "device", t->device, sizeof t->device, path));
    DUO_TRY(copy_string(root, "driver", t->driver, sizeof t->driver, path));
    DUO_TRY(copy_string(root, "platform", t->platform, sizeof t->platform, path));
    if (device && (strcmp(device->name, t->device) != 0 || strcmp(device->driver, t->driver) != 0)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "made for device '%s' driver '%s', not '%s' driver '%s'",
                 t->device, t->driver, device->name, device->driver);
        return bad(path, msg);
    }
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(root, "shape");
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) != 3)
        return bad(path, "\"shape\" is not [m, n, k]");
    size_t dims[3];
    for (int i = 0; i < 3; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        if (!is_count(d))
            return bad(path, "\"shape\" holds a value that is not a count");
        dims[i] = (size_t)d->valuedouble;
    }
    t->m = dims[0], t->n = dims[1], t->k = dims[2];
    const cJSON *kernels = cJSON_GetObjectItemCaseSensitive(root, "kernels");
    if (!cJSON_IsObject(kernels) || !kernels->child)
        return bad(path, "\"kernels\" is missing or empty");
    const cJSON *entry;
    cJSON_ArrayForEach(entry, kernels)
    {
        if (t->kernel_count >= DUO_TUNING_MAX_KERNELS)
            return bad(path, "too many kernels");
        DUO_TRY(parse_kernel(entry, path, &t->kernels[t->kernel_count]));
        t->kernel_count++;
    }
    return DUO_OK;
}

duo_status duo_tuning_load(const char *path, const duo_device_info *device, duo_tuning *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *data;
    size_t n;
    DUO_TRY(duo_read_file(path, "tuning file", DUO_MAX_TUNING_BYTES, &data, &n));
    cJSON *root = cJSON_ParseWithLength((const char *)data, n);
    free(data);
    if (!root)
        return bad(path, "not valid JSON");
    duo_status st = parse(root, path, device, out);
    cJSON_Delete(root);
    return st;
}

duo_status duo_tuning_save(const char *path, const duo_tuning *t)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory writing %s", path);
    cJSON_AddStringToObject(root, "format", FORMAT_NAME);
    cJSON_AddNumberToObject(root, "version", FORMAT_VERSION);
    cJSON_AddStringToObject(root, "device", t->device);
    cJSON_AddStringToObject(root, "driver", t->driver);
    cJSON_AddStringToObject(root, "platform", t->platform);
    cJSON *shape = cJSON_AddArrayToObject(root, "shape");
    cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->m));
    cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->n));
    cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->k));
    cJSON *kernels = cJSON_AddObjectToObject(root, "kernels");
    for (int i = 0; i < t->kernel_count; i++) {
        const duo_tuning_kernel *k = &t->kernels[i];
        cJSON *entry = cJSON_AddObjectToObject(kernels, k->name);
        cJSON_AddNumberToObject(entry, "time_ms", k->time_ms);
        cJSON *params = cJSON_AddObjectToObject(entry, "parameters");
        for (int p = 0; p < k->count; p++)
            cJSON_AddNumberToObject(params, k->names[p], (double)k->values[p]);
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        duo_make_directories(dir);
    }
    duo_status st = duo_write_json_file(path, "tuning file", root, false);
    cJSON_Delete(root);
    return st;
}

duo_status duo_tuning_apply(duo_runtime *rt, const duo_tuning *t, const char *source)
{
    for (int i = 0; i < t->kernel_count; i++) {
        const duo_tuning_kernel *k = &t->kernels[i];
        const char *names[DUO_TUNING_MAX_PARAMS];
        for (int p = 0; p < k->count; p++)
            names[p] = k->names[p];
        CLBlastStatusCode code = CLBlastOverrideParameters(
            rt->device_id, k->name, CLBlastPrecisionSingle, (size_t)k->count, names, k->values);
        if (code != CLBlastSuccess)
            return duo_fail(DUO_ERR_CLBLAST,
                            "tuning file %s: CLBlastOverrideParameters rejected kernel %s (CLBlast "
                            "status %d); rerun `duocl tune`, delete the file or set "
                            "DUOCL_NO_TUNING=1",
                            source, k->name, (int)code);
    }
    return DUO_OK;
}

duo_status duo_tuning_apply_stored(duo_runtime *rt, bool *applied)
{
    *applied = false;
    const char *skip = getenv("DUOCL_NO_TUNING");
    if (skip && *skip && strcmp(skip, "0") != 0)
        return DUO_OK;
    char path[1400];
    duo_tuning_path(&rt->device, path, sizeof path);
    if (!path[0])
        return DUO_OK;
    /* stat, not fopen: opening a FIFO would block; the load refuses anything
     * but a regular file. */
    struct stat info;
    if (stat(path, &info) != 0 && errno == ENOENT)
        return DUO_OK; /* untuned device */
    duo_tuning t;
    DUO_TRY(duo_tuning_load(path, &rt->device, &t));
    DUO_TRY(duo_tuning_apply(rt, &t, path));
    *applied = true;
    return DUO_OK;
}

duo_status duo_tuning_read_clblast_result(const char *path, const char *kernel,
                                          duo_tuning_kernel *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *data;
    size_t n;
    DUO_TRY(duo_read_file(path, "CLBlast tuner result", DUO_MAX_TUNING_BYTES, &data, &n));
    cJSON *root = cJSON_ParseWithLength((const char *)data, n);
    free(data);
    if (!root)
        return duo_fail(DUO_ERR_FORMAT, "CLBlast tuner result %s is not valid JSON", path);
    duo_status st = DUO_OK;
    const cJSON *time = cJSON_GetObjectItemCaseSensitive(root, "best_time");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "best_parameters");
    if (!cJSON_IsString(time) || !cJSON_IsString(params)) {
        st = duo_fail(DUO_ERR_FORMAT, "CLBlast tuner result %s has no best_time/best_parameters",
                      path);
        goto done;
    }
    snprintf(out->name, sizeof out->name, "%s", kernel);
    out->time_ms = strtod(time->valuestring, NULL);
    /* "GEMMK=0 KREG=1 ... PRECISION=32 ..." */
    const char *s = params->valuestring;
    while (*s) {
        while (*s == ' ')
            s++;
        const char *eq = strchr(s, '=');
        if (!eq)
            break;
        size_t len = (size_t)(eq - s);
        char *end;
        unsigned long long v = strtoull(eq + 1, &end, 10);
        if (len == 0 || len >= sizeof out->names[0] || end == eq + 1) {
            st = duo_fail(DUO_ERR_FORMAT, "CLBlast tuner result %s: cannot read '%s'", path, s);
            goto done;
        }
        if (!(len == 9 && strncmp(s, "PRECISION", 9) == 0)) {
            if (out->count >= DUO_TUNING_MAX_PARAMS) {
                st = duo_fail(DUO_ERR_FORMAT, "CLBlast tuner result %s: too many parameters", path);
                goto done;
            }
            memcpy(out->names[out->count], s, len);
            out->names[out->count][len] = '\0';
            out->values[out->count] = (size_t)v;
            out->count++;
        }
        s = end;
    }
    if (out->count == 0)
        st = duo_fail(DUO_ERR_FORMAT, "CLBlast tuner result %s has no parameters", path);
done:
    cJSON_Delete(root);
    return st;
}

void duo_tuning_put(duo_tuning *t, const duo_tuning_kernel *k, bool force)
{
    for (int i = 0; i < t->kernel_count; i++) {
        if (strcmp(t->kernels[i].name, k->name) == 0) {
            if (force || k->time_ms < t->kernels[i].time_ms)
                t->kernels[i] = *k;
            return;
        }
    }
    if (t->kernel_count < DUO_TUNING_MAX_KERNELS)
        t->kernels[t->kernel_count++] = *k;
}
