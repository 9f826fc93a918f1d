/* The built-in GEMM (kernels/gemm.cl through duo_gemm) against a double
 * C loop: every transpose pair, sizes 1 and 37 and sizes that are not
 * multiples of the profile's tiles, k longer than its k block, batched with
 * strides, offsets and leading dimensions wider than the rows, alpha and beta
 * (beta 0 must not read C: NaN there stays out). The error of an element is
 * |got - want| / (|alpha| sum |a||b| + |beta c|): fp32 accumulation over k
 * terms stays far below the tolerance 1e-5; a wrong tile, transpose or edge
 * gives errors of order 1. The same call twice gives the same bits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/gemm.h"
#include "testutil.h"

static const double TOLERANCE = 1e-5;

typedef struct gemm_case {
    size_t m, n, k, batch;
    bool ta, tb;
    float alpha, beta;
} gemm_case;

static float element(const float *x, size_t ld, bool transposed, size_t r, size_t c)
{
    return transposed ? x[c * ld + r] : x[r * ld + c];
}

static void check_case(test_context *t, const gemm_case *g)
{
    /* A few floats before each matrix (the offsets) and one spare column. */
    const size_t offset = 3;
    size_t a_rows = g->ta ? g->k : g->m, a_cols = g->ta ? g->m : g->k;
    size_t b_rows = g->tb ? g->n : g->k, b_cols = g->tb ? g->k : g->n;
    size_t lda = a_cols + 1, ldb = b_cols + 1, ldc = g->n + 1;
    size_t sa = a_rows * lda, sb = b_rows * ldb, sc = g->m * ldc;
    size_t na = offset + sa * g->batch, nb = offset + sb * g->batch, nc = offset + sc * g->batch;
    float *a = test_malloc(na * sizeof *a), *b = test_malloc(nb * sizeof *b);
    float *c = test_malloc(nc * sizeof *c), *got = test_malloc(nc * sizeof *got);
    float *again = test_malloc(nc * sizeof *again);
    test_fill(t, a, na, -1, 1);
    test_fill(t, b, nb, -1, 1);
    test_fill(t, c, nc, -1, 1);
    if (g->beta == 0.0f)
        for (size_t i = 0; i < nc; i++)
            c[i] = NAN;
    cl_mem da = test_upload(t, a, na * sizeof *a), db = test_upload(t, b, nb * sizeof *b);
    cl_mem dc = test_upload(t, c, nc * sizeof *c);
    duo_matrix ma = {da, offset, lda, g->ta}, mb = {db, offset, ldb, g->tb};
    duo_matrix mc = {dc, offset, ldc, false};
    char name[160];
    snprintf(name, sizeof name, "gemm_%c%c_matches_reference_m%zu_n%zu_k%zu_batch%zu%s",
             g->ta ? 't' : 'n', g->tb ? 't' : 'n', g->m, g->n, g->k, g->batch,
             g->beta == 0.0f ? "_beta0" : "");
    duo_status st = g->batch == 1
                        ? duo_gemm(t->rt, g->m, g->n, g->k, g->alpha, ma, mb, g->beta, mc)
                        : duo_gemm_strided_batched(t->rt, g->m, g->n, g->k, g->alpha, ma, sa, mb,
                                                   sb, g->beta, mc, sc, g->batch);
    if (test_ok(t, name, st)) {
        test_download(t, dc, got, nc * sizeof *got);
        double worst = 0;
        size_t at = 0;
        for (size_t p = 0; p < g->batch; p++)
            for (size_t i = 0; i < g->m; i++)
                for (size_t j = 0; j < g->n; j++) {
                    double sum = 0, scale = 0;
                    for (size_t l = 0; l < g->k; l++) {
                        double x = element(a + offset + p * sa, lda, g->ta, i, l);
                        double y = element(b + offset + p * sb, ldb, g->tb, l, j);
                        sum += x * y;
                        scale += fabs(x * y);
                    }
                    size_t e = offset + p * sc + i * ldc + j;
                    double old = g->beta == 0.0f ? 0 : c[e];
                    double want = g->alpha * sum + g->beta * old;
                    double error = fabs(got[e] - want) /
                                   (fabs(g->alpha) * scale + fabs(g->beta * old) + 1e-30);
                    if (!(error <= worst)) { /* NaN too */
                        worst = isnan(error) ? INFINITY : error;
                        at = e;
                    }
                }
        /* What lies outside C (offset, the spare column) is untouched. */
        bool untouched = true;
        for (size_t e = 0; e < nc; e++) {
            bool inside = e >= offset && (e - offset) % sc / ldc < g->m &&
                          (e - offset) % sc % ldc < g->n;
            if (!inside && memcmp(&got[e], &c[e], sizeof *got) != 0)
                untouched = false;
        }
        char detail[160], other[200];
        snprintf(detail, sizeof detail, "worst relative error %.3g at [%zu] (tolerance %.0e)",
                 worst, at, TOLERANCE);
        test_true(t, name, worst <= TOLERANCE, detail);
        snprintf(other, sizeof other, "%s_leaves_the_rest", name);
        test_true(t, other, untouched, "an element outside C (offset, spare column) changed");

        /* The same call on the same inputs: the same bits. */
        snprintf(other, sizeof other, "%s_deterministic", name);
        st = duo_buffer_write(t->rt, dc, 0, nc * sizeof *c, c);
        if (st == DUO_OK)
            st = g->batch == 1 ? duo_gemm(t->rt, g->m, g->n, g->k, g->alpha, ma, mb, g->beta, mc)
                               : duo_gemm_strided_batched(t->rt, g->m, g->n, g->k, g->alpha, ma,
                                                          sa, mb, sb, g->beta, mc, sc, g->batch);
        if (test_ok(t, other, st)) {
            test_download(t, dc, again, nc * sizeof *again);
            test_same_bytes(t, other, got, again, nc * sizeof *got);
        }
    }
    duo_buffer_release(&da);
    duo_buffer_release(&db);
    duo_buffer_release(&dc);
    free(a);
    free(b);
    free(c);
    free(got);
    free(again);
}

static void run(test_context *t)
{
    if (!test_ok(t, "use the built-in GEMM", duo_gemm_use(t->rt, DUO_GEMM_BUILTIN, NULL)))
        return;
    /* m, n, k, batch: 1 and 37, edges of every tile, k past the k block. */
    static const size_t full[][4] = {
        {1, 1, 1, 1},     {37, 1, 37, 1},    {1, 37, 5, 1},   {37, 37, 37, 1},
        {64, 100, 48, 1}, {129, 37, 300, 1}, {7, 37, 16, 3},  {37, 1, 24, 4},
        {5, 3, 0, 1},     {256, 256, 64, 1}, {33, 65, 513, 2},
    };
    static const size_t small[][4] = {
        {1, 1, 1, 1}, {37, 1, 37, 1}, {1, 37, 5, 1}, {13, 37, 37, 1}, {7, 9, 20, 2}, {5, 3, 0, 1},
    };
    size_t count = t->small ? sizeof small / sizeof small[0] : sizeof full / sizeof full[0];
    for (size_t s = 0; s < count; s++) {
        const size_t *d = t->small ? small[s] : full[s];
        for (int tr = 0; tr < 4; tr++) {
            gemm_case g = {d[0], d[1], d[2], d[3], tr & 1, tr >> 1, 0.75f, 0.5f};
            check_case(t, &g);
        }
    }
    gemm_case beta0 = {37, 37, 37, 2, false, true, 1.0f, 0.0f};
    check_case(t, &beta0);
}

int main(int argc, char **argv) { return test_main(argc, argv, "op_gemm", run); }
