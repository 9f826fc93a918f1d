#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duocl/data.h"
#include "duocl/tokenizer.h"
#include "base/error.h"
#include "base/fileio.h"
#include "testutil.h"

static void die(const char *what)
{
    fprintf(stderr, "fatal: %s: %s\n", what, duo_last_error());
    exit(2);
}

int test_main(int argc, char **argv, const char *suite, void (*run)(test_context *t))
{
    test_context t = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--small") == 0)
            t.small = true;
        else {
            fprintf(stderr, "usage: %s [--small]\n", argv[0]);
            return 2;
        }
    }
    const char *seed_text = getenv("DUOCL_TEST_SEED");
    unsigned long long seed = seed_text ? strtoull(seed_text, NULL, 10) : (unsigned long long)time(NULL);
    t.rng = duo_rng_seeded(seed);
    duo_runtime_options options = {.device = getenv("DUOCL_DEVICE")};
    duo_status st = duo_runtime_create(&options, &t.rt);
    if (st != DUO_OK)
        die("creating the runtime");
    printf("%s on %s [%s], seed %llu (DUOCL_TEST_SEED=%llu reproduces)%s\n", suite,
           duo_runtime_device(t.rt)->name, duo_runtime_profile_name(t.rt), seed, seed,
           t.small ? ", small sizes" : "");
    run(&t);
    if (duo_runtime_finish(t.rt) != DUO_OK)
        test_ok(&t, "finish queue", DUO_ERR_OPENCL);
    duo_runtime_destroy(t.rt);
    printf("%s: %d passed, %d failed\n", suite, t.passed, t.failed);
    return t.failed ? 1 : 0;
}

bool test_close(test_context *t, const char *name, const float *got, const float *want, size_t n,
                double atol, double rtol)
{
    /* Two worst elements: the largest absolute error (what is printed on
     * success) and the one furthest past its bound (what is printed on failure). */
    double largest_error = 0, worst_excess = -INFINITY;
    size_t worst = 0;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        bool both_nan = isnan(got[i]) && isnan(want[i]);
        double error = both_nan ? 0 : fabs((double)got[i] - (double)want[i]);
        if (isnan(error))
            error = INFINITY;
        double excess = error - (atol + rtol * fabs((double)want[i]));
        if (excess > 0)
            ok = false;
        if (error > largest_error)
            largest_error = error;
        if (excess > worst_excess) {
            worst_excess = excess;
            worst = i;
        }
    }
    if (ok) {
        t->passed++;
        printf("  ok    %-48s largest error %.3g (atol %.1g, rtol %.1g)\n", name, largest_error,
               atol, rtol);
    } else {
        t->failed++;
        printf("  FAIL  %-48s at [%zu]: got %.9g want %.9g, error %.3g > atol %.1g + rtol %.1g\n",
               name, worst, got[worst], want[worst], fabs((double)got[worst] - (double)want[worst]),
               atol, rtol);
    }
    return ok;
}

bool test_same_bytes(test_context *t, const char *name, const void *a, const void *b, size_t bytes)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < bytes; i++)
        if (x[i] != y[i]) {
            t->failed++;
            printf("  FAIL  %-48s first differing byte %zu of %zu\n", name, i, bytes);
            return false;
        }
    t->passed++;
    printf("  ok    %-48s %zu identical bytes\n", name, bytes);
    return true;
}

bool test_true(test_context *t, const char *name, bool ok, const char *detail)
{
    if (ok)
        t->passed++;
    else
        t->failed++;
    printf("  %-5s %-48s %s\n", ok ? "ok" : "FAIL", name, detail ? detail : "");
    return ok;
}

bool test_ok(test_context *t, const char *name, duo_status status)
{
    if (status == DUO_OK)
        return true;
    t->failed++;
    printf("  FAIL  %-48s %s: %s\n", name, duo_status_name(status), duo_last_error());
    return false;
}

void test_fill(test_context *t, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = duo_rng_range(&t->rng, lo, hi);
}

void *test_malloc(size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "fatal: out of memory (%zu bytes)\n", bytes);
        exit(2);
    }
    return p;
}

cl_mem test_alloc(test_context *t, size_t bytes)
{
    /* Poisoned with NaN from the host: an element a kernel fails to write shows
     * up in the comparison, and oclgrind 21.10 (which misreports reads of
     * device-written memory in a recycled allocation as uninitialised) sees the
     * whole buffer initialised by a host write. */
    float *poison = test_malloc(bytes);
    for (size_t i = 0; i < bytes / sizeof(float); i++)
        poison[i] = NAN;
    cl_mem m = test_upload(t, poison, bytes);
    free(poison);
    return m;
}

cl_mem test_upload(test_context *t, const void *host, size_t bytes)
{
    cl_mem m;
    if (duo_buffer_create(t->rt, bytes, &m) != DUO_OK || duo_buffer_write(t->rt, m, 0, bytes, host) != DUO_OK)
        die("uploading a buffer");
    return m;
}

void test_download(test_context *t, cl_mem buffer, void *host, size_t bytes)
{
    if (duo_buffer_read(t->rt, buffer, 0, bytes, host) != DUO_OK)
        die("downloading a buffer");
}

/* ---- for the unit tests ---- */

bool test_temp_dir(char *dir, size_t size, const char *name)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, size, "%s/duocl-%s-XXXXXX", base && *base ? base : "/tmp", name);
    if (mkdtemp(dir))
        return true;
    fprintf(stderr, "cannot create a temporary folder %s: %s\n", dir, strerror(errno));
    return false;
}

void test_remove_dir(const char *dir)
{
    char command[4200];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0)
        printf("could not remove %s\n", dir);
}

bool test_same_files(const char *a, const char *b, char *why, size_t size)
{
    uint8_t *da = NULL, *db = NULL;
    size_t na = 0, nb = 0;
    bool read = duo_read_whole_file(a, "file", &da, &na) == DUO_OK &&
                duo_read_whole_file(b, "file", &db, &nb) == DUO_OK;
    bool same = read && na == nb && memcmp(da, db, na) == 0;
    if (!read)
        snprintf(why, size, "%s", duo_last_error());
    else
        snprintf(why, size, "%s (%zu bytes) and %s (%zu bytes) %s", a, na, b, nb,
                 same ? "are the same" : "differ");
    free(da);
    free(db);
    return same;
}

uint64_t test_checkpoint_step(const char *path)
{
    duo_checkpoint *ck;
    uint64_t step = UINT64_MAX;
    if (duo_checkpoint_open(path, &ck) == DUO_OK) {
        duo_checkpoint_get_u64(ck, "state.step", &step);
        duo_checkpoint_close(ck);
    }
    return step;
}

test_log *test_read_log(const char *path)
{
    test_log *log = test_malloc(sizeof *log);
    FILE *f = fopen(path, "r");
    if (!f)
        return log;
    log->found = true;
    char buf[TEST_LOG_LINE];
    while (log->n < TEST_LOG_LINES && fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\n")] = '\0';
        char *cut = strstr(buf, ",\"tokens_per_s\"");
        if (!cut)
            cut = strstr(buf, ",\"elapsed_s\"");
        if (cut)
            *cut = '\0';
        snprintf(log->line[log->n++], TEST_LOG_LINE, "%s", buf);
    }
    fclose(f);
    return log;
}

int test_log_count(const test_log *log, const char *needle)
{
    int count = 0;
    for (int i = 0; i < log->n; i++)
        count += strstr(log->line[i], needle) != NULL;
    return count;
}

bool test_same_logs(const test_log *a, const test_log *b, char *why, size_t size)
{
    snprintf(why, size, "%d records vs %d", a->n, b->n);
    if (a->n != b->n)
        return false;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->line[i], b->line[i]) != 0) {
            snprintf(why, size, "record %d differs:\n  %s\n  %s", i + 1, a->line[i], b->line[i]);
            return false;
        }
    snprintf(why, size, "the same %d records", a->n);
    return true;
}

/* ---- a tiny training run's data ---- */

/* Sentences from a tiny grammar ("web") or assignments ("code"), up to cap
 * bytes; a document ends after about one sentence in 12. */
static size_t tiny_text(const char *domain, uint64_t seed, char *text, size_t cap)
{
    static const char *const nouns[] = {"cat", "dog", "bird", "tree", "river", "house", "child"};
    static const char *const verbs[] = {"sees", "likes", "finds", "paints", "follows"};
    static const char *const adjs[] = {"red", "small", "old", "quiet", "bright"};
    duo_rng rng = duo_rng_seeded(seed);
    size_t n = 0;
    while (n + 200 < cap) {
        char s[160];
        if (strcmp(domain, "web") == 0)
            snprintf(s, sizeof s, "The %s %s %s the %s %s. ", adjs[duo_rng_below(&rng, 5)],
                     nouns[duo_rng_below(&rng, 7)], verbs[duo_rng_below(&rng, 5)],
                     adjs[duo_rng_below(&rng, 5)], nouns[duo_rng_below(&rng, 7)]);
        else
            snprintf(s, sizeof s, "x%d = f(x%d) + %d\n", (int)duo_rng_below(&rng, 10),
                     (int)duo_rng_below(&rng, 10), (int)duo_rng_below(&rng, 100));
        memcpy(text + n, s, strlen(s));
        n += strlen(s);
        if (duo_rng_below(&rng, 12) == 0)
            text[n++] = '\0';
    }
    return n;
}

static duo_status tiny_shard(duo_tokenizer *tok, const char *dir, const char *domain,
                             const char *split, size_t bytes, uint64_t seed)
{
    char *text = test_malloc(bytes), path[4200];
    size_t n = tiny_text(domain, seed, text, bytes), count = 0;
    int32_t *ids = NULL;
    duo_status st = duo_tokenizer_encode(tok, (const uint8_t *)text, n, &ids, &count);
    if (st == DUO_OK)
        st = duo_shard_filename(dir, domain, split, path, sizeof path);
    if (st == DUO_OK)
        st = duo_shard_write(path, ids, count, DUO_BYTE_VOCAB, n, duo_tokenizer_fingerprint(tok));
    free(ids);
    free(text);
    return st;
}

duo_status test_tiny_shards(const char *dir, size_t train_bytes, size_t val_bytes)
{
    DUO_TRY(duo_make_directories(dir));
    duo_tokenizer *tok;
    DUO_TRY(duo_tokenizer_byte_level(&tok));
    const char *domains[] = {"web", "code"};
    duo_status st = DUO_OK;
    for (int d = 0; d < 2 && st == DUO_OK; d++) {
        st = tiny_shard(tok, dir, domains[d], "train", train_bytes, 11 + d);
        if (st == DUO_OK)
            st = tiny_shard(tok, dir, domains[d], "val", val_bytes, 21 + d);
    }
    duo_tokenizer_destroy(tok);
    return st;
}

duo_status test_tiny_config(const char *shards, int steps, int eval_every, int ckpt_every,
                            duo_config *out)
{
    char json[5000];
    snprintf(json, sizeof json,
             "{\"model\": {\"vocab\": 257, \"d_model\": 32, \"n_layers\": 4, \"n_heads\": 2, "
             "\"ctx\": 32, \"ffn_big\": 64, \"ffn_small\": 8},"
             " \"train\": {\"batch\": 4, \"steps\": %d, \"warmup\": 2, \"eval_every\": %d, "
             "\"eval_tokens\": 200, \"ckpt_every\": %d, \"seed\": 3, "
             "\"domain_weights\": {\"web\": 1, \"code\": 1}},"
             " \"data\": {\"tokenizer\": \"byte\", \"shards\": \"%s\"}}",
             steps, eval_every, ckpt_every, shards);
    return duo_config_parse(json, "tiny test config", out);
}

/* ---- the parity fixture's batch ---- */

duo_status test_batch_alloc(test_batch *b, size_t B, size_t T, size_t L)
{
    *b = (test_batch){B, T, L, malloc(B * T * sizeof(int32_t)), malloc(B * T * sizeof(int32_t)),
                      malloc(L * B * T)};
    if (!b->tokens || !b->targets || !b->routes) {
        test_batch_free(b);
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for a batch of %zu x %zu", B, T);
    }
    return DUO_OK;
}

duo_status test_batch_read(const duo_checkpoint *ck, size_t L, test_batch *b)
{
    duo_tensor_desc desc = {0};
    size_t n = duo_checkpoint_tensor_count(ck), i = 0;
    for (; i < n; i++) {
        DUO_TRY(duo_checkpoint_tensor_at(ck, i, &desc));
        if (strcmp(desc.name, "batch.tokens") == 0)
            break;
    }
    if (i == n || desc.ndim != 2)
        return duo_fail(DUO_ERR_FORMAT, "%s has no 2-dimensional tensor batch.tokens",
                        duo_checkpoint_path(ck));
    size_t B = desc.shape[0], T = desc.shape[1];
    DUO_TRY(test_batch_alloc(b, B, T, L));
    uint64_t bt[2] = {B, T}, lbt[3] = {L, B, T};
    const void *routes;
    duo_status st = duo_checkpoint_read(ck, "batch.tokens", DUO_DTYPE_I32, 2, bt, b->tokens,
                                        B * T * sizeof(int32_t));
    if (st == DUO_OK)
        st = duo_checkpoint_read(ck, "batch.targets", DUO_DTYPE_I32, 2, bt, b->targets,
                                 B * T * sizeof(int32_t));
    if (st == DUO_OK)
        st = duo_checkpoint_find(ck, "batch.routes", DUO_DTYPE_U8, 3, lbt, &routes);
    if (st == DUO_OK)
        memcpy(b->routes, routes, L * B * T);
    else
        test_batch_free(b);
    return st;
}

void test_batch_free(test_batch *b)
{
    free(b->tokens);
    free(b->targets);
    free(b->routes);
    *b = (test_batch){0};
}
