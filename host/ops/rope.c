/* Launchers for kernels/rope.cl and its cos/sin table. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "rope.h"

size_t duo_rope_table_floats(size_t max_t, size_t head_dim) { return max_t * (head_dim / 2) * 2; }

void duo_rope_table_fill(float *table, size_t max_t, size_t head_dim, double theta)
{
    size_t half = head_dim / 2;
    for (size_t i = 0; i < half; i++) {
        double inv_freq = pow(theta, -2.0 * (double)i / (double)head_dim);
        for (size_t t = 0; t < max_t; t++) {
            double angle = (double)t * inv_freq;
            table[2 * (t * half + i)] = (float)cos(angle);
            table[2 * (t * half + i) + 1] = (float)sin(angle);
        }
    }
}

duo_status duo_rope_table_create(duo_runtime *rt, size_t max_t, size_t head_dim, double theta,
                                 duo_rope_table *out)
{
    *out = (duo_rope_table){0};
    if (max_t == 0 || head_dim == 0 || head_dim % 2 != 0 || !(theta > 0) ||
        max_t > INT_MAX / head_dim)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "RoPE table: max_t %zu, head_dim %zu, theta %g (need max_t > 0, an even "
                        "head_dim > 0, theta > 0, max_t*head_dim below 2^31)",
                        max_t, head_dim, theta);
    size_t floats = duo_rope_table_floats(max_t, head_dim);
    float *host = malloc(floats * sizeof *host);
    if (!host)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for a RoPE table of %zu floats", floats);
    duo_rope_table_fill(host, max_t, head_dim, theta);
    duo_status st = duo_buffer_create(rt, floats * sizeof *host, &out->buffer);
    if (st == DUO_OK)
        st = duo_buffer_write(rt, out->buffer, 0, floats * sizeof *host, host);
    free(host);
    if (st != DUO_OK) {
        duo_buffer_release(&out->buffer);
        return st;
    }
    out->max_t = max_t;
    out->head_dim = head_dim;
    out->theta = theta;
    return DUO_OK;
}

void duo_rope_table_release(duo_rope_table *table)
{
    duo_buffer_release(&table->buffer);
    *table = (duo_rope_table){0};
}

static duo_status launch(duo_runtime *rt, const char *kernel, cl_mem out, cl_mem in,
                         const duo_rope_table *table, size_t b, size_t t, size_t heads)
{
    size_t hd = table->head_dim;
    if (!table->buffer || t == 0 || t > table->max_t || heads == 0 ||
        (b && (t * heads * hd) > INT_MAX / b))
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "%s: B %zu, T %zu, H %zu with a table for T <= %zu, hd %zu (need a "
                        "table, 0 < T <= its max_t, H > 0, B*T*H*hd below 2^31)",
                        kernel, b, t, heads, table->max_t, hd);
    int rows = (int)(b * t), t_len = (int)t, h = (int)heads, head_dim = (int)hd;
    duo_karg args[] = {DUO_ARG(out), DUO_ARG(in), DUO_ARG(table->buffer), DUO_ARG(rows),
                       DUO_ARG(t_len), DUO_ARG(h), DUO_ARG(head_dim)};
    return duo_launch(rt, "rope.cl", kernel, 1, (size_t[]){b * t * heads * hd / 2},
                      (size_t[]){rt->work_group_1d}, DUO_NARGS(args), args);
}

duo_status duo_rope_forward(duo_runtime *rt, cl_mem out, cl_mem in, const duo_rope_table *table,
                            size_t b, size_t t, size_t heads)
{
    return launch(rt, "rope_forward", out, in, table, b, t, heads);
}

duo_status duo_rope_backward(duo_runtime *rt, cl_mem dx, cl_mem dy, const duo_rope_table *table,
                             size_t b, size_t t, size_t heads)
{
    return launch(rt, "rope_backward", dx, dy, table, b, t, heads);
}
