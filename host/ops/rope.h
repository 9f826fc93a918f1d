/* Rotary position embedding on the device (kernels/rope.cl). q or k is laid
 * out (B, T, H, hd) row-major; pair (x[2i], x[2i+1]) of each head is rotated
 * by t * theta^(-2i/hd), t the position within the sequence. The cos/sin of
 * every (t, i) come from a table computed once on the host in double.
 * The caller owns every buffer; launchers allocate nothing. */
#ifndef DUOCL_OPS_ROPE_H
#define DUOCL_OPS_ROPE_H

#include "device/runtime_internal.h"

typedef struct duo_rope_table {
    cl_mem buffer;   /* (max_t, head_dim/2, 2) floats: cos, sin */
    size_t max_t;    /* sequences up to this length */
    size_t head_dim; /* even */
    double theta;    /* base of the frequencies, 10000 by default */
} duo_rope_table;

/* Floats in a table for sequences up to max_t and head dimension head_dim. */
size_t duo_rope_table_floats(size_t max_t, size_t head_dim);

/* Fills a host table: entry (t, i) = {cos, sin}(t * theta^(-2i/head_dim)),
 * computed in double and rounded to float once. */
void duo_rope_table_fill(float *table, size_t max_t, size_t head_dim, double theta);

/* Allocates and uploads a table (once, at model setup). head_dim must be even
 * and positive, max_t positive, theta > 0. */
duo_status duo_rope_table_create(duo_runtime *rt, size_t max_t, size_t head_dim, double theta,
                                 duo_rope_table *out);
void duo_rope_table_release(duo_rope_table *table);

/* out (B*T, H*hd) = RoPE(in); out may alias in. hd is the table's head_dim;
 * T must not exceed its max_t. */
duo_status duo_rope_forward(duo_runtime *rt, cl_mem out, cl_mem in, const duo_rope_table *table,
                            size_t b, size_t t, size_t heads);

/* dx = RoPE^T(dy), the rotation by the negative angle; dx may alias dy. */
duo_status duo_rope_backward(duo_runtime *rt, cl_mem dx, cl_mem dy, const duo_rope_table *table,
                             size_t b, size_t t, size_t heads);

#endif
