/* Loaders at the sizes the fuzzer found quadratic (issue 14): a checkpoint of
 * 80,000 tensors (12 s to open before: every name was compared with every
 * other) and a config of 40,000 keys (4 s). The time is not asserted (a
 * loaded CI machine would make that flaky); what is checked is that at these
 * sizes a repeated name is still found, at the right place, and that every
 * tensor can still be looked up. The time is printed. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/hash.h"
#include "duocl/checkpoint.h"
#include "duocl/config.h"
#include "testutil.h"
#include "unitcheck.h"

enum { TENSORS = 80000, KEYS = 40000 };

static char dir[512];

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static char (*tensor_names)[16];

/* TENSORS u64 scalars "t.00000" ... with value i. */
static bool write_many(const char *path)
{
    duo_checkpoint_writer *w;
    if (!unit_ok("writer_open", duo_checkpoint_writer_open(path, "{}", &w)))
        return false;
    double t0 = now();
    duo_status st = DUO_OK;
    for (int i = 0; i < TENSORS && st == DUO_OK; i++)
        st = duo_checkpoint_writer_add_u64(w, tensor_names[i], (uint64_t)i);
    if (!unit_ok("add 80k tensors", st)) {
        duo_checkpoint_writer_abort(w);
        return false;
    }
    unit_fails("the writer still refuses a repeated name at 80k",
               duo_checkpoint_writer_add_u64(w, tensor_names[TENSORS / 2], 1),
               DUO_ERR_INVALID_ARGUMENT, "written twice", tensor_names[TENSORS / 2]);
    bool ok = unit_ok("commit", duo_checkpoint_writer_commit(w));
    printf("  writing %d tensors took %.2f s\n", TENSORS, now() - t0);
    return ok;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*n);
    if (b && fread(b, 1, *n, f) != *n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
        printf("fatal: cannot write %s\n", path);
        exit(1);
    }
}

static void checkpoint_of_80k_tensors_finds_a_repeated_name(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/many.ckpt", dir);
    if (!write_many(path))
        return;
    double t0 = now();
    duo_checkpoint *ck;
    if (!unit_ok("open 80k tensors", duo_checkpoint_open(path, &ck)))
        return;
    printf("  opening %d tensors took %.2f s\n", TENSORS, now() - t0);
    bool all = duo_checkpoint_tensor_count(ck) == TENSORS;
    for (int i = 0; i < TENSORS && all; i += 997) {
        uint64_t v = UINT64_MAX;
        all = duo_checkpoint_get_u64(ck, tensor_names[i], &v) == DUO_OK && v == (uint64_t)i;
    }
    unit_check("every tensor is found by name", all, "%s", duo_last_error());
    unit_fails("a missing name is still missing", duo_checkpoint_get_u64(ck, "t.x", &(uint64_t){0}),
               DUO_ERR_FORMAT, "\"t.x\" is missing", NULL);
    duo_checkpoint_close(ck);

    /* The last tensor renamed to the name of one in the middle, with a good
     * checksum: the file is refused at the last record. */
    size_t n = 0;
    unsigned char *b = slurp(path, &n);
    if (!unit_check("read back", b != NULL, "%s", path))
        return;
    const char *last = tensor_names[TENSORS - 1];
    unsigned char *at = NULL;
    for (size_t i = 0; i + 8 < n && !at; i++)
        if (memcmp(b + i, "TNSR", 4) == 0 && memcmp(b + i + 8, last, strlen(last)) == 0)
            at = b + i;
    if (!unit_check("found the last record", at != NULL, "no record named %s", last)) {
        free(b);
        return;
    }
    memcpy(at + 8, tensor_names[TENSORS / 2], strlen(last));
    uint64_t sum = duo_fnv1a(DUO_FNV_OFFSET, b, n - 8);
    for (int i = 0; i < 8; i++)
        b[n - 8 + i] = (unsigned char)(sum >> (8 * i));
    spit(path, b, n);
    char where[64];
    snprintf(where, sizeof where, "at byte %zu: a tensor name appears twice", (size_t)(at - b));
    t0 = now();
    ck = NULL;
    unit_fails("a repeated name among 80k tensors is refused where it repeats",
               duo_checkpoint_open(path, &ck), DUO_ERR_FORMAT, where, "many.ckpt");
    printf("  refusing it took %.2f s\n", now() - t0);
    duo_checkpoint_close(ck);
    free(b);
}

/* {"model": {"k0": 0, ..., "k39999": 0, <extra>}}. */
static char *many_keys(const char *extra)
{
    size_t cap = (size_t)KEYS * 16 + 256;
    char *json = malloc(cap);
    size_t used = (size_t)snprintf(json, cap, "{\"model\": {");
    for (int i = 0; i < KEYS; i++)
        used += (size_t)snprintf(json + used, cap - used, "\"k%d\": 0, ", i);
    snprintf(json + used, cap - used, "%s}}", extra);
    return json;
}

static void config_of_40k_keys_finds_a_repeated_key(void)
{
    char *json = many_keys("\"k20000\": 1");
    duo_config c;
    double t0 = now();
    unit_fails("a repeated key among 40k is named", duo_config_parse(json, "many.json", &c),
               DUO_ERR_CONFIG, "many.json: model.k20000: the key appears more than once", NULL);
    printf("  a config of %d keys took %.2f s\n", KEYS, now() - t0);
    free(json);
    json = many_keys("\"k40000\": 1");
    unit_fails("without a repeat, the first unknown key is named", duo_config_parse(json, "many.json", &c),
               DUO_ERR_CONFIG, "model.k0: unknown key", NULL);
    free(json);
}

int main(void)
{
    if (!test_temp_dir(dir, sizeof dir, "loader-scale"))
        return 1;
    tensor_names = malloc(TENSORS * sizeof *tensor_names);
    for (int i = 0; i < TENSORS; i++)
        snprintf(tensor_names[i], sizeof tensor_names[i], "t.%05d", i);
    UNIT_RUN(checkpoint_of_80k_tensors_finds_a_repeated_name);
    UNIT_RUN(config_of_40k_keys_finds_a_repeated_key);
    free(tensor_names);
    test_remove_dir(dir);
    return unit_summary("test_loader_scale");
}
