/* Fused causal attention (kernels/attention_fused.cl) against the
 * double-precision C reference (tests/ref/attention_ref.c, whose backward
 * op_attention checks against central finite differences), forward and
 * backward, at T = 1, 7, 65, 129 (the tile is 64 on PoCL, 32 on oclgrind:
 * 65 and 129 end in a tile of one position), every head-dim capacity of the
 * kernels (16, 32, 64, 128) and head dims padded inside one (2, 24, 48),
 * B and H above 1; then the model's shape (T 256, hd 64) and T 300 (a last
 * tile of 44); byte-identical reruns (outputs and the saved block); future
 * keys that change no earlier output bit; the memory sizes, linear in T;
 * head dim 130 refused. Under oclgrind (--small) at T up to 65 with its
 * tile of 32 (16 at head dim 128: its 32 KiB of local memory).
 *
 * Tolerance, as in op_attention: q, k, v and dy are uniform in [-1, 1]; the
 * kernels sum at most hd products per score and T terms per output, in
 * float, so their error is a few float epsilons times those lengths' square
 * roots; we allow atol = 1e-5 * max(1, max |want|) and rtol 1e-5 (~100
 * epsilons of the values' scale), which still catches any wrong term (a mask
 * off by one moves y by ~1/T, over 1e-3 here). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/attention_fused.h"
#include "ref/attention_ref.h"
#include "testutil.h"

static double *to_double(const float *x, size_t n)
{
    double *out = test_malloc((n ? n : 1) * sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = x[i];
    return out;
}

static double tolerance_for(const float *want, size_t n)
{
    double scale = 1;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)want[i]));
    return 1e-5 * scale;
}

/* Device buffers for one shape; every output, saved and scratch starts as
 * NaN, so a value the kernels fail to write, or one computed from memory
 * they never wrote, shows up as NaN (oclgrind --uninitialized watches the
 * kernels' own local and private memory). */
typedef struct device_problem {
    duo_attention_shape s;
    size_t n;
    cl_mem q, k, v, dy, y, dq, dk, dv, saved, scratch;
} device_problem;

static device_problem device_problem_create(test_context *t, duo_attention_shape s, const float *q,
                                            const float *k, const float *v, const float *dy)
{
    device_problem p = {.s = s, .n = s.B * s.T * s.H * s.hd};
    size_t bytes = p.n * sizeof(float);
    p.q = test_upload(t, q, bytes);
    p.k = test_upload(t, k, bytes);
    p.v = test_upload(t, v, bytes);
    p.dy = test_upload(t, dy, bytes);
    p.y = test_alloc(t, bytes);
    p.dq = test_alloc(t, bytes);
    p.dk = test_alloc(t, bytes);
    p.dv = test_alloc(t, bytes);
    p.saved = test_alloc(t, duo_attention_fused_saved_floats(s) * sizeof(float));
    p.scratch = test_alloc(t, duo_attention_fused_scratch_floats(s) * sizeof(float));
    return p;
}

static void device_problem_release(device_problem *p)
{
    cl_mem *all[] = {&p->q, &p->k, &p->v, &p->dy, &p->y, &p->dq, &p->dk, &p->dv, &p->saved, &p->scratch};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        duo_buffer_release(all[i]);
}

static bool forward(test_context *t, device_problem *p)
{
    return test_ok(t, "attention_fused_forward",
                   duo_attention_fused_forward(t->rt, p->s, p->y, p->saved, p->scratch, p->q, p->k,
                                               p->v));
}

static bool backward(test_context *t, device_problem *p)
{
    return test_ok(t, "attention_fused_backward",
                   duo_attention_fused_backward(t->rt, p->s, p->dq, p->dk, p->dv, p->scratch, p->dy,
                                                p->saved));
}

static void compare(test_context *t, const char *what, duo_attention_shape s, cl_mem buffer,
                    const double *want64)
{
    size_t n = s.B * s.T * s.H * s.hd;
    float *got = test_malloc(n * sizeof *got + 1), *want = test_malloc(n * sizeof *want + 1);
    test_download(t, buffer, got, n * sizeof *got);
    for (size_t i = 0; i < n; i++)
        want[i] = (float)want64[i];
    char name[96];
    snprintf(name, sizeof name, "attention_fused_%s_matches_reference_b%zu_t%zu_h%zu_hd%zu", what,
             s.B, s.T, s.H, s.hd);
    test_close(t, name, got, want, n, tolerance_for(want, n), 1e-5);
    free(got);
    free(want);
}

/* Forward and backward against the reference; with `twice`, runs both again
 * and requires identical bytes in every output and in the saved block. */
static void check_against_reference(test_context *t, duo_attention_shape s, bool twice)
{
    size_t n = s.B * s.T * s.H * s.hd, bytes = n * sizeof(float);
    float *q = test_malloc(bytes + 1), *k = test_malloc(bytes + 1), *v = test_malloc(bytes + 1);
    float *dy = test_malloc(bytes + 1);
    test_fill(t, q, n, -1, 1);
    test_fill(t, k, n, -1, 1);
    test_fill(t, v, n, -1, 1);
    test_fill(t, dy, n, -1, 1);
    double *q64 = to_double(q, n), *k64 = to_double(k, n), *v64 = to_double(v, n);
    double *dy64 = to_double(dy, n), *y64 = to_double(q, n);
    double *dq64 = to_double(q, n), *dk64 = to_double(q, n), *dv64 = to_double(q, n);
    ref_attention_forward(y64, q64, k64, v64, s.B, s.T, s.H, s.hd);
    ref_attention_backward(dq64, dk64, dv64, dy64, q64, k64, v64, s.B, s.T, s.H, s.hd);

    device_problem p = device_problem_create(t, s, q, k, v, dy);
    if (forward(t, &p) && backward(t, &p)) {
        compare(t, "forward", s, p.y, y64);
        compare(t, "backward_dq", s, p.dq, dq64);
        compare(t, "backward_dk", s, p.dk, dk64);
        compare(t, "backward_dv", s, p.dv, dv64);
    }
    if (twice) {
        size_t saved_bytes = duo_attention_fused_saved_floats(s) * sizeof(float);
        cl_mem *outputs[] = {&p.y, &p.dq, &p.dk, &p.dv, &p.saved};
        const char *names[] = {"y", "dq", "dk", "dv", "saved"};
        void *first[5];
        for (int i = 0; i < 5; i++) {
            size_t size = i == 4 ? saved_bytes : bytes;
            first[i] = test_malloc(size + 1);
            test_download(t, *outputs[i], first[i], size);
        }
        if (forward(t, &p) && backward(t, &p))
            for (int i = 0; i < 5; i++) {
                size_t size = i == 4 ? saved_bytes : bytes;
                void *second = test_malloc(size + 1);
                test_download(t, *outputs[i], second, size);
                char name[96];
                snprintf(name, sizeof name, "attention_fused_is_deterministic_%s_t%zu_hd%zu",
                         names[i], s.T, s.hd);
                test_same_bytes(t, name, first[i], second, size);
                free(second);
            }
        for (int i = 0; i < 5; i++)
            free(first[i]);
    }
    device_problem_release(&p);
    free(q), free(k), free(v), free(dy);
    free(q64), free(k64), free(v64), free(dy64), free(y64), free(dq64), free(dk64), free(dv64);
}

/* Huge keys and values at positions after `cut` must not change any output
 * row at or before `cut` by a single bit. */
static void check_causality(test_context *t, duo_attention_shape s, size_t cut)
{
    size_t n = s.B * s.T * s.H * s.hd, d = s.H * s.hd, bytes = n * sizeof(float);
    float *q = test_malloc(bytes + 1), *k = test_malloc(bytes + 1), *v = test_malloc(bytes + 1);
    float *before = test_malloc(bytes + 1), *after = test_malloc(bytes + 1);
    test_fill(t, q, n, -1, 1);
    test_fill(t, k, n, -1, 1);
    test_fill(t, v, n, -1, 1);
    device_problem p = device_problem_create(t, s, q, k, v, q);
    bool ran = forward(t, &p);
    if (ran)
        test_download(t, p.y, before, bytes);
    for (size_t b = 0; b < s.B; b++)
        for (size_t i = (b * s.T + cut + 1) * d; i < (b + 1) * s.T * d; i++) {
            k[i] = 1e30f;
            v[i] = -1e30f;
        }
    ran = ran && test_ok(t, "upload k", duo_buffer_write(t->rt, p.k, 0, bytes, k)) &&
          test_ok(t, "upload v", duo_buffer_write(t->rt, p.v, 0, bytes, v)) && forward(t, &p);
    if (ran) {
        test_download(t, p.y, after, bytes);
        bool same = true;
        for (size_t b = 0; b < s.B; b++)
            same = same && memcmp(before + b * s.T * d, after + b * s.T * d,
                                  (cut + 1) * d * sizeof(float)) == 0;
        char name[96];
        snprintf(name, sizeof name, "attention_fused_forward_ignores_future_keys_t%zu_cut%zu", s.T,
                 cut);
        test_true(t, name, same,
                  same ? "rows up to the cut are identical bytes"
                       : "a row up to the cut changed when only later keys and values did");
    }
    device_problem_release(&p);
    free(q), free(k), free(v), free(before), free(after);
}

/* The saved block is linear in T: 4 tensors and one float per row and head. */
static void check_sizes(test_context *t)
{
    duo_attention_shape s = {.B = 3, .T = 129, .H = 2, .hd = 24};
    size_t n = 3 * 129 * 2 * 24;
    bool ok = duo_attention_fused_saved_floats(s) == 4 * n + 3 * 2 * 129 &&
              duo_attention_fused_scratch_floats(s) == 3 * 2 * 129;
    test_true(t, "attention_fused_saved_and_scratch_are_linear_in_t", ok,
              ok ? "saved 4n + B*H*T, scratch B*H*T" : "unexpected saved or scratch size");
    char why[256];
    bool refused = duo_attention_fused_tile(t->rt, 130, why, sizeof why) == 0;
    test_true(t, "attention_fused_refuses_head_dim_130", refused && strstr(why, "130") != NULL,
              refused ? why : "a tile was offered for head dim 130");
}

static void run(test_context *t)
{
    size_t tile = duo_attention_fused_tile(t->rt, 64, NULL, 0);
    printf("tile %zu positions at head dim 64\n", tile);
    check_sizes(t);
    if (t->small) {
        check_against_reference(t, (duo_attention_shape){1, 1, 1, 16}, false);
        check_against_reference(t, (duo_attention_shape){2, 7, 2, 24}, true);
        check_against_reference(t, (duo_attention_shape){1, 7, 2, 2}, false);
        check_against_reference(t, (duo_attention_shape){1, 5, 1, 128}, false);
        check_causality(t, (duo_attention_shape){1, 7, 1, 16}, 3);
        /* Three tiles of 32 (oclgrind's), the last of one position. */
        check_against_reference(t, (duo_attention_shape){1, 65, 2, 16}, false);
        check_against_reference(t, (duo_attention_shape){1, 33, 1, 64}, false);
        return;
    }
    static const size_t Ts[] = {1, 7, 65, 129};
    static const size_t hds[] = {16, 32, 64, 128, 2, 24, 48};
    for (size_t a = 0; a < sizeof Ts / sizeof Ts[0]; a++)
        for (size_t c = 0; c < sizeof hds / sizeof hds[0]; c++) {
            size_t B = 2 + (a + c) % 2, H = 2 + c % 3;
            check_against_reference(t, (duo_attention_shape){B, Ts[a], H, hds[c]},
                                    Ts[a] == 129 && hds[c] == 64);
        }
    /* The model's shape at a smaller batch, and a last tile of 44. */
    check_against_reference(t, (duo_attention_shape){2, 256, 4, 64}, true);
    check_against_reference(t, (duo_attention_shape){1, 300, 2, 64}, false);
    check_causality(t, (duo_attention_shape){2, 129, 3, 24}, 64);
    check_causality(t, (duo_attention_shape){1, 200, 2, 128}, 100);
}

int main(int argc, char **argv) { return test_main(argc, argv, "op_attention_fused", run); }
