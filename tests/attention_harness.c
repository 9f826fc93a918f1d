/* The attention tests' shared harness: see attention_harness.h. */
#include "attention_harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref/attention_ref.h"

double *attention_to_double(const float *x, size_t n)
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

/* Device buffers for one shape; outputs, saved and scratch start as NaN. */
typedef struct device_problem {
    const attention_path *path;
    duo_attention_shape s;
    size_t n;
    cl_mem q, k, v, dy, y, dq, dk, dv, saved, scratch;
} device_problem;

static device_problem device_problem_create(test_context *t, const attention_path *path,
                                            duo_attention_shape s, const float *q, const float *k,
                                            const float *v, const float *dy)
{
    device_problem p = {.path = path, .s = s, .n = s.B * s.T * s.H * s.hd};
    size_t bytes = p.n * sizeof(float);
    p.q = test_upload(t, q, bytes);
    p.k = test_upload(t, k, bytes);
    p.v = test_upload(t, v, bytes);
    p.dy = test_upload(t, dy, bytes);
    p.y = test_alloc(t, bytes);
    p.dq = test_alloc(t, bytes);
    p.dk = test_alloc(t, bytes);
    p.dv = test_alloc(t, bytes);
    p.saved = test_alloc(t, path->saved_floats(s) * sizeof(float));
    p.scratch = test_alloc(t, path->scratch_floats(s) * sizeof(float));
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
    char name[64];
    snprintf(name, sizeof name, "%s_forward", p->path->name);
    return test_ok(t, name,
                   p->path->forward(t->rt, p->s, p->y, p->saved, p->scratch, p->q, p->k, p->v));
}

static bool backward(test_context *t, device_problem *p)
{
    char name[64];
    snprintf(name, sizeof name, "%s_backward", p->path->name);
    return test_ok(t, name,
                   p->path->backward(t->rt, p->s, p->dq, p->dk, p->dv, p->scratch, p->dy,
                                     p->saved));
}

static void compare(test_context *t, const device_problem *p, const char *what, cl_mem buffer,
                    const double *want64)
{
    duo_attention_shape s = p->s;
    float *got = test_malloc(p->n * sizeof *got + 1), *want = test_malloc(p->n * sizeof *want + 1);
    test_download(t, buffer, got, p->n * sizeof *got);
    for (size_t i = 0; i < p->n; i++)
        want[i] = (float)want64[i];
    char name[128];
    snprintf(name, sizeof name, "%s_%s_matches_reference_b%zu_t%zu_h%zu_hd%zu", p->path->name,
             what, s.B, s.T, s.H, s.hd);
    test_close(t, name, got, want, p->n, tolerance_for(want, p->n), 1e-5);
    free(got);
    free(want);
}

/* Runs forward and backward again and requires identical bytes in every
 * output and in the saved block. */
static void check_determinism(test_context *t, device_problem *p)
{
    size_t bytes = p->n * sizeof(float), saved_bytes = p->path->saved_floats(p->s) * sizeof(float);
    cl_mem *outputs[] = {&p->y, &p->dq, &p->dk, &p->dv, &p->saved};
    const char *names[] = {"y", "dq", "dk", "dv", "saved"};
    void *first[5];
    for (int i = 0; i < 5; i++) {
        size_t size = i == 4 ? saved_bytes : bytes;
        first[i] = test_malloc(size + 1);
        test_download(t, *outputs[i], first[i], size);
    }
    if (forward(t, p) && backward(t, p))
        for (int i = 0; i < 5; i++) {
            size_t size = i == 4 ? saved_bytes : bytes;
            void *second = test_malloc(size + 1);
            test_download(t, *outputs[i], second, size);
            char name[128];
            snprintf(name, sizeof name, "%s_is_deterministic_%s_t%zu_hd%zu", p->path->name,
                     names[i], p->s.T, p->s.hd);
            test_same_bytes(t, name, first[i], second, size);
            free(second);
        }
    for (int i = 0; i < 5; i++)
        free(first[i]);
}

void attention_check_against_reference(test_context *t, const attention_path *path,
                                       duo_attention_shape s, bool twice)
{
    size_t n = s.B * s.T * s.H * s.hd, bytes = n * sizeof(float);
    float *q = test_malloc(bytes + 1), *k = test_malloc(bytes + 1), *v = test_malloc(bytes + 1);
    float *dy = test_malloc(bytes + 1);
    test_fill(t, q, n, -1, 1);
    test_fill(t, k, n, -1, 1);
    test_fill(t, v, n, -1, 1);
    test_fill(t, dy, n, -1, 1);
    double *q64 = attention_to_double(q, n), *k64 = attention_to_double(k, n);
    double *v64 = attention_to_double(v, n), *dy64 = attention_to_double(dy, n);
    double *y64 = attention_to_double(q, n), *dq64 = attention_to_double(q, n);
    double *dk64 = attention_to_double(q, n), *dv64 = attention_to_double(q, n);
    ref_attention_forward(y64, q64, k64, v64, s.B, s.T, s.H, s.hd);
    ref_attention_backward(dq64, dk64, dv64, dy64, q64, k64, v64, s.B, s.T, s.H, s.hd);

    device_problem p = device_problem_create(t, path, s, q, k, v, dy);
    if (forward(t, &p) && backward(t, &p)) {
        compare(t, &p, "forward", p.y, y64);
        compare(t, &p, "backward_dq", p.dq, dq64);
        compare(t, &p, "backward_dk", p.dk, dk64);
        compare(t, &p, "backward_dv", p.dv, dv64);
    }
    if (twice)
        check_determinism(t, &p);
    device_problem_release(&p);
    free(q), free(k), free(v), free(dy);
    free(q64), free(k64), free(v64), free(dy64), free(y64), free(dq64), free(dk64), free(dv64);
}

/* Masked scores are never read and masked probabilities are exactly zero, so
 * not a single bit of a row up to the cut may change. */
void attention_check_causality(test_context *t, const attention_path *path, duo_attention_shape s,
                               size_t cut)
{
    size_t n = s.B * s.T * s.H * s.hd, d = s.H * s.hd, bytes = n * sizeof(float);
    float *q = test_malloc(bytes + 1), *k = test_malloc(bytes + 1), *v = test_malloc(bytes + 1);
    float *before = test_malloc(bytes + 1), *after = test_malloc(bytes + 1);
    test_fill(t, q, n, -1, 1);
    test_fill(t, k, n, -1, 1);
    test_fill(t, v, n, -1, 1);
    device_problem p = device_problem_create(t, path, s, q, k, v, q);
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
        char name[128];
        snprintf(name, sizeof name, "%s_forward_ignores_future_keys_t%zu_cut%zu", path->name, s.T,
                 cut);
        test_true(t, name, same,
                  same ? "rows up to the cut are identical bytes"
                       : "a row up to the cut changed when only later keys and values did");
    }
    device_problem_release(&p);
    free(q), free(k), free(v), free(before), free(after);
}
