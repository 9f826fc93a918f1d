/* Launchers for kernels/attention_fused.cl.
 *
 * Where things live (offsets in floats, n = B*T*H*hd, r = B*H*T):
 *   saved:   q [0, n)   k [n, 2n)   v [2n, 3n)   o [3n, 4n)   lse [4n, 4n + r)
 *   scratch: delta [0, r)
 * The forward kernel fills saved: copies of q, k, v (the model reuses its q,
 * k, v buffers for every layer), o (= y) and lse. */
#include <limits.h>
#include <math.h>
#include <stdio.h>

#include "attention_fused.h"

static const char FILE_NAME[] = "attention_fused.cl";

/* The kernels' head-dim capacities (attention_fused.cl instantiates each). */
static int capacity_of(size_t hd)
{
    static const int caps[] = {16, 32, 64, 128};
    for (int i = 0; i < 4; i++)
        if (hd <= (size_t)caps[i])
            return caps[i];
    return 0;
}

/* The largest local memory of the three kernels: backward_kv's four tiles
 * (Q, Q^T, dO, dO^T). Head dim 128 at tile 16 is 32 KiB. */
static size_t local_bytes(size_t tile, int cap)
{
    return 4 * tile * (size_t)cap * sizeof(float);
}

size_t duo_attention_fused_tile(const duo_runtime *rt, size_t hd, char *why, size_t why_size)
{
    char ignored[8];
    if (!why) {
        why = ignored;
        why_size = sizeof ignored;
    }
    int cap = capacity_of(hd);
    if (hd == 0 || cap == 0) {
        snprintf(why, why_size, "the fused attention kernels take head dims 1 to %d, not %zu",
                 DUO_ATTENTION_FUSED_MAX_HEAD_DIM, hd);
        return 0;
    }
    /* One work-item per position; vectors of 16 positions: 16, 32 or 64. */
    size_t tile = rt->work_group_1d < 64 ? rt->work_group_1d : 64;
    tile = tile / 16 * 16;
    while (tile >= 16 && (local_bytes(tile, cap) > rt->device.local_mem_bytes ||
                          tile > rt->device.max_work_group_size))
        tile /= 2;
    if (tile < 16) {
        snprintf(why, why_size,
                 "the fused attention kernels need %zu bytes of local memory and work-groups of "
                 "16 at head dim %zu; %s has %llu bytes and work-groups up to %zu",
                 local_bytes(16, cap), hd, rt->device.name,
                 (unsigned long long)rt->device.local_mem_bytes, rt->device.max_work_group_size);
        return 0;
    }
    why[0] = '\0';
    return tile;
}

static size_t tensor_floats(duo_attention_shape s) { return s.B * s.T * s.H * s.hd; }
static size_t row_floats(duo_attention_shape s) { return s.B * s.H * s.T; }

size_t duo_attention_fused_saved_floats(duo_attention_shape s)
{
    return 4 * tensor_floats(s) + row_floats(s);
}

size_t duo_attention_fused_scratch_floats(duo_attention_shape s) { return row_floats(s); }

/* What every launch needs: sizes as kernel ints, the tile, kernel names. */
typedef struct plan {
    size_t n;                 /* floats in one (B, T, d) tensor */
    int n32;                  /* the same as a kernel argument */
    int T, H, hd, rows, tile; /* kernel arguments; rows = B*T */
    int cap;
    float scale;
    size_t global[3], local[3]; /* (tiles * tile, H, B) and (tile, 1, 1) */
} plan;

static duo_status plan_of(const duo_runtime *rt, duo_attention_shape s, plan *p)
{
    char why[256];
    size_t tile = duo_attention_fused_tile(rt, s.hd, why, sizeof why);
    if (tile == 0)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "attention (fused): %s", why);
    if ((double)duo_attention_fused_saved_floats(s) > (double)INT_MAX)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "attention (fused): shape B=%zu T=%zu H=%zu hd=%zu is too large for "
                        "32-bit indices", s.B, s.T, s.H, s.hd);
    p->n = tensor_floats(s);
    p->n32 = (int)p->n;
    p->T = (int)s.T;
    p->H = (int)s.H;
    p->hd = (int)s.hd;
    p->rows = (int)(s.B * s.T);
    p->tile = (int)tile;
    p->cap = capacity_of(s.hd);
    p->scale = (float)(1.0 / sqrt((double)s.hd));
    size_t tiles = (s.T + tile - 1) / tile;
    p->global[0] = tiles * tile;
    p->global[1] = s.H;
    p->global[2] = s.B;
    p->local[0] = tile;
    p->local[1] = p->local[2] = 1;
    return DUO_OK;
}

/* "attention_fused_forward_hd64" and the like. */
static const char *kernel_name(char *buf, size_t size, const char *what, const plan *p)
{
    snprintf(buf, size, "attention_fused_%s_hd%d", what, p->cap);
    return buf;
}

/* One local tile: tile x cap floats. */
static duo_karg local_tile(const plan *p)
{
    return DUO_LOCAL((size_t)p->tile * (size_t)p->cap * sizeof(float));
}

duo_status duo_attention_fused_forward(duo_runtime *rt, duo_attention_shape s, cl_mem y,
                                       cl_mem saved, cl_mem scratch, cl_mem q, cl_mem k,
                                       cl_mem v)
{
    (void)scratch;
    if (tensor_floats(s) == 0)
        return DUO_OK;
    plan p;
    DUO_TRY(plan_of(rt, s, &p));
    char name[64];
    duo_karg args[] = {DUO_ARG(y),    DUO_ARG(saved), DUO_ARG(p.n32),  DUO_ARG(q),
                       DUO_ARG(k),    DUO_ARG(v),     DUO_ARG(p.T),    DUO_ARG(p.H),
                       DUO_ARG(p.hd), DUO_ARG(p.tile), DUO_ARG(p.scale), local_tile(&p),
                       local_tile(&p)};
    return duo_launch(rt, FILE_NAME, kernel_name(name, sizeof name, "forward", &p), 3, p.global,
                      p.local, DUO_NARGS(args), args);
}

duo_status duo_attention_fused_backward(duo_runtime *rt, duo_attention_shape s, cl_mem dq,
                                        cl_mem dk, cl_mem dv, cl_mem scratch, cl_mem dy,
                                        cl_mem saved)
{
    if (tensor_floats(s) == 0)
        return DUO_OK;
    plan p;
    DUO_TRY(plan_of(rt, s, &p));
    char name[64];
    /* delta = rowsum(dO * O) first, into scratch. */
    duo_karg delta_args[] = {DUO_ARG(scratch), DUO_ARG(dy), DUO_ARG(saved), DUO_ARG(p.n32),
                             DUO_ARG(p.rows),  DUO_ARG(p.T), DUO_ARG(p.H),  DUO_ARG(p.hd)};
    DUO_TRY(duo_launch(rt, FILE_NAME, "attention_fused_backward_delta", 1,
                       (size_t[]){(size_t)p.rows * (size_t)p.H}, (size_t[]){rt->work_group_1d},
                       DUO_NARGS(delta_args), delta_args));
    /* dK, dV per key tile; key tile 0 meets every query, so the heaviest go first. */
    duo_karg kv_args[] = {DUO_ARG(dk),     DUO_ARG(dv),      DUO_ARG(dy),       DUO_ARG(saved),
                          DUO_ARG(p.n32),  DUO_ARG(scratch), DUO_ARG(p.T),      DUO_ARG(p.H),
                          DUO_ARG(p.hd),   DUO_ARG(p.tile),  DUO_ARG(p.scale),  local_tile(&p),
                          local_tile(&p),  local_tile(&p),   local_tile(&p)};
    DUO_TRY(duo_launch(rt, FILE_NAME, kernel_name(name, sizeof name, "backward_kv", &p), 3,
                       p.global, p.local, DUO_NARGS(kv_args), kv_args));
    /* dQ per query tile. */
    duo_karg q_args[] = {DUO_ARG(dq),      DUO_ARG(dy),     DUO_ARG(saved),    DUO_ARG(p.n32),
                         DUO_ARG(scratch), DUO_ARG(p.T),    DUO_ARG(p.H),      DUO_ARG(p.hd),
                         DUO_ARG(p.tile),  DUO_ARG(p.scale), local_tile(&p), local_tile(&p),
                         local_tile(&p)};
    return duo_launch(rt, FILE_NAME, kernel_name(name, sizeof name, "backward_q", &p), 3, p.global,
                      p.local, DUO_NARGS(q_args), q_args);
}
