/* GEMM self-test: CLBlast or the built-in GEMM on the device against a
 * double-precision C loop. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "duocl/selftest.h"
#include "gemm.h"
#include "base/rng.h"

/* Relative to sum |a||b| per entry: fp32 accumulation over k terms stays far
 * below this; a wrong tile or transpose gives errors of order 1. */
static const double GEMM_TOLERANCE = 1e-5;

typedef struct gemm_case {
    size_t m, n, k, batch;
    int ta, tb;
} gemm_case;

/* op(X)[r][c] of a row-major matrix with leading dimension ld. */
static float element(const float *x, size_t ld, int transposed, size_t r, size_t c)
{
    return transposed ? x[c * ld + r] : x[r * ld + c];
}

static duo_status run_case(duo_runtime *rt, const gemm_case *g, duo_rng *rng, double *error)
{
    size_t a_rows = g->ta ? g->k : g->m, a_cols = g->ta ? g->m : g->k;
    size_t b_rows = g->tb ? g->n : g->k, b_cols = g->tb ? g->k : g->n;
    /* Leading dimensions one wider than needed, so ld != cols is exercised. */
    size_t lda = a_cols + 1, ldb = b_cols + 1, ldc = g->n + 1;
    size_t a_size = a_rows * lda, b_size = b_rows * ldb, c_size = g->m * ldc;
    size_t na = a_size * g->batch, nb = b_size * g->batch, nc = c_size * g->batch;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
    float *c = malloc(nc * sizeof *c), *out = malloc(nc * sizeof *out);
    cl_mem da = NULL, db = NULL, dc = NULL;
    duo_status st = DUO_OK;
    if (!a || !b || !c || !out) {
        st = duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory in the GEMM self-test");
        goto done;
    }
    for (size_t i = 0; i < na; i++) a[i] = duo_rng_range(rng, -1, 1);
    for (size_t i = 0; i < nb; i++) b[i] = duo_rng_range(rng, -1, 1);
    for (size_t i = 0; i < nc; i++) c[i] = duo_rng_range(rng, -1, 1);
    const float alpha = 0.75f, beta = 0.5f;

    if ((st = duo_buffer_create(rt, na * sizeof(float), &da)) != DUO_OK ||
        (st = duo_buffer_create(rt, nb * sizeof(float), &db)) != DUO_OK ||
        (st = duo_buffer_create(rt, nc * sizeof(float), &dc)) != DUO_OK ||
        (st = duo_buffer_write(rt, da, 0, na * sizeof(float), a)) != DUO_OK ||
        (st = duo_buffer_write(rt, db, 0, nb * sizeof(float), b)) != DUO_OK ||
        (st = duo_buffer_write(rt, dc, 0, nc * sizeof(float), c)) != DUO_OK)
        goto done;
    duo_matrix ma = {da, 0, lda, g->ta}, mb = {db, 0, ldb, g->tb}, mc = {dc, 0, ldc, false};
    if (g->batch == 1)
        st = duo_gemm(rt, g->m, g->n, g->k, alpha, ma, mb, beta, mc);
    else
        st = duo_gemm_strided_batched(rt, g->m, g->n, g->k, alpha, ma, a_size, mb, b_size, beta, mc,
                                      c_size, g->batch);
    if (st != DUO_OK || (st = duo_buffer_read(rt, dc, 0, nc * sizeof(float), out)) != DUO_OK)
        goto done;

    double worst = 0;
    for (size_t p = 0; p < g->batch; p++)
        for (size_t i = 0; i < g->m; i++)
            for (size_t j = 0; j < g->n; j++) {
                double sum = 0, scale = 0;
                for (size_t l = 0; l < g->k; l++) {
                    double x = element(a + p * a_size, lda, g->ta, i, l);
                    double y = element(b + p * b_size, ldb, g->tb, l, j);
                    sum += x * y;
                    scale += fabs(x * y);
                }
                size_t at = p * c_size + i * ldc + j;
                double want = alpha * sum + beta * c[at];
                double e = fabs(out[at] - want) / (fabs(alpha) * scale + fabs(beta * c[at]) + 1e-30);
                if (!(e <= worst)) /* also catches NaN */
                    worst = isnan(e) ? INFINITY : e;
            }
    *error = worst;
done:
    duo_buffer_release(&da);
    duo_buffer_release(&db);
    duo_buffer_release(&dc);
    free(a);
    free(b);
    free(c);
    free(out);
    return st;
}

duo_status duo_selftest_gemm(duo_runtime *rt, duo_selftest_result *result)
{
    static const size_t shapes[][4] = {
        /* m, n, k, batch */
        {1, 1, 1, 1},    {37, 1, 37, 1},  {1, 37, 5, 1},    {37, 37, 37, 1},
        {64, 100, 48, 1}, {129, 37, 256, 1}, {7, 37, 16, 3}, {37, 1, 24, 4},
        {5, 3, 0, 1}, /* k = 0: C = beta * C, done on the host side */
    };
    duo_rng rng = duo_rng_seeded(20241014);
    result->cases = 0;
    result->failed = 0;
    result->max_error = 0;
    result->tolerance = GEMM_TOLERANCE;
    result->worst_case[0] = '\0';
    snprintf(result->gemm, sizeof result->gemm, "%s", duo_gemm_kind_name(rt->gemm));
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 4; t++) {
            gemm_case g = {shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], t & 1, t >> 1};
            double error = 0;
            duo_status st = run_case(rt, &g, &rng, &error);
            if (st != DUO_OK)
                return duo_fail_context(st, "GEMM self-test m=%zu n=%zu k=%zu batch=%zu", g.m, g.n,
                                        g.k, g.batch);
            result->cases++;
            if (error > GEMM_TOLERANCE)
                result->failed++;
            if (error >= result->max_error) {
                result->max_error = error;
                snprintf(result->worst_case, sizeof result->worst_case,
                         "m=%zu n=%zu k=%zu batch=%zu %s %s", g.m, g.n, g.k, g.batch,
                         g.ta ? "A^T" : "A", g.tb ? "B^T" : "B");
            }
        }
    if (result->failed)
        return duo_fail(DUO_ERR_NUMERIC,
                        "GEMM self-test failed: %d of %d cases exceed the tolerance %.1e; worst "
                        "%.3e at %s. %s gives wrong results on this device",
                        result->failed, result->cases, GEMM_TOLERANCE, result->max_error,
                        result->worst_case,
                        rt->gemm == DUO_GEMM_BUILTIN ? "The built-in GEMM" : "CLBlast");
    return DUO_OK;
}

duo_status duo_selftest_gemm_with(duo_runtime *rt, duo_gemm_kind kind, duo_selftest_result *result)
{
    duo_gemm_kind own;
    DUO_TRY(duo_gemm_use(rt, kind, &own));
    duo_status st = duo_selftest_gemm(rt, result);
    duo_gemm_use(rt, own, NULL);
    return st;
}
