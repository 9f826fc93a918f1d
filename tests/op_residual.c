/* residual.cl against its C reference at sizes that are not multiples of the
 * work-group size. residual_add is one rounding per element and must match
 * exactly; scaled_add may be contracted to an FMA by the device compiler (OpenCL
 * allows it), which differs from the separate multiply and add by at most one
 * rounding of the product (|alpha x| < 1 here): atol and rtol 2.5e-7. */
#include <stdio.h>
#include <stdlib.h>

#include "ops/residual.h"
#include "ref/residual_ref.h"
#include "testutil.h"

static void check_size(test_context *t, size_t n)
{
    float *a = test_malloc(n * sizeof *a), *b = test_malloc(n * sizeof *b);
    float *want = test_malloc(n * sizeof *want), *got = test_malloc(n * sizeof *got);
    test_fill(t, a, n, -2, 2);
    test_fill(t, b, n, -2, 2);
    cl_mem da = test_upload(t, a, n * sizeof *a), db = test_upload(t, b, n * sizeof *b);
    cl_mem dout = test_alloc(t, n * sizeof *got);
    char name[64];

    ref_residual_add(want, a, b, n);
    if (test_ok(t, "residual_add", duo_residual_add(t->rt, dout, da, db, n))) {
        test_download(t, dout, got, n * sizeof *got);
        snprintf(name, sizeof name, "residual_add_matches_reference_n%zu", n);
        test_close(t, name, got, want, n, 0, 0);
    }

    /* In place: y = a, y += -0.37 b. */
    ref_scaled_add(a, b, -0.37f, n);
    if (test_ok(t, "scaled_add", duo_scaled_add(t->rt, da, db, -0.37f, n))) {
        test_download(t, da, got, n * sizeof *got);
        snprintf(name, sizeof name, "scaled_add_matches_reference_n%zu", n);
        test_close(t, name, got, a, n, 2.5e-7, 2.5e-7);
    }
    duo_buffer_release(&da);
    duo_buffer_release(&db);
    duo_buffer_release(&dout);
    free(a);
    free(b);
    free(want);
    free(got);
}

static void run(test_context *t)
{
    const size_t sizes[] = {1, 7, 129, 48 * 129, 100 * 257};
    size_t count = t->small ? 3 : 5;
    for (size_t i = 0; i < count; i++)
        check_size(t, sizes[i]);
}

int main(int argc, char **argv) { return test_main(argc, argv, "op_residual", run); }
