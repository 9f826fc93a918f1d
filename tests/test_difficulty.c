/* Token difficulty without a device: average ranks and Spearman's rho with
 * ties against hand-computed values, the top lists, an oracle_tokens.bin
 * written here byte by byte (the layout of 'duocl oracle') read back with its
 * statistics checked by hand and written again by the library's writer, byte
 * for byte the same, every kind of bad file (missing, wrong magic or
 * version, truncated at every length, trailing bytes, a NaN loss, a mask with
 * the wrong number of BIG layers), escaping of text, and contexts decoded
 * with the byte tokenizer. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "study/difficulty.h"
#include "unitcheck.h"

static char dir[256];

static void path_in(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", dir, name); }

static bool near(double a, double b) { return fabs(a - b) <= 1e-12 * (1 + fabs(b)); }

/* ---- ranks and correlation ---- */

static void average_ranks_share_ties(void)
{
    const float x[] = {5, 7, 7, 9}, same[] = {3, 3, 3};
    double r[4];
    unit_ok("ranks", duo_average_ranks(x, 4, r));
    unit_check("ranks_5_7_7_9", r[0] == 1 && r[1] == 2.5 && r[2] == 2.5 && r[3] == 4, "got %g %g %g %g, want 1 2.5 2.5 4",
               r[0], r[1], r[2], r[3]);
    unit_ok("ranks", duo_average_ranks(same, 3, r));
    unit_check("ranks_all_tied", r[0] == 2 && r[1] == 2 && r[2] == 2, "got %g %g %g, want 2 2 2", r[0], r[1], r[2]);
}

static void spearman_matches_hand_computed_values_with_ties(void)
{
    /* x ranks {1, 2.5, 2.5, 4, 5}, y ranks {2, 1, 3.5, 3.5, 5}; about the mean 3:
     * sum dx*dy = 2 + 1 - 0.25 + 0.5 + 4 = 7.25, sum dx^2 = sum dy^2 = 9.5. */
    const float x[] = {1, 2, 2, 3, 4}, y[] = {2, 1, 3, 3, 5};
    double rho;
    unit_ok("spearman", duo_spearman(x, y, 5, &rho));
    unit_check("spearman_with_ties", near(rho, 7.25 / 9.5), "got %.15f, want %.15f", rho, 7.25 / 9.5);
    const float up[] = {1, 5, 9, 10}, down[] = {4, 3, 2, -1}, flat[] = {2, 2, 2, 2};
    unit_ok("spearman", duo_spearman(up, up, 4, &rho));
    unit_check("spearman_monotone_is_1", near(rho, 1), "got %.15f", rho);
    unit_ok("spearman", duo_spearman(up, down, 4, &rho));
    unit_check("spearman_reversed_is_minus_1", near(rho, -1), "got %.15f", rho);
    unit_ok("spearman", duo_spearman(up, flat, 4, &rho));
    unit_check("spearman_constant_is_nan", isnan(rho), "got %.15f", rho);
    unit_ok("spearman", duo_spearman(up, up, 1, &rho));
    unit_check("spearman_one_value_is_nan", isnan(rho), "got %.15f", rho);
}

static void top_indices_break_ties_by_index(void)
{
    const float s[] = {1, 3, 3, 2, 3};
    uint64_t top[4];
    unit_ok("top", duo_top_indices(s, 5, 4, top));
    unit_check("top_4", top[0] == 1 && top[1] == 2 && top[2] == 4 && top[3] == 3, "got %llu %llu %llu %llu, want 1 2 4 3",
               (unsigned long long)top[0], (unsigned long long)top[1], (unsigned long long)top[2],
               (unsigned long long)top[3]);
    unit_fails("top_more_than_n", duo_top_indices(s, 5, 6, top), DUO_ERR_INVALID_ARGUMENT, "6", NULL);
    unit_check("decile_counts",
               duo_top_decile_count(1) == 1 && duo_top_decile_count(10) == 1 && duo_top_decile_count(11) == 2 &&
                   duo_top_decile_count(1024) == 103,
               "got %zu %zu %zu %zu, want 1 1 2 103", duo_top_decile_count(1), duo_top_decile_count(10),
               duo_top_decile_count(11), duo_top_decile_count(1024));
}

/* ---- a file written by hand ---- */

enum { L = 2, CTX = 3 };

typedef struct domain_spec {
    const char *name;
    uint64_t n_windows;
    uint32_t searched;
    const int32_t *windows;
    const float *small, *big;
    const float *oracle[L + 1];
    const uint32_t *mask[L + 1];
} domain_spec;

/* Domain "a": 2 windows, 6 tokens, budgets 0 and 1. Text "abcd" and "ef\ng". */
static const int32_t a_windows[] = {'a', 'b', 'c', 'd', 'e', 'f', '\n', 'g'};
static const float a_small[] = {4, 1, 3, 3, 2, 6};
static const float a_big[] = {1, 1, 1, 1, 1, 1};
static const float a_oracle1[] = {1, 1, 3, 2, 2, 0}; /* benefit {3, 0, 0, 1, 0, 6} */
static const uint32_t a_mask0[6] = {0};
static const uint32_t a_mask1[] = {1, 2, 1, 2, 1, 2};

/* Domain "b": 7 windows, 21 tokens, budgets 0, 1 and 2 (filled in main). */
static int32_t b_windows[7 * (CTX + 1)];
static float b_small[21], b_oracle1[21];
static const uint32_t b_mask0[21] = {0};
static uint32_t b_mask1[21], b_mask2[21];

static domain_spec spec_a(void)
{
    return (domain_spec){"a", 2, 0x3, a_windows, a_small, a_big, {a_small, a_oracle1, NULL},
                         {a_mask0, a_mask1, NULL}};
}

static domain_spec spec_b(void)
{
    return (domain_spec){"b", 7, 0x7, b_windows, b_small, b_small, {b_small, b_oracle1, b_small},
                         {b_mask0, b_mask1, b_mask2}};
}

static void fill_b(void)
{
    for (int i = 0; i < 7 * (CTX + 1); i++)
        b_windows[i] = 'A' + i % 26;
    /* loss_small = i / 10: the hardest three are 20, 19, 18. Benefit is zero
     * except 5 at 20, 4 at 3 and 3 at 18: top benefit {20, 3, 18}, so two of
     * the three hardest are among the three that gain most. */
    for (int i = 0; i < 21; i++) {
        b_small[i] = (float)i / 10;
        b_oracle1[i] = b_small[i];
        b_mask1[i] = 1u << (i % 2);
        b_mask2[i] = 3;
    }
    b_oracle1[20] = b_small[20] - 5;
    b_oracle1[3] = b_small[3] - 4;
    b_oracle1[18] = b_small[18] - 3;
}

/* The layout of study/oracle_tokens.h, written field by field. */
static void write_file(const char *path, uint32_t version, const domain_spec *d, int n)
{
    FILE *f = fopen(path, "wb");
    uint32_t header[4] = {version, L, (uint32_t)n, CTX};
    fwrite("DUOCLPTL", 1, 8, f);
    fwrite(header, sizeof header, 1, f);
    for (int i = 0; i < n; i++) {
        char name[32] = {0};
        snprintf(name, sizeof name, "%s", d[i].name);
        uint64_t tokens = d[i].n_windows * CTX;
        fwrite(name, 1, 32, f);
        fwrite(&d[i].n_windows, 8, 1, f);
        fwrite(&tokens, 8, 1, f);
        fwrite(&d[i].searched, 4, 1, f);
        fwrite(d[i].windows, 4, d[i].n_windows * (CTX + 1), f);
        fwrite(d[i].small, 4, tokens, f);
        fwrite(d[i].big, 4, tokens, f);
        for (int k = 0; k <= L; k++)
            if (d[i].searched >> k & 1) {
                fwrite(d[i].oracle[k], 4, tokens, f);
                fwrite(d[i].mask[k], 4, tokens, f);
            }
    }
    fclose(f);
}

static void read_back_and_statistics(void)
{
    char path[300];
    path_in(path, sizeof path, "good.bin");
    domain_spec specs[2] = {spec_a(), spec_b()};
    write_file(path, 1, specs, 2);
    duo_token_file f;
    if (!unit_ok("read", duo_token_file_read(path, &f)))
        return;
    unit_check("header", f.layers == L && f.ctx == CTX && f.n_domains == 2, "layers %d ctx %d domains %d", f.layers,
               f.ctx, f.n_domains);
    const duo_token_domain *a = &f.domain[0], *b = &f.domain[1];
    unit_check("domain_a", strcmp(a->name, "a") == 0 && a->tokens == 6 && a->n_windows == 2 && a->searched == 3 &&
                               a->loss_oracle[2] == NULL && a->big_mask[1][3] == 2 && a->loss_small[5] == 6,
               "name '%s' tokens %llu searched %u", a->name, (unsigned long long)a->tokens, a->searched);
    unit_check("targets", duo_token_input(a, CTX, 5) == '\n' && duo_token_target(a, CTX, 5) == 'g' &&
                              duo_token_input(a, CTX, 3) == 'e' && duo_token_target(a, CTX, 2) == 'd',
               "window layout misread");
    char budgets[32];
    duo_token_file_budgets(&f, budgets, sizeof budgets);
    unit_check("budgets_in_every_domain", strcmp(budgets, "0,1") == 0, "got '%s', want '0,1'", budgets);

    /* Domain a by hand: benefit {3,0,0,1,0,6}; loss_small ranks {5,1,3.5,3.5,2,6},
     * benefit ranks {5,2,2,4,2,6}; about 3.5: sum dxdy 14.5, dx^2 17, dy^2 15.5. */
    duo_difficulty_stats s;
    if (unit_ok("stats_a", duo_difficulty_compute(a, CTX, 1, 0, &s))) {
        double want = 14.5 / sqrt(17 * 15.5);
        unit_check("a_spearman_small_benefit", near(s.spearman_small_benefit, want), "got %.15f, want %.15f",
                   s.spearman_small_benefit, want);
        unit_check("a_big_constant_gives_nan", isnan(s.spearman_big_benefit), "got %g", s.spearman_big_benefit);
        unit_check("a_means", near(s.mean_small, 19.0 / 6) && near(s.mean_big, 1) && near(s.mean_oracle, 1.5) &&
                                  near(s.mean_benefit, 10.0 / 6),
                   "small %.15f big %.15f oracle %.15f benefit %.15f", s.mean_small, s.mean_big, s.mean_oracle,
                   s.mean_benefit);
        unit_check("a_fraction_gain", near(s.fraction_gain, 0.5), "got %g, want 0.5", s.fraction_gain);
        unit_check("a_top10", s.top_count == 1 && s.top_overlap == 1, "count %llu overlap %llu, want 1 1",
                   (unsigned long long)s.top_count, (unsigned long long)s.top_overlap);
    }
    if (unit_ok("stats_b", duo_difficulty_compute(b, CTX, 1, 0, &s)))
        unit_check("b_top10_two_of_three", s.top_count == 3 && s.top_overlap == 2, "count %llu overlap %llu, want 3 2",
                   (unsigned long long)s.top_count, (unsigned long long)s.top_overlap);
    if (unit_ok("stats_b0", duo_difficulty_compute(b, CTX, 0, 0, &s)))
        unit_check("b_budget0_no_gain", s.mean_benefit == 0 && s.fraction_gain == 0 && isnan(s.spearman_small_benefit),
                   "benefit %g gain %g rho %g", s.mean_benefit, s.fraction_gain, s.spearman_small_benefit);
    unit_fails("a_budget_2_not_searched", duo_difficulty_compute(a, CTX, 2, 0, &s), DUO_ERR_INVALID_ARGUMENT,
               "budget 2", "'a'");

    /* Leaving position 0 out keeps tokens {1, 2, 4, 5}: loss_small {1, 3, 2, 6}
     * ranks {1, 3, 2, 4}; benefit {0, 0, 0, 6} ranks {2, 2, 2, 4}; about 2.5:
     * sum dxdy 3, dx^2 5, dy^2 3. */
    if (unit_ok("stats_a_skip_first", duo_difficulty_compute(a, CTX, 1, 1, &s))) {
        double want = 3 / sqrt(15);
        unit_check("a_skip_first_spearman", s.tokens == 4 && near(s.spearman_small_benefit, want),
                   "tokens %llu rho %.15f, want 4 and %.15f", (unsigned long long)s.tokens,
                   s.spearman_small_benefit, want);
        unit_check("a_skip_first_means", near(s.mean_small, 3) && near(s.mean_benefit, 1.5),
                   "small %.15f benefit %.15f, want 3 and 1.5", s.mean_small, s.mean_benefit);
    }
    uint64_t top[4];
    if (unit_ok("top_skip_first", duo_difficulty_top(a, CTX, 1, a->loss_small, 4, top)))
        unit_check("top_skip_first_maps_back", top[0] == 5 && top[1] == 2 && top[2] == 4 && top[3] == 1,
                   "got %llu %llu %llu %llu, want 5 2 4 1", (unsigned long long)top[0], (unsigned long long)top[1],
                   (unsigned long long)top[2], (unsigned long long)top[3]);
    unit_fails("top_more_than_kept", duo_difficulty_top(a, CTX, 2, a->loss_small, 3, top), DUO_ERR_INVALID_ARGUMENT,
               "3 top tokens", "'a'");
    unit_fails("skip_every_position", duo_difficulty_compute(a, CTX, 1, CTX, &s), DUO_ERR_INVALID_ARGUMENT,
               "allowed 0 to 2", NULL);

    duo_tokenizer *tok;
    if (unit_ok("byte_tokenizer", duo_tokenizer_byte_level(&tok))) {
        char ctx[64], token[64];
        unit_ok("context", duo_difficulty_context(tok, a, CTX, 5, 40, ctx, sizeof ctx, token, sizeof token));
        unit_check("context_is_the_window_so_far", strcmp(ctx, "ef\\n") == 0 && strcmp(token, "g") == 0,
                   "got '%s' [%s], want 'ef\\\\n' [g]", ctx, token);
        unit_ok("context", duo_difficulty_context(tok, a, CTX, 5, 2, ctx, sizeof ctx, token, sizeof token));
        unit_check("context_keeps_the_last_bytes", strcmp(ctx, "f\\n") == 0, "got '%s', want 'f\\\\n'", ctx);
        unit_ok("context", duo_difficulty_context(tok, a, CTX, 0, 40, ctx, sizeof ctx, token, sizeof token));
        unit_check("context_at_window_start", strcmp(ctx, "a") == 0 && strcmp(token, "b") == 0, "got '%s' [%s]", ctx,
                   token);
        unit_fails("context_outside", duo_difficulty_context(tok, a, CTX, 6, 40, ctx, sizeof ctx, token, sizeof token),
                   DUO_ERR_INVALID_ARGUMENT, "token 6", NULL);
        int32_t bad_windows[CTX + 1] = {'x', 300, 'y', 'z'};
        duo_token_domain bad = {.name = "bad", .n_windows = 1, .tokens = CTX, .windows = bad_windows};
        unit_fails("context_id_outside_vocabulary",
                   duo_difficulty_context(tok, &bad, CTX, 2, 40, ctx, sizeof ctx, token, sizeof token),
                   DUO_ERR_FORMAT, "300", "vocabulary");
        duo_tokenizer_destroy(tok);
    }
    duo_token_file_free(&f);
}

/* ---- bad files ---- */

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    uint8_t *b = malloc(*n);
    *n = fread(b, 1, *n, f);
    fclose(f);
    return b;
}

static void spit(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

/* The library's writer gives back the bytes of the hand-written file. */
static void writer_matches_the_layout_byte_for_byte(void)
{
    char path[300], copy[300], tmp[310];
    path_in(path, sizeof path, "good.bin");
    path_in(copy, sizeof copy, "written.bin");
    snprintf(tmp, sizeof tmp, "%s.tmp", copy);
    domain_spec specs[2] = {spec_a(), spec_b()};
    write_file(path, 1, specs, 2);
    duo_token_file f;
    if (!unit_ok("read", duo_token_file_read(path, &f)))
        return;
    if (unit_ok("write", duo_token_file_write(copy, &f))) {
        size_t n_want, n_got;
        uint8_t *want = slurp(path, &n_want), *got = slurp(copy, &n_got);
        size_t at = 0;
        while (at < n_want && at < n_got && want[at] == got[at])
            at++;
        unit_check("same_bytes", n_want == n_got && at == n_want, "%zu bytes written, %zu expected; first "
                   "difference at offset %zu", n_got, n_want, at);
        unit_check("no_temporary_left", access(tmp, F_OK) != 0, "'%s' is still there", tmp);
        free(want);
        free(got);
    }
    duo_token_file_free(&f);
}

static void bad_files_name_the_file_and_the_problem(void)
{
    char good[300], bad[300];
    path_in(good, sizeof good, "good.bin");
    path_in(bad, sizeof bad, "bad.bin");
    domain_spec specs[2] = {spec_a(), spec_b()};
    write_file(good, 1, specs, 2);
    duo_token_file f;
    unit_fails("missing_file", duo_token_file_read("/nonexistent/oracle_tokens.bin", &f), DUO_ERR_IO,
               "/nonexistent/oracle_tokens.bin", NULL);
    write_file(bad, 2, specs, 2);
    unit_fails("wrong_version", duo_token_file_read(bad, &f), DUO_ERR_FORMAT, "version 2", bad);

    size_t n;
    uint8_t *b = slurp(good, &n);
    /* Every prefix of a good file is truncated and must say so. */
    int wrong = 0;
    for (size_t len = 0; len < n; len++) {
        spit(bad, b, len);
        duo_status st = duo_token_file_read(bad, &f);
        if (st != DUO_ERR_FORMAT || !strstr(duo_last_error(), bad) || !strstr(duo_last_error(), "truncated")) {
            if (wrong++ == 0)
                unit_check("truncated_first_failure", false, "length %zu of %zu: %s \"%s\"", len, n,
                           duo_status_name(st), duo_last_error());
        }
    }
    unit_check("truncated_at_every_length", wrong == 0, "%d of %zu lengths not reported as truncated", wrong, n);
    spit(bad, b, 100); /* into domain a's windows */
    unit_fails("truncated_names_the_field", duo_token_file_read(bad, &f), DUO_ERR_FORMAT, "domain 'a'", "windows");

    uint8_t *longer = malloc(n + 1);
    memcpy(longer, b, n);
    longer[n] = 0;
    spit(bad, longer, n + 1);
    unit_fails("trailing_byte", duo_token_file_read(bad, &f), DUO_ERR_FORMAT, "after its last domain", bad);
    free(longer);

    b[0] = 'X';
    spit(bad, b, n);
    unit_fails("wrong_magic", duo_token_file_read(bad, &f), DUO_ERR_FORMAT, "DUOCLPTL", bad);
    b[0] = 'D';

    /* Offsets into domain a: header 24, then name 32, sizes 16, mask 4; windows 8 x 4. */
    size_t a_small_at = 24 + 52 + 8 * 4;
    float nan_value = NAN;
    uint8_t saved[4];
    memcpy(saved, b + a_small_at + 4, 4);
    memcpy(b + a_small_at + 4, &nan_value, 4);
    spit(bad, b, n);
    unit_fails("nan_loss", duo_token_file_read(bad, &f), DUO_ERR_FORMAT, "loss_small of token 1", "finite");
    memcpy(b + a_small_at + 4, saved, 4);

    /* big_mask of budget 1, token 0: after small, big, oracle_0, mask_0, oracle_1. */
    size_t mask1_at = a_small_at + 5 * 6 * 4;
    uint32_t two_big = 3;
    memcpy(b + mask1_at, &two_big, 4);
    spit(bad, b, n);
    unit_fails("mask_with_wrong_big_count", duo_token_file_read(bad, &f), DUO_ERR_FORMAT,
               "big_mask of budget 1 of token 0", "exactly 1");
    uint32_t one_big = 1;
    memcpy(b + mask1_at, &one_big, 4);

    uint64_t wrong_tokens = 7;
    memcpy(b + 24 + 40, &wrong_tokens, 8);
    spit(bad, b, n);
    unit_fails("tokens_not_windows_times_ctx", duo_token_file_read(bad, &f), DUO_ERR_FORMAT, "7 tokens", "'a'");
    free(b);
    unit_check("freed_after_failure", f.domain == NULL && f.n_domains == 0, "a failed read left %d domains",
               f.n_domains);
}

/* ---- text ---- */

static void escaping_is_safe_for_terminal_and_json(void)
{
    const uint8_t in[] = "a\\b\n\t\r\x01\x7f \xc3\xa9 \xe2\x82\xac \xff \xc3( \xed\xa0\x80";
    char out[128];
    duo_escape_text(in, sizeof in - 1, out, sizeof out);
    const char *want = "a\\\\b\\n\\t\\r\\x01\\x7F \xc3\xa9 \xe2\x82\xac \\xFF \\xC3( \\xED\\xA0\\x80";
    unit_check("escape", strcmp(out, want) == 0, "got '%s', want '%s'", out, want);
    char tiny[4]; /* room for "ab" and the NUL, not for "ab\\n" */
    size_t len = duo_escape_text((const uint8_t *)"ab\ncd", 5, tiny, sizeof tiny);
    unit_check("escape_truncates_at_a_whole_escape", len == 2 && strcmp(tiny, "ab") == 0, "got '%s' (%zu)", tiny,
               len);
    const uint8_t zero[] = {0};
    duo_escape_text(zero, 1, out, sizeof out);
    unit_check("escape_eot", strcmp(out, "\\x00") == 0, "got '%s'", out);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/duocl_test_difficulty_XXXXXX");
    if (!mkdtemp(dir)) {
        printf("cannot create a temporary folder\n");
        return 1;
    }
    fill_b();
    UNIT_RUN(average_ranks_share_ties);
    UNIT_RUN(spearman_matches_hand_computed_values_with_ties);
    UNIT_RUN(top_indices_break_ties_by_index);
    UNIT_RUN(read_back_and_statistics);
    UNIT_RUN(writer_matches_the_layout_byte_for_byte);
    UNIT_RUN(bad_files_name_the_file_and_the_problem);
    UNIT_RUN(escaping_is_safe_for_terminal_and_json);
    char path[300];
    const char *names[] = {"good.bin", "bad.bin", "written.bin"};
    for (int i = 0; i < 3; i++) {
        path_in(path, sizeof path, names[i]);
        remove(path);
    }
    rmdir(dir);
    return unit_summary("test_difficulty");
}
