/* The attention section (issue 13): causal attention forward + backward on
 * the GEMM path (ops/attention.h: CLBlast's batched products and the (T, T)
 * probabilities) and with the fused kernels (ops/attention_fused.h), at
 * T = 256, 512, 1024, 2048 with the config's heads and head dim and 8
 * sequences, all eight cases round-robin in one run; each case's shape names
 * the memory its path keeps (saved, per layer when training) and needs while
 * it runs (scratch). Then training steps of the config's model with
 * model.attention "gemm" and "fused", interleaved too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_internal.h"
#include "model/model.h"
#include "model/train_step.h"
#include "ops/attention_fused.h"

enum { ATT_BATCH = 8, ATT_LENGTHS = 4 };
static const size_t LENGTHS[ATT_LENGTHS] = {256, 512, 1024, 2048};

typedef struct att_bench {
    duo_runtime *rt;
    size_t H, hd;
    cl_mem q, k, v, dy, y, dq, dk, dv; /* (B, T_max, d) */
    cl_mem saved[2], scratch[2];       /* [0] GEMM path, [1] fused, for T_max */
} att_bench;

static duo_attention_shape shape_at(const att_bench *a, size_t T)
{
    return (duo_attention_shape){.B = ATT_BATCH, .T = T, .H = a->H, .hd = a->hd};
}

static size_t saved_floats(duo_attention_shape s, int fused)
{
    return fused ? duo_attention_fused_saved_floats(s) : duo_attention_saved_floats(s);
}

static size_t scratch_floats(duo_attention_shape s, int fused)
{
    return fused ? duo_attention_fused_scratch_floats(s) : duo_attention_scratch_floats(s);
}

/* arg = 2 * length index + fused. */
static duo_status attention_run(void *context, int arg)
{
    att_bench *a = context;
    int fused = arg % 2;
    duo_attention_shape s = shape_at(a, LENGTHS[arg / 2]);
    cl_mem saved = a->saved[fused], scratch = a->scratch[fused];
    if (fused) {
        DUO_TRY(duo_attention_fused_forward(a->rt, s, a->y, saved, scratch, a->q, a->k, a->v));
        return duo_attention_fused_backward(a->rt, s, a->dq, a->dk, a->dv, scratch, a->dy, saved);
    }
    DUO_TRY(duo_attention_forward(a->rt, s, a->y, saved, scratch, a->q, a->k, a->v));
    return duo_attention_backward(a->rt, s, a->dq, a->dk, a->dv, scratch, a->dy, saved);
}

static double mib(size_t floats) { return (double)floats * sizeof(float) / (1024.0 * 1024.0); }

/* Whether a buffer of `floats` fits the device's largest allocation. */
static bool allocatable(const duo_runtime *rt, size_t floats)
{
    uint64_t max = rt->device.max_alloc_bytes;
    return max == 0 || (uint64_t)floats * sizeof(float) <= max;
}

static void attention_release(att_bench *a)
{
    cl_mem *all[] = {&a->q,  &a->k,  &a->v,        &a->dy,       &a->y,          &a->dq,
                     &a->dk, &a->dv, &a->saved[0], &a->saved[1], &a->scratch[0], &a->scratch[1]};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        duo_buffer_release(all[i]);
}

static duo_status attention_cases(duo_runtime *rt, const duo_bench_suite_options *o,
                                  duo_bench_report *r)
{
    const duo_model_config *mc = &o->config->model;
    att_bench a = {.rt = rt, .H = (size_t)mc->n_heads};
    a.hd = (size_t)(mc->d_model / mc->n_heads);
    bool fused_ok = duo_attention_fused_tile(rt, a.hd, NULL, 0) > 0;
    /* The longest T whose GEMM-path buffers the device can allocate. */
    size_t T_max = 0, T_gemm = 0;
    for (int i = 0; i < ATT_LENGTHS; i++) {
        duo_attention_shape s = shape_at(&a, LENGTHS[i]);
        if (allocatable(rt, saved_floats(s, 0)) && allocatable(rt, scratch_floats(s, 0)))
            T_gemm = LENGTHS[i];
        T_max = LENGTHS[i];
    }
    duo_attention_shape big = shape_at(&a, T_max);
    size_t n = big.B * big.T * big.H * big.hd;
    cl_mem *tensors[] = {&a.q, &a.k, &a.v, &a.dy, &a.y, &a.dq, &a.dk, &a.dv};
    duo_status st = DUO_OK;
    for (int i = 0; i < 8 && st == DUO_OK; i++)
        st = i < 4 ? duo_bench_random_buffer(rt, n, 1.0f, o->seed + 20 + (uint64_t)i, tensors[i])
                   : duo_buffer_create(rt, n * sizeof(float), tensors[i]);
    for (int fused = 0; fused < 2 && st == DUO_OK; fused++) {
        if (fused ? !fused_ok : T_gemm == 0)
            continue;
        duo_attention_shape s = shape_at(&a, fused ? T_max : T_gemm);
        st = duo_buffer_create(rt, saved_floats(s, fused) * sizeof(float), &a.saved[fused]);
        if (st == DUO_OK)
            st = duo_buffer_create(rt, scratch_floats(s, fused) * sizeof(float), &a.scratch[fused]);
    }
    duo_bench_case cases[2 * ATT_LENGTHS];
    int count = 0;
    for (int i = 0; i < ATT_LENGTHS && st == DUO_OK; i++)
        for (int fused = 0; fused < 2; fused++) {
            size_t T = LENGTHS[i];
            if (fused ? !fused_ok : T > T_gemm)
                continue;
            duo_attention_shape s = shape_at(&a, T);
            duo_bench_case *c = &cases[count++];
            char name[32];
            snprintf(name, sizeof name, "%s T=%zu", fused ? "fused" : "gemm", T);
            duo_bench_case_set(c, "attention", name, (double)(ATT_BATCH * T), "tokens/s",
                               attention_run, &a, 2 * i + fused);
            snprintf(c->shape, sizeof c->shape, "B%d H%zu hd%zu: saved %.1f MiB, scratch %.1f MiB",
                     ATT_BATCH, a.H, a.hd, mib(saved_floats(s, fused)),
                     mib(scratch_floats(s, fused)));
        }
    if (st == DUO_OK)
        st = duo_bench_run_and_add(rt, cases, count, &o->run, r);
    attention_release(&a);
    return st;
}

/* ---- training steps with each path ---- */

static duo_status train_cases(duo_runtime *rt, const duo_bench_suite_options *o,
                              duo_bench_report *r)
{
    const duo_model_config *mc = &o->config->model;
    bool auto_fused = false;
    duo_model_config as_auto = *mc;
    as_auto.attention = DUO_ATTENTION_AUTO;
    DUO_TRY(duo_model_attention_path(rt, &as_auto, &auto_fused));
    size_t hd = (size_t)(mc->d_model / mc->n_heads);
    bool fused_ok = duo_attention_fused_tile(rt, hd, NULL, 0) > 0;
    duo_bench_model t[2];
    memset(t, 0, sizeof t);
    size_t B = (size_t)o->config->train.batch, T = (size_t)mc->ctx;
    duo_model_config path[2] = {*mc, *mc};
    path[0].attention = DUO_ATTENTION_GEMM;
    path[1].attention = DUO_ATTENTION_FUSED;
    duo_status st = duo_bench_model_open(rt, o, &path[0], B, true, &t[0]);
    if (st == DUO_OK && fused_ok)
        st = duo_bench_model_open(rt, o, &path[1], B, true, &t[1]);
    duo_bench_case cases[2];
    for (int i = 0; i < 2; i++) {
        duo_bench_case_set(&cases[i], "attention", i ? "train fused" : "train gemm",
                           (double)(B * T), "tokens/s", duo_bench_train_run, &t[i], 0);
        snprintf(cases[i].shape, sizeof cases[i].shape, "train step B=%zu T=%zu L=%d%s", B, T,
                 mc->n_layers, (i == 1) == auto_fused ? " (auto)" : "");
    }
    if (st == DUO_OK)
        st = duo_bench_run_and_add(rt, cases, fused_ok ? 2 : 1, &o->run, r);
    duo_bench_model_close(&t[0]);
    duo_bench_model_close(&t[1]);
    return st;
}

duo_status duo_bench_attention_suite(duo_runtime *rt, const duo_bench_suite_options *o,
                                     duo_bench_report *r)
{
    DUO_TRY(attention_cases(rt, o, r));
    return train_cases(rt, o, r);
}
