/* embedding.cl against its C reference, the CSR builder, finite differences
 * and determinism, at sizes that are not multiples of the work-group size,
 * with vocabularies where tokens repeat (a third of the positions share three
 * tokens).
 *
 * Tolerances: the forward is a copy and must match exactly. The backward adds
 * k gradient rows of one token in float, in position order, then adds the sum
 * to dtable; the reference sums in double and rounds once. Float summation of
 * k terms errs by at most (k - 1) u sum|terms| (u = 2^-24), and the final +=
 * by u |result|; with |dout| < 1 that is below k^2 u, so atol = (K^2 + 1) u
 * with K the largest count in the batch, and rtol = u. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/embedding.h"
#include "ref/embedding_ref.h"
#include "testutil.h"

static const double unit_roundoff = 5.9604644775390625e-08; /* 2^-24 */

/* Tokens in [0, vocab) where a third of the positions use one of three
 * tokens, so segments of several positions (and empty ones) both occur. */
static int *random_tokens(test_context *t, size_t n, int vocab)
{
    int *tokens = test_malloc(n * sizeof *tokens);
    const int hot[3] = {0, vocab / 2, vocab - 1};
    for (size_t i = 0; i < n; i++)
        tokens[i] = duo_rng_below(&t->rng, 3) == 0 ? hot[duo_rng_below(&t->rng, 3)]
                                                   : (int)duo_rng_below(&t->rng, (uint64_t)vocab);
    return tokens;
}

static int largest_count(const int *offsets, int vocab)
{
    int most = 0;
    for (int v = 0; v < vocab; v++)
        if (offsets[v + 1] - offsets[v] > most)
            most = offsets[v + 1] - offsets[v];
    return most;
}

static void check_size(test_context *t, size_t n, size_t c, int vocab)
{
    size_t tsize = (size_t)vocab * c, osize = n * c;
    float *table = test_malloc(tsize * sizeof *table), *dtable = test_malloc(tsize * sizeof *dtable);
    float *dout = test_malloc(osize * sizeof *dout);
    float *want = test_malloc((tsize > osize ? tsize : osize) * sizeof *want);
    float *got = test_malloc(tsize * sizeof *got), *again = test_malloc(tsize * sizeof *again);
    int *tokens = random_tokens(t, n, vocab);
    int *offsets = test_malloc(((size_t)vocab + 1) * sizeof *offsets);
    int *positions = test_malloc(n * sizeof *positions);
    test_fill(t, table, tsize, -1, 1);
    test_fill(t, dtable, tsize, -1, 1);
    test_fill(t, dout, osize, -1, 1);
    char name[96];

    cl_mem d_table = test_upload(t, table, tsize * sizeof *table);
    cl_mem d_tokens = test_upload(t, tokens, n * sizeof *tokens);
    cl_mem d_out = test_alloc(t, osize * sizeof *got);
    ref_embedding_forward(want, table, tokens, n, c);
    if (test_ok(t, "embedding_forward", duo_embedding_forward(t->rt, d_out, d_table, d_tokens, n, c, vocab))) {
        float *out = test_malloc(osize * sizeof *out);
        test_download(t, d_out, out, osize * sizeof *out);
        snprintf(name, sizeof name, "embedding_forward_matches_reference_n%zu_c%zu_v%d", n, c, vocab);
        test_close(t, name, out, want, osize, 0, 0);
        free(out);
    }

    if (test_ok(t, "embedding CSR", duo_embedding_csr_build(tokens, n, vocab, offsets, positions))) {
        cl_mem d_offsets = test_upload(t, offsets, ((size_t)vocab + 1) * sizeof *offsets);
        cl_mem d_positions = test_upload(t, positions, n * sizeof *positions);
        cl_mem d_dout = test_upload(t, dout, osize * sizeof *dout);
        cl_mem d_dtable = test_upload(t, dtable, tsize * sizeof *dtable);
        memcpy(want, dtable, tsize * sizeof *want);
        ref_embedding_backward(want, dout, tokens, n, c, vocab);
        int most = largest_count(offsets, vocab);
        if (test_ok(t, "embedding_backward",
                    duo_embedding_backward(t->rt, d_dtable, d_dout, d_offsets, d_positions, vocab, c))) {
            test_download(t, d_dtable, got, tsize * sizeof *got);
            snprintf(name, sizeof name, "embedding_backward_matches_reference_n%zu_c%zu_v%d", n, c, vocab);
            test_close(t, name, got, want, tsize, ((double)most * most + 1) * unit_roundoff,
                       unit_roundoff);
        }
        /* Same inputs, same bits: accumulate again from the same start. */
        duo_buffer_write(t->rt, d_dtable, 0, tsize * sizeof *dtable, dtable);
        if (test_ok(t, "embedding_backward again",
                    duo_embedding_backward(t->rt, d_dtable, d_dout, d_offsets, d_positions, vocab, c))) {
            test_download(t, d_dtable, again, tsize * sizeof *again);
            snprintf(name, sizeof name, "embedding_backward_deterministic_n%zu_c%zu_v%d", n, c, vocab);
            test_same_bytes(t, name, got, again, tsize * sizeof *got);
        }
        duo_buffer_release(&d_offsets);
        duo_buffer_release(&d_positions);
        duo_buffer_release(&d_dout);
        duo_buffer_release(&d_dtable);
    }
    duo_buffer_release(&d_table);
    duo_buffer_release(&d_tokens);
    duo_buffer_release(&d_out);
    free(table);
    free(dtable);
    free(dout);
    free(want);
    free(got);
    free(again);
    free(tokens);
    free(offsets);
    free(positions);
}

/* The CSR lists each token's positions in increasing order, covers every
 * position once, and rejects an out-of-range token by position and value. */
static void check_csr(test_context *t)
{
    const int tokens[] = {2, 0, 2, 4, 2, 0};
    int offsets[6], positions[6];
    const int want_offsets[] = {0, 2, 2, 5, 5, 6}, want_positions[] = {1, 5, 0, 2, 4, 3};
    bool ok = duo_embedding_csr_build(tokens, 6, 5, offsets, positions) == DUO_OK &&
              memcmp(offsets, want_offsets, sizeof offsets) == 0 &&
              memcmp(positions, want_positions, sizeof positions) == 0;
    test_true(t, "embedding_csr_groups_positions_in_order", ok, "tokens 2 0 2 4 2 0, vocabulary 5");

    const int bad[] = {1, 0, 5, 1};
    duo_status st = duo_embedding_csr_build(bad, 4, 5, offsets, positions);
    char detail[256];
    snprintf(detail, sizeof detail, "%s: %s", duo_status_name(st), duo_last_error());
    test_true(t, "embedding_csr_rejects_token_out_of_range",
              st == DUO_ERR_INVALID_ARGUMENT && strstr(duo_last_error(), "position 2") &&
                  strstr(duo_last_error(), "token 5"),
              detail);
    const int negative[] = {-1};
    st = duo_embedding_csr_build(negative, 1, 5, offsets, positions);
    test_true(t, "embedding_csr_rejects_negative_token", st == DUO_ERR_INVALID_ARGUMENT,
              duo_last_error());
}

/* A token the device cannot read gives a NaN row rather than a wild read. */
static void check_forward_bad_token(test_context *t)
{
    const size_t c = 48;
    const int vocab = 37, tokens[3] = {3, vocab, -1};
    float *table = test_malloc((size_t)vocab * c * sizeof *table), out[3 * 48];
    test_fill(t, table, (size_t)vocab * c, -1, 1);
    cl_mem d_table = test_upload(t, table, (size_t)vocab * c * sizeof *table);
    cl_mem d_tokens = test_upload(t, tokens, sizeof tokens), d_out = test_alloc(t, sizeof out);
    if (test_ok(t, "embedding_forward bad token",
                duo_embedding_forward(t->rt, d_out, d_table, d_tokens, 3, c, vocab))) {
        test_download(t, d_out, out, sizeof out);
        bool ok = out[0] == table[3 * c] && out[c - 1] == table[4 * c - 1];
        for (size_t i = c; i < 3 * c; i++)
            ok = ok && isnan(out[i]);
        test_true(t, "embedding_forward_out_of_range_token_gives_nan_row", ok, "tokens 3, V, -1");
    }
    duo_buffer_release(&d_table);
    duo_buffer_release(&d_tokens);
    duo_buffer_release(&d_out);
    free(table);
}

/* L = sum(out * r) is linear in the table, so the central difference with a
 * power-of-two step (table + h exact for |table| < 1) is exact up to the
 * double sum: the reference backward with dout = r must match to 1e-6. */
static double loss(const float *table, const int *tokens, const float *r, size_t n, size_t c,
                   float *scratch)
{
    ref_embedding_forward(scratch, table, tokens, n, c);
    double sum = 0;
    for (size_t i = 0; i < n * c; i++)
        sum += (double)scratch[i] * r[i];
    return sum;
}

static void check_finite_differences(test_context *t, size_t n, size_t c, int vocab)
{
    size_t tsize = (size_t)vocab * c;
    float *table = test_malloc(tsize * sizeof *table), *r = test_malloc(n * c * sizeof *r);
    float *grad = test_malloc(tsize * sizeof *grad), *fd = test_malloc(tsize * sizeof *fd);
    float *scratch = test_malloc(n * c * sizeof *scratch);
    int *tokens = random_tokens(t, n, vocab);
    test_fill(t, table, tsize, -1, 1);
    test_fill(t, r, n * c, -1, 1);
    ref_embedding_backward(grad, r, tokens, n, c, vocab); /* grad starts at zero */
    const float h = 1.0f / 64;
    for (size_t i = 0; i < tsize; i++) {
        float keep = table[i];
        table[i] = keep + h;
        double plus = loss(table, tokens, r, n, c, scratch);
        table[i] = keep - h;
        double minus = loss(table, tokens, r, n, c, scratch);
        table[i] = keep;
        fd[i] = (float)((plus - minus) / (2.0 * h));
    }
    char name[96];
    snprintf(name, sizeof name, "embedding_reference_backward_matches_finite_differences_v%d", vocab);
    test_close(t, name, grad, fd, tsize, 1e-6, 1e-6);
    free(table);
    free(r);
    free(grad);
    free(fd);
    free(scratch);
    free(tokens);
}

static void run(test_context *t)
{
    check_csr(t);
    check_forward_bad_token(t);
    check_finite_differences(t, 7, 16, 11);
    check_size(t, 1, 48, 37);
    check_size(t, 7, 100, 37);
    if (t->small)
        return;
    check_finite_differences(t, 129, 48, 37);
    check_size(t, 129, 48, 37);
    check_size(t, 129, 256, 300);
    check_size(t, 1000, 100, 37); /* about 100 positions per hot token */
    check_size(t, 4096, 256, 256);
}

int main(int argc, char **argv) { return test_main(argc, argv, "op_embedding", run); }
