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

static void set_build_options(duo_runtime *rt)
{
    snprintf(rt->build_options, sizeof rt->build_options,
             "-cl-std=CL%d.%d -DDUO_WG_1D=%zu -DDUO_WG_REDUCE=%zu -DDUO_WG_2D=%zu %s",
             rt->device.opencl_c_major, rt->device.opencl_c_minor, rt->work_group_1d,
             rt->work_group_reduce, rt->work_group_2d, rt->profile->build_flags);
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

duo_status duo_runtime_create(const duo_runtime_options *options, duo_runtime **out)
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
    set_build_options(rt);

    const char *dir = options->kernel_dir ? options->kernel_dir : getenv("DUOCL_KERNEL_DIR");
    if (dir && *dir)
        snprintf(rt->kernel_dir, sizeof rt->kernel_dir, "%s", dir);

    st = create_context(rt);
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

void duo_runtime_destroy(duo_runtime *rt)
{
    if (!rt)
        return;
    if (rt->queue)
        clFinish(rt->queue);
    duo_buffer_release(&rt->gemm_temp);
    for (int i = 0; i < rt->kernel_count; i++)
        clReleaseKernel(rt->kernels[i].kernel);
    for (int i = 0; i < rt->program_count; i++)
        clReleaseProgram(rt->programs[i].program);
    /* CLBlast keeps compiled programs that reference the context. */
    CLBlastClearCache();
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
