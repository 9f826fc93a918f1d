/* Launchers for kernels/compact.cl. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "compact.h"

enum { META_HEADER = 8 };

static size_t group_count(const duo_runtime *rt, size_t n)
{
    return (n + rt->work_group_reduce - 1) / rt->work_group_reduce;
}

size_t duo_compact_meta_ints(const duo_runtime *rt, size_t n)
{
    return META_HEADER + 3 * group_count(rt, n);
}

void duo_compact_counts_set(const int count[DUO_ROUTE_COUNT], duo_compact_counts *out)
{
    int offset = 0;
    for (int r = 0; r < DUO_ROUTE_COUNT; r++) {
        out->count[r] = count[r];
        out->offset[r] = offset;
        offset += count[r];
    }
}

duo_status duo_compact_index(duo_runtime *rt, cl_mem routes, size_t route_offset, size_t n,
                             cl_mem meta, cl_mem index, cl_mem slot, duo_compact_counts *counts)
{
    /* The scan's table is 3 G ints and positions are ints. */
    if (n > INT_MAX / 2 || route_offset > (size_t)INT_MAX - n)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "compact_index: %zu tokens at route offset %zu "
                        "do not fit int indexing", n, route_offset);
    int count = (int)n, offset = (int)route_offset, groups = (int)group_count(rt, n);
    size_t global = (size_t)groups * rt->work_group_reduce, local = rt->work_group_reduce;
    duo_karg count_args[] = {DUO_ARG(meta), DUO_ARG(routes), DUO_ARG(offset), DUO_ARG(count)};
    DUO_TRY(duo_launch(rt, "compact.cl", "compact_count", 1, &global, &local,
                       DUO_NARGS(count_args), count_args));
    /* Runs for n = 0 too: it writes the zero header, so meta never needs a host write. */
    duo_karg scan_args[] = {DUO_ARG(meta), DUO_ARG(groups), DUO_ARG(count)};
    DUO_TRY(duo_launch(rt, "compact.cl", "compact_scan", 1, &local, &local, DUO_NARGS(scan_args),
                       scan_args));
    duo_karg index_args[] = {DUO_ARG(index),  DUO_ARG(slot),   DUO_ARG(meta),
                             DUO_ARG(routes), DUO_ARG(offset), DUO_ARG(count)};
    DUO_TRY(duo_launch(rt, "compact.cl", "compact_index", 1, &global, &local,
                       DUO_NARGS(index_args), index_args));
    if (counts) {
        int header[META_HEADER];
        DUO_TRY(duo_buffer_read(rt, meta, 0, sizeof header, header));
        if (header[6] != 0)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT, "compact_index: %d of %zu route ids are not "
                            "0 (SKIP), 1 (SMALL) or 2 (BIG)", header[6], n);
        for (int r = 0; r < DUO_ROUTE_COUNT; r++) {
            counts->count[r] = header[r];
            counts->offset[r] = header[3 + r];
        }
    }
    return DUO_OK;
}

/* The row kernels share one signature: (buffers..., index, offset, count,
 * width), global size (width, count). Rows whose length is a multiple of 4 use
 * the float4 instances (name + "4", width C / 4): about 3x faster on PoCL. */
static duo_status launch_rows(duo_runtime *rt, const char *name, int nbuffers,
                              const cl_mem buffers[], cl_mem index, int offset, int count,
                              size_t C)
{
    if (offset < 0 || count < 0 || C > INT_MAX)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "%s: offset %d, count %d, C %zu not allowed",
                        name, offset, count, C);
    bool vec4 = C % 4 == 0;
    int width = (int)(vec4 ? C / 4 : C);
    char kernel[64];
    snprintf(kernel, sizeof kernel, "%s%s", name, vec4 ? "4" : "");
    duo_karg args[7];
    int nargs = 0;
    for (int i = 0; i < nbuffers; i++)
        args[nargs++] = DUO_ARG(buffers[i]);
    args[nargs++] = DUO_ARG(index);
    args[nargs++] = DUO_ARG(offset);
    args[nargs++] = DUO_ARG(count);
    args[nargs++] = DUO_ARG(width);
    /* Narrow rows would leave most of a wide work-group idle. */
    size_t local0 = rt->work_group_1d;
    while (local0 > 8 && local0 / 2 >= (size_t)width)
        local0 /= 2;
    return duo_launch(rt, "compact.cl", kernel, 2, (size_t[]){(size_t)width, (size_t)count},
                      (size_t[]){local0, 1}, nargs, args);
}

duo_status duo_compact_gather(duo_runtime *rt, cl_mem block, cl_mem x, cl_mem index, int offset,
                              int count, size_t C)
{
    return launch_rows(rt, "compact_gather", 2, (cl_mem[]){block, x}, index, offset, count, C);
}

duo_status duo_compact_scatter_add(duo_runtime *rt, cl_mem out, cl_mem h, cl_mem block,
                                   cl_mem index, int offset, int count, size_t C)
{
    return launch_rows(rt, "compact_scatter_add", 3, (cl_mem[]){out, h, block}, index, offset,
                       count, C);
}

duo_status duo_compact_copy_rows(duo_runtime *rt, cl_mem out, cl_mem h, cl_mem index, int offset,
                                 int count, size_t C)
{
    return launch_rows(rt, "compact_copy_rows", 2, (cl_mem[]){out, h}, index, offset, count, C);
}

duo_status duo_compact_scatter(duo_runtime *rt, cl_mem dx, cl_mem dblock, cl_mem index, int offset,
                               int count, size_t C)
{
    return launch_rows(rt, "compact_scatter", 2, (cl_mem[]){dx, dblock}, index, offset, count, C);
}
