/* Device discovery: every device of every platform, one flat index, and the
 * choice of a default that explains itself. Platforms that fail are skipped
 * with a warning so one broken driver never hides the others. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CL/cl.h>

#include "device/cl_error.h"
#include "duocl/device.h"
#include "environment.h"
#include "profile.h"

enum { MAX_PLATFORMS = 32, MAX_DEVICES_PER_PLATFORM = 64 };

const char *duo_device_type_name(duo_device_type type)
{
    switch (type) {
    case DUO_DEVICE_GPU: return "gpu";
    case DUO_DEVICE_ACCELERATOR: return "accelerator";
    case DUO_DEVICE_CPU: return "cpu";
    case DUO_DEVICE_OTHER: break;
    }
    return "other";
}

static void append_warning(duo_device_list *list, const char *fmt, const char *a, const char *b)
{
    size_t used = strlen(list->warnings);
    snprintf(list->warnings + used, sizeof list->warnings - used, fmt, a, b);
}

static void platform_string(cl_platform_id platform, cl_platform_info what, char *out, size_t cap)
{
    out[0] = '\0';
    if (clGetPlatformInfo(platform, what, cap, out, NULL) != CL_SUCCESS)
        snprintf(out, cap, "?");
    out[cap - 1] = '\0';
}

static void device_string(cl_device_id device, cl_device_info what, char *out, size_t cap)
{
    out[0] = '\0';
    if (clGetDeviceInfo(device, what, cap, out, NULL) != CL_SUCCESS)
        snprintf(out, cap, "?");
    out[cap - 1] = '\0';
    /* Some drivers pad names with spaces. */
    size_t n = strlen(out);
    while (n > 0 && isspace((unsigned char)out[n - 1]))
        out[--n] = '\0';
}

static void parse_opencl_c_version(duo_device_info *info)
{
    /* "OpenCL C 1.2 pocl" -> 1, 2; a device that does not say gets 1.2. */
    info->opencl_c_major = 1;
    info->opencl_c_minor = 2;
    int major, minor;
    if (sscanf(info->opencl_c_version, "OpenCL C %d.%d", &major, &minor) == 2) {
        info->opencl_c_major = major;
        info->opencl_c_minor = minor;
    }
}

static void read_device(cl_platform_id platform, cl_device_id device, duo_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->cl_platform = platform;
    info->cl_device = device;
    platform_string(platform, CL_PLATFORM_NAME, info->platform, sizeof info->platform);
    platform_string(platform, CL_PLATFORM_VERSION, info->platform_version,
                    sizeof info->platform_version);
    device_string(device, CL_DEVICE_NAME, info->name, sizeof info->name);
    device_string(device, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    device_string(device, CL_DRIVER_VERSION, info->driver, sizeof info->driver);
    device_string(device, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version,
                  sizeof info->opencl_c_version);
    parse_opencl_c_version(info);

    cl_device_type type = 0;
    clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    info->type = (type & CL_DEVICE_TYPE_GPU)           ? DUO_DEVICE_GPU
                 : (type & CL_DEVICE_TYPE_ACCELERATOR) ? DUO_DEVICE_ACCELERATOR
                 : (type & CL_DEVICE_TYPE_CPU)         ? DUO_DEVICE_CPU
                                                       : DUO_DEVICE_OTHER;
    cl_bool unified = CL_FALSE;
    clGetDeviceInfo(device, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL);
    info->integrated = info->type == DUO_DEVICE_GPU && unified;

    cl_uint u = 0;
    clGetDeviceInfo(device, CL_DEVICE_VENDOR_ID, sizeof u, &u, NULL);
    info->vendor_id = u;
    u = 0;
    clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof u, &u, NULL);
    info->compute_units = u;
    u = 0;
    clGetDeviceInfo(device, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof u, &u, NULL);
    info->clock_mhz = u;
    cl_ulong bytes = 0;
    clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof bytes, &bytes, NULL);
    info->global_mem_bytes = bytes;
    bytes = 0;
    clGetDeviceInfo(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof bytes, &bytes, NULL);
    info->max_alloc_bytes = bytes;
    bytes = 0;
    clGetDeviceInfo(device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof bytes, &bytes, NULL);
    info->local_mem_bytes = bytes;
    size_t wg = 1;
    clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    info->max_work_group_size = wg ? wg : 1;

    char extensions[8192];
    device_string(device, CL_DEVICE_EXTENSIONS, extensions, sizeof extensions);
    info->fp16 = strstr(extensions, "cl_khr_fp16") != NULL;
    cl_device_fp_config fp64 = 0;
    clGetDeviceInfo(device, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp64, &fp64, NULL);
    info->fp64 = fp64 != 0 || strstr(extensions, "cl_khr_fp64") != NULL;
    cl_bool compiler = CL_FALSE;
    clGetDeviceInfo(device, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL);
    info->compiler_available = compiler == CL_TRUE;

    snprintf(info->profile, sizeof info->profile, "%s", duo_profile_for(info)->name);
}

static bool is_clover(const duo_device_info *d) { return duo_text_contains(d->platform, "Clover"); }

/* Mesa Clover often exposes a GPU that the vendor's own platform (or rusticl)
 * also offers; it is slower and less complete, so it is never the default
 * when the same device is available elsewhere. */
static bool offered_elsewhere(const duo_device_list *list, const duo_device_info *d)
{
    for (int i = 0; i < list->count; i++) {
        const duo_device_info *o = &list->devices[i];
        if (o != d && !is_clover(o) && o->type == d->type &&
            (o->vendor_id == d->vendor_id || strcmp(o->name, d->name) == 0))
            return true;
    }
    return false;
}

static int type_rank(const duo_device_info *d)
{
    if (duo_profile_for(d)->simulator)
        return 4;
    if (d->type == DUO_DEVICE_GPU)
        return d->integrated ? 1 : 0;
    if (d->type == DUO_DEVICE_ACCELERATOR)
        return 2;
    if (d->type == DUO_DEVICE_CPU)
        return 3;
    return 4;
}

static void choose_default(duo_device_list *list)
{
    static const char *const rank_reason[] = {
        "the first discrete GPU", "the first integrated GPU (no discrete GPU found)",
        "the first accelerator (no GPU found)", "the first CPU device (no GPU or accelerator found)",
        "the first device found (only simulators or unknown device types)"};
    int best = -1, best_rank = 99;
    bool skipped_clover = false, saw_simulator = false;
    for (int i = 0; i < list->count; i++) {
        const duo_device_info *d = &list->devices[i];
        saw_simulator |= duo_profile_for(d)->simulator;
        if (is_clover(d) && offered_elsewhere(list, d)) {
            skipped_clover = true;
            continue;
        }
        if (type_rank(d) < best_rank) {
            best_rank = type_rank(d);
            best = i;
        }
    }
    list->default_index = best;
    if (best >= 0)
        snprintf(list->default_reason, sizeof list->default_reason, "%s%s%s", rank_reason[best_rank],
                 skipped_clover ? "; Mesa Clover skipped, another platform offers its device" : "",
                 saw_simulator && best_rank < 4 ? "; simulators (oclgrind) are never the default" : "");
}

duo_status duo_devices_list(duo_device_list *out)
{
    memset(out, 0, sizeof *out);
    out->default_index = -1;
    duo_platform_prepare_environment();

    cl_uint platform_count = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &platform_count);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && platform_count == 0))
        return duo_fail(DUO_ERR_NO_PLATFORM,
                        "no OpenCL platform found: no ICD is registered in /etc/OpenCL/vendors "
                        "(or OCL_ICD_VENDORS). Install a driver, e.g. "
                        "'apt-get install pocl-opencl-icd' for the CPU");
    if (err != CL_SUCCESS)
        return duo_cl_fail(err, "clGetPlatformIDs", "listing OpenCL platforms");
    if (platform_count > MAX_PLATFORMS)
        platform_count = MAX_PLATFORMS;
    cl_platform_id platforms[MAX_PLATFORMS];
    DUO_CL(clGetPlatformIDs(platform_count, platforms, NULL), "listing OpenCL platforms");

    out->devices = calloc((size_t)platform_count * MAX_DEVICES_PER_PLATFORM, sizeof *out->devices);
    if (!out->devices)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory listing devices");

    for (cl_uint p = 0; p < platform_count; p++) {
        char name[128];
        platform_string(platforms[p], CL_PLATFORM_NAME, name, sizeof name);
        cl_uint device_count = 0;
        err = clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &device_count);
        if (err == CL_DEVICE_NOT_FOUND || (err == CL_SUCCESS && device_count == 0)) {
            append_warning(out, "platform '%s' has no devices%s\n", name, "");
            continue;
        }
        if (err != CL_SUCCESS) {
            append_warning(out, "platform '%s' skipped: clGetDeviceIDs failed with %s\n", name,
                           duo_cl_error_name(err));
            continue;
        }
        if (device_count > MAX_DEVICES_PER_PLATFORM)
            device_count = MAX_DEVICES_PER_PLATFORM;
        cl_device_id devices[MAX_DEVICES_PER_PLATFORM];
        err = clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, device_count, devices, NULL);
        if (err != CL_SUCCESS) {
            append_warning(out, "platform '%s' skipped: clGetDeviceIDs failed with %s\n", name,
                           duo_cl_error_name(err));
            continue;
        }
        for (cl_uint d = 0; d < device_count; d++) {
            duo_device_info *info = &out->devices[out->count];
            read_device(platforms[p], devices[d], info);
            info->index = out->count;
            info->platform_index = (int)p;
            info->device_index = (int)d;
            out->count++;
        }
    }
    if (out->count == 0) {
        duo_devices_free(out);
        return duo_fail(DUO_ERR_NO_PLATFORM,
                        "OpenCL platforms were found but none has a usable device. Install a "
                        "driver, e.g. 'apt-get install pocl-opencl-icd' for the CPU");
    }
    choose_default(out);
    return DUO_OK;
}

void duo_devices_free(duo_device_list *list)
{
    free(list->devices);
    list->devices = NULL;
    list->count = 0;
}

static bool parse_int(const char *text, int *out)
{
    if (!*text)
        return false;
    char *end;
    long v = strtol(text, &end, 10);
    if (*end || v < 0 || v > 1000000)
        return false;
    *out = (int)v;
    return true;
}

static void list_devices_in_message(const duo_device_list *list, char *out, size_t cap)
{
    size_t used = strlen(out);
    for (int i = 0; i < list->count && used < cap; i++) {
        const duo_device_info *d = &list->devices[i];
        snprintf(out + used, cap - used, "\n  %d (%d:%d) %s [%s, %s, %s]", d->index,
                 d->platform_index, d->device_index, d->name, d->platform,
                 duo_device_type_name(d->type), d->profile);
        used = strlen(out);
    }
}

static duo_status no_match(const duo_device_list *list, const char *selector, const char *why)
{
    char message[4096];
    snprintf(message, sizeof message,
             "device selector '%s' %s. Allowed: an index, P:D, amd|intel|nvidia|pocl, "
             "gpu|cpu|accelerator, or part of a device or platform name. Devices:",
             selector, why);
    list_devices_in_message(list, message, sizeof message);
    return duo_fail(DUO_ERR_NO_DEVICE, "%s", message);
}

/* The best-ranked device among those the predicate accepts, Clover last. */
static int best_match(const duo_device_list *list, bool (*accept)(const duo_device_info *, const void *),
                      const void *arg)
{
    int best = -1, best_rank = 99;
    for (int i = 0; i < list->count; i++) {
        const duo_device_info *d = &list->devices[i];
        if (!accept(d, arg))
            continue;
        int rank = type_rank(d) + (is_clover(d) && offered_elsewhere(list, d) ? 10 : 0);
        if (rank < best_rank) {
            best_rank = rank;
            best = i;
        }
    }
    return best;
}

static bool accept_profile(const duo_device_info *d, const void *word)
{
    return strcmp(d->profile, (const char *)word) == 0;
}

static bool accept_type(const duo_device_info *d, const void *type)
{
    return d->type == *(const duo_device_type *)type;
}

static bool accept_name(const duo_device_info *d, const void *text)
{
    return duo_text_contains(d->name, text) || duo_text_contains(d->platform, text);
}

duo_status duo_devices_select(const duo_device_list *list, const char *selector, int *index_out)
{
    if (list->count == 0)
        return duo_fail(DUO_ERR_NO_DEVICE, "no OpenCL devices to select from");
    if (!selector || !*selector) {
        *index_out = list->default_index;
        return DUO_OK;
    }
    int a, b;
    if (parse_int(selector, &a)) {
        if (a >= list->count)
            return no_match(list, selector, "is past the last device index");
        *index_out = a;
        return DUO_OK;
    }
    const char *colon = strchr(selector, ':');
    if (colon) {
        char left[32];
        size_t n = (size_t)(colon - selector);
        if (n < sizeof left) {
            memcpy(left, selector, n);
            left[n] = '\0';
            if (parse_int(left, &a) && parse_int(colon + 1, &b)) {
                for (int i = 0; i < list->count; i++)
                    if (list->devices[i].platform_index == a && list->devices[i].device_index == b) {
                        *index_out = i;
                        return DUO_OK;
                    }
                return no_match(list, selector, "names no platform:device pair");
            }
        }
    }
    static const char *const vendors[] = {"amd", "intel", "nvidia", "pocl"};
    for (size_t v = 0; v < sizeof vendors / sizeof vendors[0]; v++)
        if (duo_text_equal(selector, vendors[v])) {
            int i = best_match(list, accept_profile, vendors[v]);
            if (i < 0)
                return no_match(list, selector, "matches no device of that vendor");
            *index_out = i;
            return DUO_OK;
        }
    static const struct { const char *word; duo_device_type type; } types[] = {
        {"gpu", DUO_DEVICE_GPU}, {"cpu", DUO_DEVICE_CPU}, {"accelerator", DUO_DEVICE_ACCELERATOR}};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        if (duo_text_equal(selector, types[t].word)) {
            int i = best_match(list, accept_type, &types[t].type);
            if (i < 0)
                return no_match(list, selector, "matches no device of that type");
            *index_out = i;
            return DUO_OK;
        }
    int i = best_match(list, accept_name, selector);
    if (i < 0)
        return no_match(list, selector, "matches no device");
    *index_out = i;
    return DUO_OK;
}
