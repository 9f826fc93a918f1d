/* Checkpoint files: a bit-exact round trip of every dtype (NaN payloads,
 * -0, denormals, UINT64_MAX, empty and 8-d tensors, scalars); every
 * truncation and every single-byte corruption of a file is refused with the
 * documented DUO_ERR_FORMAT message, never a crash; lookups name the missing
 * tensor or both shapes; and the temp-file + rename discipline: no .tmp after
 * a good write, the old checkpoint intact after a failed write (missing
 * directory, refused tensor, file-size limit hit mid-write, a writer process
 * killed before commit). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "duocl/checkpoint.h"
#include "duocl/config.h"
#include "base/fileio.h"
#include "unitcheck.h"

static char dir[64];

static void path_in_dir(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

static bool exists(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0;
}

static void spit(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size) {
        fprintf(stderr, "fatal: cannot write %s\n", path);
        exit(2);
    }
    fclose(f);
}

/* Writes `size` bytes to path and opens them as a checkpoint (closed again). */
static duo_status open_bytes(const char *path, const void *bytes, size_t size)
{
    spit(path, bytes, size);
    duo_checkpoint *ck = NULL;
    duo_status st = duo_checkpoint_open(path, &ck);
    duo_checkpoint_close(ck);
    return st;
}

/* The sample tensors, with values a conversion would change. */
enum { N_F32 = 12, N_U8 = 5, N_I32 = 7, N_U64 = 3 };
static float f32_values[N_F32];
static uint8_t u8_values[N_U8] = {0, 1, 127, 128, 255};
static int32_t i32_values[N_I32] = {0, -1, 1, INT32_MIN, INT32_MAX, 12345, -98765};
static uint64_t u64_values[N_U64] = {0, UINT64_MAX, 0x0123456789abcdefULL};
static float eight_d[2 * 1 * 2 * 1 * 1 * 2 * 1 * 3];
static char long_name[DUO_TENSOR_NAME_MAX + 1];

static void make_samples(void)
{
    uint32_t bits[N_F32] = {0x00000000u, 0x80000000u, 0x00000001u, 0x007fffffu, 0x7f800000u,
                            0xff800000u, 0x7fc00001u, 0xffbfffffu, 0x3f800000u, 0xc2f6e979u,
                            0x3eaaaaabu, 0x7f7fffffu};
    memcpy(f32_values, bits, sizeof bits);
    for (size_t i = 0; i < sizeof eight_d / sizeof eight_d[0]; i++)
        eight_d[i] = (float)i * 0.25f - 1.0f;
    memset(long_name, 'n', DUO_TENSOR_NAME_MAX);
    long_name[DUO_TENSOR_NAME_MAX] = '\0';
}

static const char *CONFIG_TEXT = "{\"note\": \"any JSON text, stored verbatim\"}";

static duo_status write_sample(const char *path, uint64_t step)
{
    duo_checkpoint_writer *w;
    duo_status opened = duo_checkpoint_writer_open(path, CONFIG_TEXT, &w);
    if (opened != DUO_OK)
        return opened;
    duo_tensor_desc t[] = {
        {.name = "f32.special", .dtype = DUO_DTYPE_F32, .ndim = 2, .shape = {3, 4}, .data = f32_values},
        {.name = "u8.routes", .dtype = DUO_DTYPE_U8, .ndim = 1, .shape = {N_U8}, .data = u8_values},
        {.name = "i32.ids", .dtype = DUO_DTYPE_I32, .ndim = 1, .shape = {N_I32}, .data = i32_values},
        {.name = "u64.words", .dtype = DUO_DTYPE_U64, .ndim = 1, .shape = {N_U64}, .data = u64_values},
        {.name = "empty", .dtype = DUO_DTYPE_F32, .ndim = 2, .shape = {0, 5}, .data = NULL},
        {.name = "eight_d", .dtype = DUO_DTYPE_F32, .ndim = 8, .shape = {2, 1, 2, 1, 1, 2, 1, 3}, .data = eight_d},
        {.name = long_name, .dtype = DUO_DTYPE_U8, .ndim = 1, .shape = {3}, .data = u8_values},
    };
    duo_status st = DUO_OK;
    for (size_t i = 0; st == DUO_OK && i < sizeof t / sizeof t[0]; i++)
        st = duo_checkpoint_writer_add(w, &t[i]);
    if (st == DUO_OK)
        st = duo_checkpoint_writer_add_u64(w, "state.step", step);
    if (st != DUO_OK) {
        duo_checkpoint_writer_abort(w);
        return st;
    }
    return duo_checkpoint_writer_commit(w);
}

/* The sample at step 3 written to the file `name` in the folder and read back
 * whole (free() it); NULL after a failed check. */
static uint8_t *sample_bytes(const char *name, size_t *size)
{
    char path[128];
    path_in_dir(path, sizeof path, name);
    uint8_t *bytes = NULL;
    if (unit_ok("write", write_sample(path, 3)))
        unit_ok("read back", duo_read_whole_file(path, "checkpoint", &bytes, size));
    return bytes;
}

/* Reads every sample tensor back and compares bytes. */
static void check_sample(const char *name, const char *path, uint64_t step)
{
    duo_checkpoint *ck;
    if (!unit_ok(name, duo_checkpoint_open(path, &ck)))
        return;
    unit_check(name, strcmp(duo_checkpoint_config_json(ck), CONFIG_TEXT) == 0, "config text changed");
    unit_check(name, duo_checkpoint_tensor_count(ck) == 8, "%zu tensors", duo_checkpoint_tensor_count(ck));
    const void *data;
    uint64_t s34[] = {3, 4}, s5[] = {N_U8}, s7[] = {N_I32}, s3[] = {N_U64}, s05[] = {0, 5};
    uint64_t s8[] = {2, 1, 2, 1, 1, 2, 1, 3}, s3b[] = {3};
    if (unit_ok(name, duo_checkpoint_find(ck, "f32.special", DUO_DTYPE_F32, 2, s34, &data)))
        unit_check(name, memcmp(data, f32_values, sizeof f32_values) == 0 && (uintptr_t)data % 8 == 0,
                   "f32 bits changed or data not 8-byte aligned");
    if (unit_ok(name, duo_checkpoint_find(ck, "u8.routes", DUO_DTYPE_U8, 1, s5, &data)))
        unit_check(name, memcmp(data, u8_values, sizeof u8_values) == 0, "u8 changed");
    int32_t ids[N_I32];
    if (unit_ok(name, duo_checkpoint_read(ck, "i32.ids", DUO_DTYPE_I32, 1, s7, ids, sizeof ids)))
        unit_check(name, memcmp(ids, i32_values, sizeof ids) == 0, "i32 changed");
    if (unit_ok(name, duo_checkpoint_find(ck, "u64.words", DUO_DTYPE_U64, 1, s3, &data)))
        unit_check(name, memcmp(data, u64_values, sizeof u64_values) == 0, "u64 changed");
    unit_ok(name, duo_checkpoint_find(ck, "empty", DUO_DTYPE_F32, 2, s05, &data));
    if (unit_ok(name, duo_checkpoint_find(ck, "eight_d", DUO_DTYPE_F32, 8, s8, &data)))
        unit_check(name, memcmp(data, eight_d, sizeof eight_d) == 0, "8-d tensor changed");
    unit_ok(name, duo_checkpoint_find(ck, long_name, DUO_DTYPE_U8, 1, s3b, &data));
    uint64_t got_step = 0;
    if (unit_ok(name, duo_checkpoint_get_u64(ck, "state.step", &got_step)))
        unit_check(name, got_step == step, "step %llu want %llu", (unsigned long long)got_step,
                   (unsigned long long)step);
    duo_tensor_desc first;
    if (unit_ok(name, duo_checkpoint_tensor_at(ck, 0, &first)))
        unit_check(name, strcmp(first.name, "f32.special") == 0 && first.ndim == 2, "file order lost");
    duo_checkpoint_close(ck);
}

static void round_trip_is_bit_exact(void)
{
    char path[128], tmp[160];
    path_in_dir(path, sizeof path, "round.ckpt");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!unit_ok("write_sample", write_sample(path, 0xfedcba9876543210ULL)))
        return;
    unit_check("no_tmp_left_after_write", !exists(tmp), "%s still exists", tmp);
    check_sample("round_trip", path, 0xfedcba9876543210ULL);
    /* Overwriting replaces the file whole. */
    if (unit_ok("overwrite", write_sample(path, 7)))
        check_sample("overwritten", path, 7);
}

static void config_travels_in_the_checkpoint(void)
{
    char cfg_path[4200], path[128];
    snprintf(cfg_path, sizeof cfg_path, "%sconfigs/tiny.json", unit_source_dir());
    path_in_dir(path, sizeof path, "config.ckpt");
    duo_config c, back;
    char *json = NULL, *json_back = NULL;
    duo_checkpoint *ck = NULL;
    if (unit_ok("load_tiny", duo_config_load(cfg_path, &c)) && unit_ok("to_json", duo_config_to_json(&c, &json)) &&
        unit_ok("write", duo_checkpoint_write(path, json, NULL, 0)) &&
        unit_ok("open", duo_checkpoint_open(path, &ck)) &&
        unit_ok("parse_back", duo_config_parse(duo_checkpoint_config_json(ck), path, &back)) &&
        unit_ok("to_json_back", duo_config_to_json(&back, &json_back)))
        unit_check("config_round_trip", strcmp(json, json_back) == 0, "config changed in the checkpoint");
    duo_checkpoint_close(ck);
    free(json);
    free(json_back);
}

static void lookups_name_the_tensor_and_shapes(void)
{
    char path[128];
    path_in_dir(path, sizeof path, "lookup.ckpt");
    duo_checkpoint *ck;
    if (!unit_ok("write", write_sample(path, 1)) || !unit_ok("open", duo_checkpoint_open(path, &ck)))
        return;
    const void *data;
    uint64_t s35[] = {3, 5}, s12[] = {12}, s34[] = {3, 4};
    unit_fails("missing_tensor", duo_checkpoint_find(ck, "layers.0.wq", DUO_DTYPE_F32, 2, s34, &data),
               DUO_ERR_FORMAT, "tensor \"layers.0.wq\" is missing", "lookup.ckpt");
    unit_fails("wrong_shape", duo_checkpoint_find(ck, "f32.special", DUO_DTYPE_F32, 2, s35, &data),
               DUO_ERR_FORMAT, "is f32 (3, 4), expected f32 (3, 5)", "lookup.ckpt");
    unit_fails("wrong_rank", duo_checkpoint_find(ck, "f32.special", DUO_DTYPE_F32, 1, s12, &data),
               DUO_ERR_FORMAT, "expected f32 (12)", NULL);
    unit_fails("wrong_dtype", duo_checkpoint_find(ck, "f32.special", DUO_DTYPE_I32, 2, s34, &data),
               DUO_ERR_FORMAT, "is f32 (3, 4), expected i32 (3, 4)", NULL);
    unit_fails("scalar_is_not_a_vector", duo_checkpoint_get_u64(ck, "u64.words", &(uint64_t){0}),
               DUO_ERR_FORMAT, "expected u64 ()", NULL);
    float small[4];
    unit_fails("read_into_wrong_size", duo_checkpoint_read(ck, "f32.special", DUO_DTYPE_F32, 2, s34,
                                                           small, sizeof small),
               DUO_ERR_INVALID_ARGUMENT, "48 bytes", NULL);
    duo_checkpoint_close(ck);
}

static void every_truncation_is_refused(void)
{
    char cut[128];
    path_in_dir(cut, sizeof cut, "cut.ckpt");
    size_t size;
    uint8_t *bytes = sample_bytes("full.ckpt", &size);
    if (!bytes)
        return;
    int refused = 0;
    for (size_t n = 0; n < size; n++) {
        char name[64];
        snprintf(name, sizeof name, "truncated_to_%zu_of_%zu", n, size);
        if (unit_fails(name, open_bytes(cut, bytes, n), DUO_ERR_FORMAT, "truncated", "cut.ckpt"))
            refused++;
    }
    printf("        %d of %zu truncations refused as truncated\n", refused, size);
    free(bytes);
}

/* Which message a change at each offset must give. */
static const char *expected_for_offset(size_t i, size_t size)
{
    if (i < 8)
        return "not a duocl checkpoint";
    if (i < 12)
        return "is not supported";
    if (i < 16)
        return "unknown header flags";
    if (i >= size - 32 && i < size - 24)
        return "truncated";
    if (i >= size - 16 && i < size - 8)
        return "the file has";
    return "checksum mismatch";
}

static void every_byte_corruption_is_refused(void)
{
    char bad[128];
    path_in_dir(bad, sizeof bad, "bad.ckpt");
    size_t size;
    uint8_t *bytes = sample_bytes("good.ckpt", &size);
    if (!bytes)
        return;
    int refused = 0;
    for (size_t i = 0; i < size; i++) {
        for (int flip = 0; flip < 2; flip++) {
            unsigned char saved = bytes[i];
            bytes[i] ^= flip ? 0xff : 0x01;
            duo_status st = open_bytes(bad, bytes, size);
            bytes[i] = saved;
            char name[64];
            snprintf(name, sizeof name, "byte_%zu_flipped_%s", i, flip ? "0xff" : "0x01");
            if (unit_fails(name, st, DUO_ERR_FORMAT, expected_for_offset(i, size), "bad.ckpt"))
                refused++;
        }
    }
    printf("        %d of %zu corruptions refused with the expected message\n", refused, 2 * size);

    /* Extra bytes after a good file: the end marker is no longer at the end. */
    unsigned char *longer = malloc(size + 3);
    memcpy(longer, bytes, size);
    memcpy(longer + size, "xyz", 3);
    unit_fails("trailing_garbage", open_bytes(bad, longer, size + 3), DUO_ERR_FORMAT, "end marker",
               NULL);
    free(longer);
    free(bytes);
}

/* FNV-1a 64, written again here so the test does not trust the library's. */
static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

/* Past the checksum, the record parser must still never read out of bounds:
 * corrupt each byte of the body and of the trailer's tensor count, fix the
 * checksum up, and require either a
 * clean open (the byte was tensor data) or a "malformed" DUO_ERR_FORMAT. */
static void parser_survives_corruption_with_valid_checksum(void)
{
    char bad[128];
    path_in_dir(bad, sizeof bad, "body_bad.ckpt");
    size_t size;
    uint8_t *bytes = sample_bytes("body.ckpt", &size);
    if (!bytes)
        return;
    unit_check("checksum_is_fnv1a_of_all_before_it", fnv1a(bytes, size - 8) == (uint64_t)bytes[size - 8] +
               ((uint64_t)bytes[size - 7] << 8) + ((uint64_t)bytes[size - 6] << 16) +
               ((uint64_t)bytes[size - 5] << 24) + ((uint64_t)bytes[size - 4] << 32) +
               ((uint64_t)bytes[size - 3] << 40) + ((uint64_t)bytes[size - 2] << 48) +
               ((uint64_t)bytes[size - 1] << 56), "stored checksum is not FNV-1a 64");
    int opened = 0, malformed = 0;
    for (size_t i = 16; i < size - 16; i++) {
        if (i >= size - 32 && i < size - 24)
            continue; /* the end marker: checked before the checksum */
        for (int flip = 0; flip < 3; flip++) {
            unsigned char saved = bytes[i];
            bytes[i] ^= (unsigned char[]){0x01, 0x80, 0xff}[flip];
            uint64_t h = fnv1a(bytes, size - 8);
            unsigned char saved_sum[8];
            memcpy(saved_sum, bytes + size - 8, 8);
            for (int k = 0; k < 8; k++)
                bytes[size - 8 + k] = (unsigned char)(h >> (8 * k));
            duo_status st = open_bytes(bad, bytes, size);
            bytes[i] = saved;
            memcpy(bytes + size - 8, saved_sum, 8);
            char name[64];
            snprintf(name, sizeof name, "body_byte_%zu_changed", i);
            if (st == DUO_OK)
                opened++;
            else if (unit_fails(name, st, DUO_ERR_FORMAT, "malformed checkpoint at byte", "body_bad.ckpt"))
                malformed++;
        }
    }
    printf("        %d body changes opened (tensor data), %d refused as malformed\n", opened, malformed);
    free(bytes);
}

static void wrong_magic_and_version_are_explained(void)
{
    char path[128];
    path_in_dir(path, sizeof path, "other.bin");
    const char *text = "{\"this is\": \"a JSON file, not a checkpoint, but long enough to look like one\"}";
    unit_fails("wrong_magic", open_bytes(path, text, strlen(text)), DUO_ERR_FORMAT,
               "other.bin: not a duocl checkpoint", "DUOCLCKP");

    size_t size;
    uint8_t *bytes = sample_bytes("other.bin", &size);
    if (!bytes)
        return;
    bytes[8] = 2; /* version 2: a newer duocl */
    unit_fails("wrong_version", open_bytes(path, bytes, size), DUO_ERR_FORMAT,
               "checkpoint format version 2 is not supported", "reads version 1");
    unit_fails("empty_file", open_bytes(path, "", 0), DUO_ERR_FORMAT, "truncated: only 0 bytes", NULL);
    duo_checkpoint *ck = NULL;
    unit_fails("missing_file", duo_checkpoint_open("/nonexistent/x.ckpt", &ck), DUO_ERR_IO, "/nonexistent/x.ckpt",
               NULL);
    free(bytes);
}

static void writer_refuses_bad_tensors_and_leaves_old_file(void)
{
    char path[128], tmp[160];
    path_in_dir(path, sizeof path, "keep.ckpt");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!unit_ok("write_old", write_sample(path, 41)))
        return;
    float x[2] = {1, 2};
    struct { duo_tensor_desc t; const char *needle; } cases[] = {
        {{.name = "a", .dtype = (duo_dtype)9, .ndim = 1, .shape = {2}, .data = x}, "unknown dtype"},
        {{.name = "a", .dtype = DUO_DTYPE_F32, .ndim = 9, .shape = {2}, .data = x}, "ndim must be in [0, 8]"},
        {{.name = "", .dtype = DUO_DTYPE_F32, .ndim = 1, .shape = {2}, .data = x}, "name must be 1 to 255"},
        {{.name = "a", .dtype = DUO_DTYPE_F32, .ndim = 1, .shape = {2}, .data = NULL}, "data is NULL"},
        {{.name = "dup", .dtype = DUO_DTYPE_F32, .ndim = 1, .shape = {2}, .data = x}, "written twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        duo_checkpoint_writer *w;
        if (!unit_ok("open_writer", duo_checkpoint_writer_open(path, "{}", &w)))
            return;
        duo_tensor_desc dup = {.name = "dup", .dtype = DUO_DTYPE_F32, .ndim = 1, .shape = {2}, .data = x};
        unit_ok("add_first", duo_checkpoint_writer_add(w, &dup));
        unit_fails(cases[i].needle, duo_checkpoint_writer_add(w, &cases[i].t), DUO_ERR_INVALID_ARGUMENT,
                   cases[i].needle, NULL);
        unit_check("tmp_exists_while_writing", exists(tmp), "%s missing during the write", tmp);
        duo_checkpoint_writer_abort(w);
        unit_check("abort_removes_tmp", !exists(tmp), "%s left behind", tmp);
    }
    check_sample("old_checkpoint_intact_after_aborts", path, 41);
}

static void write_into_missing_directory_fails_cleanly(void)
{
    char path[128];
    path_in_dir(path, sizeof path, "no/such/dir/x.ckpt");
    unit_fails("missing_directory", duo_checkpoint_write(path, "{}", NULL, 0), DUO_ERR_IO,
               "no/such/dir/x.ckpt.tmp", "cannot create");
}

/* A write that fails half-way (the process's file-size limit is hit, as a
 * full disk would) reports DUO_ERR_IO, removes the temp file and leaves the
 * previous checkpoint readable. */
static void failed_write_leaves_old_checkpoint(void)
{
    char path[128], tmp[160];
    path_in_dir(path, sizeof path, "limited.ckpt");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!unit_ok("write_old", write_sample(path, 99)))
        return;
    size_t n = 1 << 20;
    float *big = calloc(n, sizeof *big);
    struct rlimit saved, limited;
    getrlimit(RLIMIT_FSIZE, &saved);
    limited = saved;
    limited.rlim_cur = 64 * 1024;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &limited);
    duo_tensor_desc t = {.name = "big", .dtype = DUO_DTYPE_F32, .ndim = 1, .shape = {n}, .data = big};
    duo_status st = duo_checkpoint_write(path, "{}", &t, 1);
    /* The same through the incremental writer: once a write failed, later
     * adds and the commit refuse instead of producing a file with a hole. */
    duo_checkpoint_writer *w = NULL;
    duo_status opened = duo_checkpoint_writer_open(path, "{}", &w);
    duo_status added = opened == DUO_OK ? duo_checkpoint_writer_add(w, &t) : opened;
    duo_status again = DUO_OK, committed = DUO_OK;
    if (opened == DUO_OK) {
        again = duo_checkpoint_writer_add_u64(w, "state.step", 1);
        committed = duo_checkpoint_writer_commit(w);
    }
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, old_handler);
    unit_fails("write_past_size_limit", st, DUO_ERR_IO, "limited.ckpt.tmp", NULL);
    unit_ok("writer_open_under_limit", opened);
    unit_fails("writer_add_past_size_limit", added, DUO_ERR_IO, "write failed", NULL);
    unit_check("add_after_failed_write_refused", again == DUO_ERR_IO, "got %s", duo_status_name(again));
    unit_fails("commit_after_failed_write_refused", committed, DUO_ERR_IO, "earlier write failed", NULL);
    unit_check("failed_write_removes_tmp", !exists(tmp), "%s left behind", tmp);
    check_sample("old_checkpoint_intact_after_failed_write", path, 99);
    free(big);
}

/* A writer killed before commit (a crash, SIGKILL) leaves at most a .tmp
 * beside the old checkpoint, which still reads as it was. */
static void killed_writer_leaves_old_checkpoint(void)
{
    char path[128];
    path_in_dir(path, sizeof path, "crash.ckpt");
    if (!unit_ok("write_old", write_sample(path, 5)))
        return;
    pid_t child = fork();
    if (child == 0) {
        duo_checkpoint_writer *w;
        float x[256] = {0};
        duo_tensor_desc t = {.name = "x", .dtype = DUO_DTYPE_F32, .ndim = 1, .shape = {256}, .data = x};
        if (duo_checkpoint_writer_open(path, "{\"new\": true}", &w) == DUO_OK)
            duo_checkpoint_writer_add(w, &t);
        raise(SIGKILL);
        _exit(3);
    }
    int status = 0;
    waitpid(child, &status, 0);
    unit_check("child_was_killed", WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %d", status);
    check_sample("old_checkpoint_intact_after_kill", path, 5);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/duocl_test_checkpoint_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    make_samples();
    printf("test_checkpoint (files in %s)\n", dir);
    UNIT_RUN(round_trip_is_bit_exact);
    UNIT_RUN(config_travels_in_the_checkpoint);
    UNIT_RUN(lookups_name_the_tensor_and_shapes);
    UNIT_RUN(every_truncation_is_refused);
    UNIT_RUN(every_byte_corruption_is_refused);
    UNIT_RUN(parser_survives_corruption_with_valid_checksum);
    UNIT_RUN(wrong_magic_and_version_are_explained);
    UNIT_RUN(writer_refuses_bad_tensors_and_leaves_old_file);
    UNIT_RUN(write_into_missing_directory_fails_cleanly);
    UNIT_RUN(failed_write_leaves_old_checkpoint);
    UNIT_RUN(killed_writer_leaves_old_checkpoint);
    int rc = unit_summary("test_checkpoint");
    if (rc == 0) {
        char command[128];
        snprintf(command, sizeof command, "rm -rf '%s'", dir);
        if (system(command) != 0)
            printf("could not remove %s\n", dir);
    }
    return rc;
}
