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
static const char KEPT_TUNED[] = "tuned parameters kept";
static const char KEPT_BUILTIN[] = "built-in parameters kept";
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

static bool positive(const cJSON *item)
{
    return cJSON_IsNumber(item) && item->valuedouble > 0 && isfinite(item->valuedouble);
}

/* "decision" and "comparison", both optional (older files have neither). */
static duo_status parse_decision(const cJSON *root, const char *path, duo_tuning *t)
{
    const cJSON *decision = cJSON_GetObjectItemCaseSensitive(root, "decision");
    if (decision) {
        if (!cJSON_IsString(decision) || (strcmp(decision->valuestring, KEPT_TUNED) != 0 &&
                                          strcmp(decision->valuestring, KEPT_BUILTIN) != 0))
            return bad(path, "\"decision\" is neither \"tuned parameters kept\" nor "
                             "\"built-in parameters kept\"");
        t->builtin_kept = strcmp(decision->valuestring, KEPT_BUILTIN) == 0;
    }
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "comparison");
    if (!c)
        return DUO_OK;
    const cJSON *builtin = cJSON_GetObjectItemCaseSensitive(c, "builtin_ms");
    const cJSON *tuned = cJSON_GetObjectItemCaseSensitive(c, "tuned_ms");
    const cJSON *gemms = cJSON_GetObjectItemCaseSensitive(c, "gemms");
    const cJSON *rounds = cJSON_GetObjectItemCaseSensitive(c, "rounds");
    if (!cJSON_IsObject(c) || !positive(builtin) || !(positive(tuned) || cJSON_IsNull(tuned)) ||
        !is_count(gemms) || !is_count(rounds))
        return bad(path, "\"comparison\" needs positive \"builtin_ms\" and \"tuned_ms\" (or null) "
                         "and counts \"gemms\" and \"rounds\"");
    t->compared = true;
    t->builtin_ms = builtin->valuedouble;
    t->tuned_ms = cJSON_IsNumber(tuned) ? tuned->valuedouble : 0.0;
    t->gemms = (int)gemms->valuedouble;
    t->rounds = (int)rounds->valuedouble;
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
    DUO_TRY(parse_decision(root, path, t));
    const cJSON *kernels = cJSON_GetObjectItemCaseSensitive(root, "kernels");
    if (!cJSON_IsObject(kernels) || (!kernels->child && !t->builtin_kept))
        return bad(path, "\"kernels\" is missing or empty");
    const cJSON *entry;
    cJSON_ArrayForEach(entry, kernels)
    {
        if (t->builtin_kept)
            return bad(path, "says \"built-in parameters kept\" but holds kernel parameters");
        if (t->kernel_count >= DUO_TUNING_MAX_KERNELS)
            return bad(path, "too many kernels");
        DUO_TRY(parse_kernel(entry, path, &t->kernels[t->kernel_count]));
        t->kernel_count++;
    }
    /* duocl tune never keeps parameters its own timing found slower; a file
     * that records so was edited or written by something else. */
    if (t->compared && t->kernel_count > 0 && !(t->tuned_ms < t->builtin_ms)) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "its parameters are slower than CLBlast's built-in ones (a training step's "
                 "GEMMs: %.4g ms tuned, %.4g ms built-in), so they are not applied",
                 t->tuned_ms, t->builtin_ms);
        return bad(path, msg);
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
    if (t->compared || t->builtin_kept)
        cJSON_AddStringToObject(root, "decision", t->builtin_kept ? KEPT_BUILTIN : KEPT_TUNED);
    if (t->compared) {
        cJSON *c = cJSON_AddObjectToObject(root, "comparison");
        cJSON_AddNumberToObject(c, "builtin_ms", t->builtin_ms);
        if (t->tuned_ms > 0)
            cJSON_AddNumberToObject(c, "tuned_ms", t->tuned_ms);
        else
            cJSON_AddNullToObject(c, "tuned_ms"); /* no tuned set could be timed */
        cJSON_AddNumberToObject(c, "gemms", t->gemms);
        cJSON_AddNumberToObject(c, "rounds", t->rounds);
    }
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
    *applied = t.kernel_count > 0;
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

/* One table row: "| id | total | v1 v2 ... | local | global | compiles | T ms | GFLOPS | status |". */
static bool read_row(char *line, const duo_tuning_kernel *header, duo_tuning_kernel *row)
{
    char *field[10];
    int n = 0;
    for (char *s = line; n < 10 && (s = strchr(s, '|')); s++)
        field[n++] = s + 1;
    if (n < 10 || !strstr(field[8], "results match"))
        return false;
    *row = *header;
    char *s = field[2], *end;
    for (int i = 0; i < header->count; i++, s = end) {
        row->values[i] = (size_t)strtoull(s, &end, 10);
        if (end == s)
            return false;
    }
    row->time_ms = strtod(field[6], &end);
    return end != field[6] && row->time_ms > 0;
}

bool duo_tuning_read_clblast_log(const char *path, const char *kernel, duo_tuning_kernel *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    duo_tuning_kernel header = {0}, row;
    snprintf(header.name, sizeof header.name, "%s", kernel);
    bool found = false;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        const char *names = strstr(line, "* Parameters explored:");
        if (names) {
            header.count = 0;
            for (char *s = strtok((char *)names + 22, " \n"); s && header.count < DUO_TUNING_MAX_PARAMS;
                 s = strtok(NULL, " \n"))
                snprintf(header.names[header.count++], sizeof header.names[0], "%.31s", s);
        } else if (header.count > 0 && read_row(line, &header, &row) &&
                   (!found || row.time_ms < out->time_ms)) {
            *out = row;
            found = true;
        }
    }
    fclose(f);
    return found;
}

void duo_tuning_write_clblast_files(const char *dir, const duo_tuning *t)
{
    /* Kernel, and the tuner's name for it (CLBlast maps one to the other). */
    static const char *const families[][2] = {
        {"Xgemm", "xgemm_1"}, {"XgemmDirect", "xgemm_direct_1"}, {"Copy", "copy"},
        {"Pad", "pad"},       {"Transpose", "transpose"},        {"Padtranspose", "padtranspose"}};
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        for (int j = 0; j < t->kernel_count; j++) {
            const duo_tuning_kernel *k = &t->kernels[j];
            if (strcmp(k->name, families[i][0]) != 0)
                continue;
            char path[1800];
            snprintf(path, sizeof path, "%s/clblast_%s_32.json", dir, families[i][1]);
            FILE *f = fopen(path, "w");
            if (!f)
                continue;
            fprintf(f, "{\n  \"kernel_family\": \"%s\",\n  \"best_parameters\": \"", families[i][1]);
            for (int p = 0; p < k->count; p++)
                fprintf(f, "%s=%zu ", k->names[p], k->values[p]);
            /* CLBlast reads these line by line: a value must end with a comma. */
            fprintf(f, "PRECISION=32\",\n  \"precision\": \"32\"\n}\n");
            fclose(f);
        }
}

bool duo_tuning_read_routine_result(const char *dir, double *indirect_ms, double *direct_ms)
{
    char path[1800];
    snprintf(path, sizeof path, "%s/clblast_gemm_routine_single_size_32.json", dir);
    uint8_t *data;
    size_t n;
    *indirect_ms = *direct_ms = -1;
    if (duo_read_file(path, "CLBlast routine tuner result", DUO_MAX_TUNING_BYTES, &data, &n) != DUO_OK)
        return false;
    cJSON *root = cJSON_ParseWithLength((const char *)data, n);
    free(data);
    /* "results": [{"time": T, "parameters": {"XGEMM_MIN_INDIRECT_SIZE": 0 (in-direct) or more}}, ...] */
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(root, "results"))
    {
        const cJSON *time = cJSON_GetObjectItemCaseSensitive(r, "time");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(r, "parameters"), "XGEMM_MIN_INDIRECT_SIZE");
        if (cJSON_IsNumber(time) && cJSON_IsNumber(p))
            *(p->valuedouble == 0 ? indirect_ms : direct_ms) = time->valuedouble;
    }
    cJSON_Delete(root);
    return *indirect_ms > 0 && *direct_ms > 0;
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
