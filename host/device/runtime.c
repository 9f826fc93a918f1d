/* Runtime: context, queue, buffers and kernel launches on one device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clblast_c.h>

#include "runtime_internal.h"
#include "tuning.h"

static size_t clamp_work_group(size_t wanted, size_t device_max)
{
    /* Halve until it fits: profile sizes are powers of two. */
    while (wanted > 1 && wanted > device_max)
        wanted /= 2;
    return wanted;
}

/* The profile's built-in GEMM tiles (the generic profile's when it has
 * none), the work-group halved along its longer side until the device takes it. */
static duo_gemm_tiles gemm_tiles_for(const duo_profile *profile, size_t device_max)
{
    duo_gemm_tiles t = profile->gemm_tiles.rows ? profile->gemm_tiles
                                                : duo_profile_generic.gemm_tiles;
    while (t.wg_x * t.wg_y > 1 && (size_t)(t.wg_x * t.wg_y) > device_max) {
        if (t.wg_x >= t.wg_y)
            t.wg_x /= 2;
        else
            t.wg_y /= 2;
    }
    return t;
}

static void set_build_options(duo_runtime *rt)
{
    const duo_gemm_tiles *g = &rt->gemm_tiles;
    snprintf(rt->build_options, sizeof rt->build_options,
             "-cl-std=CL%d.%d -DDUO_WG_1D=%zu -DDUO_WG_REDUCE=%zu -DDUO_WG_2D=%zu "
             "-DDUO_GEMM_WG_X=%d -DDUO_GEMM_WG_Y=%d -DDUO_GEMM_ROWS=%d -DDUO_GEMM_WIDTH=%d "
             "-DDUO_GEMM_VECTORS=%d %s",
             rt->device.opencl_c_major, rt->device.opencl_c_minor, rt->work_group_1d,
             rt->work_group_reduce, rt->work_group_2d, g->wg_x, g->wg_y, g->rows, g->width,
             g->vectors, rt->profile->build_flags);
}

/* The GEMM: the caller's choice, else $DUOCL_GEMM, else the profile's. */
static duo_status choose_gemm(duo_runtime *rt, duo_gemm_kind wanted)
{
    const char *env = getenv("DUOCL_GEMM");
    if (wanted != DUO_GEMM_AUTO) {
        snprintf(rt->gemm_reason, sizeof rt->gemm_reason, "--gemm");
    } else if (env && *env) {
        if (!duo_gemm_kind_from_name(env, &wanted))
            return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                            "DUOCL_GEMM='%s': allowed clblast, builtin or auto", env);
        snprintf(rt->gemm_reason, sizeof rt->gemm_reason, "DUOCL_GEMM");
    }
    if (wanted == DUO_GEMM_AUTO) {
        wanted = rt->profile->gemm == DUO_GEMM_BUILTIN ? DUO_GEMM_BUILTIN : DUO_GEMM_CLBLAST;
        snprintf(rt->gemm_reason, sizeof rt->gemm_reason, "vendor profile %s", rt->profile->name);
    }
    rt->gemm = wanted;
    return DUO_OK;
}

/* Whether compiling at run time is forbidden, and why; where binaries come from. */
static duo_status choose_program_source(duo_runtime *rt, const duo_runtime_options *options)
{
    const char *env = getenv("DUOCL_NO_COMPILE");
    if (options->no_compile)
        snprintf(rt->no_compile_reason, sizeof rt->no_compile_reason, "--no-compile");
    else if (env && *env && strcmp(env, "0") != 0)
        snprintf(rt->no_compile_reason, sizeof rt->no_compile_reason, "DUOCL_NO_COMPILE=%.40s", env);
    else if (rt->profile->no_compile)
        snprintf(rt->no_compile_reason, sizeof rt->no_compile_reason,
                 "the vendor profile %s has no run-time compiler", rt->profile->name);
    else if (!rt->device.compiler_available)
        snprintf(rt->no_compile_reason, sizeof rt->no_compile_reason,
                 "the device has no compiler (CL_DEVICE_COMPILER_AVAILABLE is false)");
    const char *dir = options->kernel_binaries ? options->kernel_binaries
                                               : getenv("DUOCL_KERNEL_BINARIES");
    if (dir && *dir)
        snprintf(rt->binaries_dir, sizeof rt->binaries_dir, "%s", dir);
    if (rt->no_compile_reason[0] && rt->gemm == DUO_GEMM_CLBLAST)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "CLBlast cannot run here: it generates and compiles its GEMM kernels at "
                        "run time, which is forbidden (%s); use the built-in GEMM (--gemm "
                        "builtin, or \"gemm\": \"builtin\" in the config's model)",
                        rt->no_compile_reason);
    return DUO_OK;
}

static duo_status create_context(duo_runtime *rt)
{
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
                                     (cl_context_properties)rt->device.cl_platform, 0};
    rt->context = clCreateContext(props, 1, &rt->device_id, NULL, NULL, &err);
    if (err != CL_SUCCESS)
        return duo_cl_fail(err, "clCreateContext", rt->device.name);
    cl_command_queue_properties qprops = rt->profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
    /* clCreateCommandQueue is deprecated in 2.0 but is the one call every
     * platform (1.2 included) has. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    rt->queue = clCreateCommandQueue(rt->context, rt->device_id, qprops, &err);
#pragma GCC diagnostic pop
    if (err != CL_SUCCESS)
        return duo_cl_fail(err, "clCreateCommandQueue", rt->device.name);
    return DUO_OK;
}

/* exporting: duo_kernels_export's runtime, which compiles (or only writes
 * sources) and never loads binaries. */
static duo_status runtime_create(const duo_runtime_options *options, bool exporting,
                                 duo_runtime **out)
{
    *out = NULL;
    duo_runtime_options defaults = {0};
    if (!options)
        options = &defaults;

    duo_device_list list;
    DUO_TRY(duo_devices_list(&list));
    int index;
    duo_status st = duo_devices_select(&list, options->device, &index);
    if (st != DUO_OK) {
        duo_devices_free(&list);
        return st;
    }
    duo_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) {
        duo_devices_free(&list);
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory creating the runtime");
    }
    rt->device = list.devices[index];
    duo_devices_free(&list);
    rt->device_id = (cl_device_id)rt->device.cl_device;
    rt->profile = duo_profile_for(&rt->device);
    rt->profiling = options->profiling;
    size_t max_wg = rt->device.max_work_group_size;
    rt->work_group_1d = clamp_work_group(rt->profile->work_group_1d, max_wg);
    rt->work_group_reduce = clamp_work_group(rt->profile->work_group_reduce, max_wg);
    rt->work_group_2d = rt->profile->work_group_2d;
    while (rt->work_group_2d > 1 && rt->work_group_2d * rt->work_group_2d > max_wg)
        rt->work_group_2d /= 2;
    rt->gemm_tiles = gemm_tiles_for(rt->profile, max_wg);
    set_build_options(rt);

    const char *dir = options->kernel_dir ? options->kernel_dir : getenv("DUOCL_KERNEL_DIR");
    if (dir && *dir)
        snprintf(rt->kernel_dir, sizeof rt->kernel_dir, "%s", dir);

    st = choose_gemm(rt, options->gemm);
    if (st == DUO_OK && exporting) {
        if (options->kernel_binaries)
            st = duo_fail(DUO_ERR_INVALID_ARGUMENT, "exporting kernels compiles them from source: "
                          "--kernel-binaries does not apply");
        rt->gemm = DUO_GEMM_BUILTIN; /* nothing of CLBlast's is exported */
        snprintf(rt->no_compile_reason, sizeof rt->no_compile_reason, "%s",
                 rt->profile->no_compile || !rt->device.compiler_available
                     ? "the device cannot compile" : "");
    } else if (st == DUO_OK) {
        st = choose_program_source(rt, options);
    }
    if (st == DUO_OK && !exporting && rt->no_compile_reason[0] && !rt->binaries_dir[0])
        st = duo_fail(DUO_ERR_INVALID_ARGUMENT,
                      "compiling kernels at run time is forbidden (%s): pass --kernel-binaries DIR "
                      "(or DUOCL_KERNEL_BINARIES) with the programs 'duocl kernels export' wrote "
                      "for this device (README, FPGA boards)", rt->no_compile_reason);
    if (st != DUO_OK) {
        free(rt);
        return st;
    }

    st = create_context(rt);
    if (st == DUO_OK && rt->binaries_dir[0])
        st = duo_binaries_open(rt);
    /* Stored CLBlast parameters (duocl tune); a bad file is an error naming it. */
    bool tuned;
    if (st == DUO_OK)
        st = duo_tuning_apply_stored(rt, &tuned);
    if (st != DUO_OK) {
        duo_runtime_destroy(rt);
        return st;
    }
    *out = rt;
    return DUO_OK;
}

duo_status duo_runtime_create(const duo_runtime_options *options, duo_runtime **out)
{
    return runtime_create(options, false, out);
}

duo_status duo_runtime_create_for_export(const duo_runtime_options *options, duo_runtime **out)
{
    return runtime_create(options, true, out);
}

void duo_runtime_destroy(duo_runtime *rt)
{
    if (!rt)
        return;
    if (rt->queue)
        clFinish(rt->queue);
    duo_buffer_release(&rt->gemm_temp);
    for (int i = 0; i < rt->gemm_retired_count; i++)
        duo_buffer_release(&rt->gemm_retired[i]);
    for (int i = 0; i < rt->kernel_count; i++)
        clReleaseKernel(rt->kernels[i].kernel);
    for (int i = 0; i < rt->program_count; i++)
        clReleaseProgram(rt->programs[i].program);
    /* CLBlast keeps compiled programs that reference the context. */
    CLBlastClearCache();
    duo_binaries_close(rt);
    if (rt->queue)
        clReleaseCommandQueue(rt->queue);
    if (rt->context)
        clReleaseContext(rt->context);
    free(rt);
}

const duo_device_info *duo_runtime_device(const duo_runtime *rt) { return &rt->device; }

const char *duo_runtime_profile_name(const duo_runtime *rt) { return rt->profile->name; }

const char *duo_runtime_kernel_source(const duo_runtime *rt)
{
    return rt->kernel_dir[0] ? rt->kernel_dir : "embedded";
}

duo_gemm_kind duo_runtime_gemm(const duo_runtime *rt) { return rt->gemm; }

const char *duo_runtime_gemm_reason(const duo_runtime *rt) { return rt->gemm_reason; }

const char *duo_runtime_kernel_binaries(const duo_runtime *rt)
{
    return rt->binaries_dir[0] ? rt->binaries_dir : NULL;
}

const char *duo_runtime_no_compile_reason(const duo_runtime *rt)
{
    return rt->no_compile_reason[0] ? rt->no_compile_reason : NULL;
}

unsigned long duo_blocking_total(const duo_runtime *rt)
{
    const duo_blocking_counts *b = &rt->blocking;
    return b->reads + b->writes + b->finishes + b->waits;
}

duo_status duo_runtime_finish(duo_runtime *rt)
{
    rt->blocking.finishes++;
    DUO_CL(clFinish(rt->queue), "waiting for queued work");
    return DUO_OK;
}

duo_status duo_launch(duo_runtime *rt, const char *file, const char *name, int dims,
                      const size_t global[], const size_t local[], int nargs, const duo_karg args[])
{
    cl_kernel kernel;
    DUO_TRY(duo_kernel_get(rt, file, name, &kernel));
    for (int i = 0; i < nargs; i++) {
        cl_int err = clSetKernelArg(kernel, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS)
            return duo_fail(DUO_ERR_OPENCL, "clSetKernelArg failed with %s for argument %d of %s (%s)",
                            duo_cl_error_name(err), i, name, file);
    }
    size_t rounded[3];
    for (int d = 0; d < dims; d++) {
        if (global[d] == 0)
            return DUO_OK; /* nothing to do: an empty route or an empty batch */
        rounded[d] = (global[d] + local[d] - 1) / local[d] * local[d];
    }
    cl_int err = clEnqueueNDRangeKernel(rt->queue, kernel, (cl_uint)dims, NULL, rounded, local, 0,
                                        NULL, NULL);
    if (err != CL_SUCCESS)
        return duo_fail(DUO_ERR_OPENCL, "clEnqueueNDRangeKernel failed with %s for kernel %s (%s)",
                        duo_cl_error_name(err), name, file);
    return DUO_OK;
}

duo_status duo_buffer_create(duo_runtime *rt, size_t bytes, cl_mem *out)
{
    cl_int err;
    *out = clCreateBuffer(rt->context, CL_MEM_READ_WRITE, bytes ? bytes : 16, NULL, &err);
    if (err != CL_SUCCESS)
        return duo_fail(DUO_ERR_OPENCL, "clCreateBuffer failed with %s for %zu bytes",
                        duo_cl_error_name(err), bytes);
    return DUO_OK;
}

duo_status duo_buffer_write(duo_runtime *rt, cl_mem buffer, size_t offset, size_t bytes,
                            const void *src)
{
    if (bytes == 0)
        return DUO_OK;
    rt->blocking.writes++;
    DUO_CL(clEnqueueWriteBuffer(rt->queue, buffer, CL_TRUE, offset, bytes, src, 0, NULL, NULL),
           "writing a buffer");
    return DUO_OK;
}

duo_status duo_buffer_read(duo_runtime *rt, cl_mem buffer, size_t offset, size_t bytes, void *dst)
{
    if (bytes == 0)
        return DUO_OK;
    rt->blocking.reads++;
    DUO_CL(clEnqueueReadBuffer(rt->queue, buffer, CL_TRUE, offset, bytes, dst, 0, NULL, NULL),
           "reading a buffer");
    return DUO_OK;
}

duo_status duo_buffer_read_start(duo_runtime *rt, cl_mem buffer, size_t offset, size_t bytes,
                                 void *dst, cl_event *done)
{
    *done = NULL;
    if (bytes == 0)
        return DUO_OK;
    DUO_CL(clEnqueueReadBuffer(rt->queue, buffer, CL_FALSE, offset, bytes, dst, 0, NULL, done),
           "reading a buffer (not blocking)");
    DUO_CL(clFlush(rt->queue), "flushing the queue");
    return DUO_OK;
}

duo_status duo_buffer_write_start(duo_runtime *rt, cl_mem buffer, size_t offset, size_t bytes,
                                  const void *src)
{
    if (bytes == 0)
        return DUO_OK;
    DUO_CL(clEnqueueWriteBuffer(rt->queue, buffer, CL_FALSE, offset, bytes, src, 0, NULL, NULL),
           "writing a buffer (not blocking)");
    return DUO_OK;
}

duo_status duo_buffer_fill_zero(duo_runtime *rt, cl_mem buffer, size_t bytes)
{
    return duo_buffer_fill_byte(rt, buffer, 0, bytes, 0);
}

duo_status duo_buffer_fill_byte(duo_runtime *rt, cl_mem buffer, size_t offset, size_t bytes,
                                unsigned char value)
{
    if (bytes == 0)
        return DUO_OK;
    const cl_uchar byte = value;
    DUO_CL(clEnqueueFillBuffer(rt->queue, buffer, &byte, 1, offset, bytes, 0, NULL, NULL),
           "filling a buffer");
    return DUO_OK;
}

duo_status duo_queue_marker(duo_runtime *rt, cl_event *out)
{
    DUO_CL(clEnqueueMarkerWithWaitList(rt->queue, 0, NULL, out), "enqueueing a marker");
    return DUO_OK;
}

duo_status duo_event_wait(duo_runtime *rt, int n, const cl_event *events)
{
    rt->blocking.waits++;
    DUO_CL(clWaitForEvents((cl_uint)n, events), "waiting for events");
    return DUO_OK;
}

duo_status duo_buffer_copy(duo_runtime *rt, cl_mem src, size_t src_offset, cl_mem dst,
                           size_t dst_offset, size_t bytes)
{
    if (bytes == 0)
        return DUO_OK;
    DUO_CL(clEnqueueCopyBuffer(rt->queue, src, dst, src_offset, dst_offset, bytes, 0, NULL, NULL),
           "copying a buffer");
    return DUO_OK;
}

void duo_buffer_release(cl_mem *buffer)
{
    if (*buffer)
        clReleaseMemObject(*buffer);
    *buffer = NULL;
}
