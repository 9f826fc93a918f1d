/* Checkpoint files: streamed, checksummed writer with temp-file + rename, and
 * a reader that verifies the whole file before handing out any tensor. The
 * format is described in include/duocl/checkpoint.h. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "duocl/checkpoint.h"
#include "error.h"
#include "fileio.h"
#include "hash.h"

static const char MAGIC[8] = {'D', 'U', 'O', 'C', 'L', 'C', 'K', 'P'};
static const char END_MAGIC[8] = {'D', 'U', 'O', 'C', 'L', 'E', 'N', 'D'};
static const char TENSOR_TAG[4] = {'T', 'N', 'S', 'R'};
enum { HEADER_BYTES = 16, TRAILER_BYTES = 32 };

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static void put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static uint16_t get_u16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

const char *duo_dtype_name(duo_dtype dtype)
{
    switch (dtype) {
    case DUO_DTYPE_F32: return "f32";
    case DUO_DTYPE_U8: return "u8";
    case DUO_DTYPE_I32: return "i32";
    case DUO_DTYPE_U64: return "u64";
    }
    return "?";
}

size_t duo_dtype_size(duo_dtype dtype)
{
    switch (dtype) {
    case DUO_DTYPE_F32: return 4;
    case DUO_DTYPE_U8: return 1;
    case DUO_DTYPE_I32: return 4;
    case DUO_DTYPE_U64: return 8;
    }
    return 0;
}

/* Bytes of a tensor; false if a dimension or the product overflows. */
static bool tensor_bytes(duo_dtype dtype, int ndim, const uint64_t *shape, uint64_t *out)
{
    uint64_t n = duo_dtype_size(dtype);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] != 0 && n > UINT64_MAX / shape[i])
            return false;
        n *= shape[i];
    }
    *out = n;
    return true;
}

/* "(32, 64)" or "()" for a scalar. */
static void format_shape(int ndim, const uint64_t *shape, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%llu", i ? ", " : "",
                                 (unsigned long long)shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, ")");
}

/* ---- writer ------------------------------------------------------------- */

struct duo_checkpoint_writer {
    FILE *file;
    char *path;
    char *tmp_path;
    uint64_t hash;
    uint64_t offset;
    uint64_t count;
    char **names;   /* written so far, in order */
    size_t names_capacity;
    /* The same names as an open-addressing hash set (index + 1 into names;
     * 0 is an empty slot), so refusing a duplicate costs O(1) per tensor. */
    size_t *slots;
    size_t slot_count; /* a power of two, at least twice count */
    bool broken;    /* a write failed: the file is unusable, only abort is allowed */
};

static duo_status emit(duo_checkpoint_writer *w, const void *data, size_t n)
{
    if (n == 0)
        return DUO_OK;
    if (fwrite(data, 1, n, w->file) != n) {
        w->broken = true;
        return duo_fail(DUO_ERR_IO, "%s: write failed: %s", w->tmp_path, strerror(errno));
    }
    w->hash = duo_fnv1a(w->hash, data, n);
    w->offset += n;
    return DUO_OK;
}

static duo_status emit_pad(duo_checkpoint_writer *w)
{
    static const unsigned char zeros[8];
    return emit(w, zeros, (size_t)((8 - w->offset % 8) % 8));
}

static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c)
        memcpy(c, s, n);
    return c;
}

/* The slot of name in the writer's set: where it is, or the empty slot
 * where it would go (*found false). */
static size_t name_slot(const duo_checkpoint_writer *w, const char *name, bool *found)
{
    size_t mask = w->slot_count - 1;
    size_t i = (size_t)duo_fnv1a_text(DUO_FNV_OFFSET, name) & mask;
    for (; w->slots[i]; i = (i + 1) & mask)
        if (strcmp(w->names[w->slots[i] - 1], name) == 0) {
            *found = true;
            return i;
        }
    *found = false;
    return i;
}

/* Room in the set for one more name (load at most 1/2). */
static bool reserve_slot(duo_checkpoint_writer *w)
{
    if (2 * (w->count + 1) <= w->slot_count)
        return true;
    size_t count = w->slot_count ? 2 * w->slot_count : 128;
    size_t *slots = calloc(count, sizeof *slots);
    if (!slots)
        return false;
    free(w->slots);
    w->slots = slots;
    w->slot_count = count;
    bool found;
    for (size_t i = 0; i < w->count; i++)
        w->slots[name_slot(w, w->names[i], &found)] = i + 1;
    return true;
}

static void writer_free(duo_checkpoint_writer *w)
{
    for (uint64_t i = 0; i < w->count; i++)
        free(w->names[i]);
    free(w->names);
    free(w->slots);
    free(w->path);
    free(w->tmp_path);
    free(w);
}

duo_status duo_checkpoint_writer_open(const char *path, const char *config_json,
                                      duo_checkpoint_writer **out)
{
    if (!path || !*path || !config_json || !out)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "duo_checkpoint_writer_open: path, config_json and out must be given");
    if (!host_is_little_endian())
        return duo_fail(DUO_ERR_FORMAT, "%s: checkpoints are little-endian and this host is not",
                        path);
    duo_checkpoint_writer *w = calloc(1, sizeof *w);
    if (!w)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory opening checkpoint %s", path);
    size_t n = strlen(path);
    w->path = copy_string(path);
    w->tmp_path = malloc(n + 5);
    if (!w->path || !w->tmp_path) {
        writer_free(w);
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory opening checkpoint %s", path);
    }
    memcpy(w->tmp_path, path, n);
    memcpy(w->tmp_path + n, ".tmp", 5);
    /* As duo_write_file_atomic: a stale PATH.tmp of any kind goes first, so
     * the create below makes a fresh regular file and never opens a FIFO. */
    if (unlink(w->tmp_path) != 0 && errno != ENOENT) {
        duo_status st = duo_fail(DUO_ERR_IO, "%s: cannot remove the stale temporary file: %s",
                                 w->tmp_path, strerror(errno));
        writer_free(w);
        return st;
    }
    int fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    w->file = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!w->file) {
        duo_status st = duo_fail(DUO_ERR_IO, "%s: cannot create the checkpoint's temporary file: %s",
                                 w->tmp_path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            remove(w->tmp_path);
        }
        writer_free(w);
        return st;
    }
    w->hash = DUO_FNV_OFFSET;

    unsigned char header[HEADER_BYTES + 8];
    memcpy(header, MAGIC, 8);
    put_u32(header + 8, DUO_CHECKPOINT_VERSION);
    put_u32(header + 12, 0);
    size_t config_length = strlen(config_json);
    put_u64(header + 16, config_length);
    duo_status st = emit(w, header, sizeof header);
    if (st == DUO_OK)
        st = emit(w, config_json, config_length);
    if (st == DUO_OK)
        st = emit_pad(w);
    if (st != DUO_OK) {
        duo_checkpoint_writer_abort(w);
        return st;
    }
    *out = w;
    return DUO_OK;
}

duo_status duo_checkpoint_writer_add(duo_checkpoint_writer *w, const duo_tensor_desc *t)
{
    if (!w || !t)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_checkpoint_writer_add: NULL argument");
    if (w->broken)
        return duo_fail(DUO_ERR_IO, "%s: an earlier write failed; the writer can only be aborted",
                        w->tmp_path);
    size_t name_length = t->name ? strlen(t->name) : 0;
    if (name_length == 0 || name_length > DUO_TENSOR_NAME_MAX)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "%s: tensor name must be 1 to %d bytes, got %zu",
                        w->path, DUO_TENSOR_NAME_MAX, name_length);
    if (duo_dtype_size(t->dtype) == 0)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "%s: tensor \"%s\": unknown dtype %d", w->path,
                        t->name, (int)t->dtype);
    if (t->ndim < 0 || t->ndim > DUO_TENSOR_MAX_DIMS)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "%s: tensor \"%s\": ndim must be in [0, %d], got %d",
                        w->path, t->name, DUO_TENSOR_MAX_DIMS, t->ndim);
    uint64_t bytes;
    if (!tensor_bytes(t->dtype, t->ndim, t->shape, &bytes) || bytes > (uint64_t)SIZE_MAX)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "%s: tensor \"%s\": shape too large", w->path,
                        t->name);
    if (bytes > 0 && !t->data)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "%s: tensor \"%s\": data is NULL", w->path, t->name);
    if (!reserve_slot(w))
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%s: out of memory", w->path);
    bool found;
    size_t slot = name_slot(w, t->name, &found);
    if (found)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "%s: tensor \"%s\" written twice", w->path,
                        t->name);
    if (w->count == w->names_capacity) {
        size_t capacity = w->names_capacity ? 2 * w->names_capacity : 64;
        char **grown = realloc(w->names, capacity * sizeof *grown);
        if (!grown)
            return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%s: out of memory", w->path);
        w->names = grown;
        w->names_capacity = capacity;
    }
    char *name_copy = copy_string(t->name);
    if (!name_copy)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%s: out of memory", w->path);

    unsigned char head[8];
    memcpy(head, TENSOR_TAG, 4);
    head[4] = (unsigned char)t->dtype;
    head[5] = (unsigned char)t->ndim;
    put_u16(head + 6, (uint16_t)name_length);
    unsigned char dims[8 * (DUO_TENSOR_MAX_DIMS + 1)];
    for (int i = 0; i < t->ndim; i++)
        put_u64(dims + 8 * i, t->shape[i]);
    put_u64(dims + 8 * t->ndim, bytes);
    duo_status st = emit(w, head, sizeof head);
    if (st == DUO_OK)
        st = emit(w, t->name, name_length);
    if (st == DUO_OK)
        st = emit_pad(w);
    if (st == DUO_OK)
        st = emit(w, dims, 8 * ((size_t)t->ndim + 1));
    if (st == DUO_OK)
        st = emit(w, t->data, (size_t)bytes);
    if (st == DUO_OK)
        st = emit_pad(w);
    if (st != DUO_OK) {
        free(name_copy);
        return st;
    }
    w->names[w->count++] = name_copy;
    w->slots[slot] = (size_t)w->count;
    return DUO_OK;
}

duo_status duo_checkpoint_writer_add_u64(duo_checkpoint_writer *w, const char *name, uint64_t value)
{
    duo_tensor_desc t = {.name = name, .dtype = DUO_DTYPE_U64, .ndim = 0, .data = &value};
    return duo_checkpoint_writer_add(w, &t);
}

void duo_checkpoint_writer_abort(duo_checkpoint_writer *w)
{
    if (!w)
        return;
    if (w->file)
        fclose(w->file);
    remove(w->tmp_path);
    writer_free(w);
}

duo_status duo_checkpoint_writer_commit(duo_checkpoint_writer *w)
{
    if (!w)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_checkpoint_writer_commit: NULL writer");
    if (w->broken) {
        duo_status st = duo_fail(DUO_ERR_IO, "%s: an earlier write failed; not committing",
                                 w->tmp_path);
        duo_checkpoint_writer_abort(w);
        return st;
    }
    unsigned char trailer[TRAILER_BYTES];
    memcpy(trailer, END_MAGIC, 8);
    put_u64(trailer + 8, w->count);
    put_u64(trailer + 16, w->offset + TRAILER_BYTES);
    duo_status st = emit(w, trailer, 24);
    if (st == DUO_OK) {
        put_u64(trailer + 24, w->hash);
        st = emit(w, trailer + 24, 8);
    }
    if (st == DUO_OK && fflush(w->file) != 0)
        st = duo_fail(DUO_ERR_IO, "%s: flush failed: %s", w->tmp_path, strerror(errno));
    if (st == DUO_OK && fsync(fileno(w->file)) != 0)
        st = duo_fail(DUO_ERR_IO, "%s: fsync failed: %s", w->tmp_path, strerror(errno));
    if (st != DUO_OK) {
        duo_checkpoint_writer_abort(w);
        return st;
    }
    int closed = fclose(w->file);
    w->file = NULL;
    if (closed != 0) {
        st = duo_fail(DUO_ERR_IO, "%s: close failed: %s", w->tmp_path, strerror(errno));
        duo_checkpoint_writer_abort(w);
        return st;
    }
    if (rename(w->tmp_path, w->path) != 0) {
        st = duo_fail(DUO_ERR_IO, "cannot rename %s to %s: %s", w->tmp_path, w->path, strerror(errno));
        duo_checkpoint_writer_abort(w);
        return st;
    }
    duo_sync_parent_directory(w->path);
    writer_free(w);
    return DUO_OK;
}

duo_status duo_checkpoint_write(const char *path, const char *config_json,
                                const duo_tensor_desc *tensors, size_t n_tensors)
{
    if (n_tensors > 0 && !tensors)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_checkpoint_write: tensors is NULL");
    duo_checkpoint_writer *w;
    DUO_TRY(duo_checkpoint_writer_open(path, config_json, &w));
    for (size_t i = 0; i < n_tensors; i++) {
        duo_status st = duo_checkpoint_writer_add(w, &tensors[i]);
        if (st != DUO_OK) {
            duo_checkpoint_writer_abort(w);
            return st;
        }
    }
    return duo_checkpoint_writer_commit(w);
}

/* ---- reader ------------------------------------------------------------- */

struct duo_checkpoint {
    char *path;
    unsigned char *bytes; /* the whole file */
    size_t size;
    char *config;         /* NUL-terminated copy */
    size_t count;
    duo_tensor_desc *tensors;
    char **names;         /* NUL-terminated copies, tensors[i].name points here */
    const duo_tensor_desc **by_name; /* the tensors sorted by name, for lookups */
};

void duo_checkpoint_close(duo_checkpoint *ck)
{
    if (!ck)
        return;
    for (size_t i = 0; i < ck->count; i++)
        free(ck->names[i]);
    free(ck->names);
    free(ck->by_name);
    free(ck->tensors);
    free(ck->config);
    free(ck->bytes);
    free(ck->path);
    free(ck);
}

static duo_status read_whole_file(duo_checkpoint *ck)
{
    uint8_t *bytes;
    DUO_TRY(duo_read_file(ck->path, "checkpoint", DUO_MAX_CHECKPOINT_BYTES, &bytes, &ck->size));
    ck->bytes = bytes;
    return DUO_OK;
}

/* The fixed parts: magic, version, end marker, size, checksum. */
static duo_status verify_envelope(const duo_checkpoint *ck)
{
    const unsigned char *b = ck->bytes;
    const char *path = ck->path;
    if (ck->size >= 8 && memcmp(b, MAGIC, 8) != 0)
        return duo_fail(DUO_ERR_FORMAT, "%s: not a duocl checkpoint (the file does not start with "
                        "\"DUOCLCKP\")", path);
    if (ck->size < HEADER_BYTES + 8 + TRAILER_BYTES)
        return duo_fail(DUO_ERR_FORMAT, "%s: truncated: only %zu bytes, a checkpoint has at least %d",
                        path, ck->size, HEADER_BYTES + 8 + TRAILER_BYTES);
    uint32_t version = get_u32(b + 8);
    if (version != DUO_CHECKPOINT_VERSION)
        return duo_fail(DUO_ERR_FORMAT, "%s: checkpoint format version %u is not supported; this "
                        "duocl reads version %d (use the duocl that wrote it)",
                        path, version, DUO_CHECKPOINT_VERSION);
    uint32_t flags = get_u32(b + 12);
    if (flags != 0)
        return duo_fail(DUO_ERR_FORMAT, "%s: unknown header flags 0x%x (version 1 has none)", path,
                        flags);
    const unsigned char *trailer = b + ck->size - TRAILER_BYTES;
    if (memcmp(trailer, END_MAGIC, 8) != 0)
        return duo_fail(DUO_ERR_FORMAT, "%s: truncated: the file (%zu bytes) does not end with the "
                        "end marker; it was cut short or not completely written",
                        path, ck->size);
    uint64_t recorded_size = get_u64(trailer + 16);
    if (recorded_size != ck->size)
        return duo_fail(DUO_ERR_FORMAT, "%s: %s: the file has %zu bytes, its trailer says %llu",
                        path, recorded_size > ck->size ? "truncated" : "wrong size", ck->size,
                        (unsigned long long)recorded_size);
    uint64_t stored = get_u64(trailer + 24);
    uint64_t computed = duo_fnv1a(DUO_FNV_OFFSET, b, ck->size - 8);
    if (stored != computed)
        return duo_fail(DUO_ERR_FORMAT, "%s: checksum mismatch (stored %016llx, computed %016llx): "
                        "the file is corrupted",
                        path, (unsigned long long)stored, (unsigned long long)computed);
    return DUO_OK;
}

/* A bounds-checked cursor over [pos, end). */
typedef struct cursor {
    const unsigned char *base;
    size_t pos, end;
} cursor;

static bool take(cursor *c, size_t n, const unsigned char **out)
{
    if (n > c->end - c->pos)
        return false;
    *out = c->base + c->pos;
    c->pos += n;
    return true;
}

static bool skip_pad(cursor *c)
{
    const unsigned char *p;
    size_t n = (8 - c->pos % 8) % 8;
    if (!take(c, n, &p))
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

static duo_status malformed(const duo_checkpoint *ck, size_t at, const char *what)
{
    return duo_fail(DUO_ERR_FORMAT, "%s: malformed checkpoint at byte %zu: %s", ck->path, at, what);
}

/* Tensor records from c's position to its end; record_at[i] gets the offset
 * of record i. */
static duo_status parse_tensors(duo_checkpoint *ck, cursor c, uint64_t expected, size_t *record_at)
{
    const unsigned char *p;
    while (c.pos < c.end) {
        size_t at = c.pos;
        if (ck->count == expected)
            return malformed(ck, at, "more tensors than the trailer counts");
        if (!take(&c, 8, &p) || memcmp(p, TENSOR_TAG, 4) != 0)
            return malformed(ck, at, "expected a tensor record (\"TNSR\")");
        duo_tensor_desc *t = &ck->tensors[ck->count];
        t->dtype = (duo_dtype)p[4];
        t->ndim = p[5];
        size_t name_length = get_u16(p + 6);
        if (duo_dtype_size(t->dtype) == 0)
            return malformed(ck, at, "unknown dtype");
        if (t->ndim > DUO_TENSOR_MAX_DIMS)
            return malformed(ck, at, "too many dimensions");
        if (name_length == 0 || name_length > DUO_TENSOR_NAME_MAX || !take(&c, name_length, &p) ||
            memchr(p, 0, name_length))
            return malformed(ck, at, "bad tensor name");
        char *name = malloc(name_length + 1);
        if (!name)
            return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%s: out of memory", ck->path);
        memcpy(name, p, name_length);
        name[name_length] = '\0';
        ck->names[ck->count] = name;
        t->name = name;
        ck->count++; /* owns the name now, whatever happens next */
        if (!skip_pad(&c) || !take(&c, 8 * ((size_t)t->ndim + 1), &p))
            return malformed(ck, at, "the tensor header runs past the end");
        for (int i = 0; i < t->ndim; i++)
            t->shape[i] = get_u64(p + 8 * i);
        uint64_t bytes = get_u64(p + 8 * t->ndim), want;
        if (!tensor_bytes(t->dtype, t->ndim, t->shape, &want) || want != bytes)
            return malformed(ck, at, "the data size does not match the shape");
        if (bytes > c.end - c.pos || !take(&c, (size_t)bytes, &p))
            return malformed(ck, at, "the tensor data runs past the end");
        t->data = p;
        if (!skip_pad(&c))
            return malformed(ck, c.pos, "bad padding after tensor data");
        record_at[ck->count - 1] = at;
    }
    if (ck->count != expected)
        return malformed(ck, c.pos, "fewer tensors than the trailer counts");
    return DUO_OK;
}

static int compare_by_name(const void *a, const void *b)
{
    const duo_tensor_desc *x = *(const duo_tensor_desc *const *)a, *y = *(const duo_tensor_desc *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x > y) - (x < y); /* equal names in file order */
}

/* Sorts the tensors by name (O(n log n), where comparing each with every
 * other took 12 s for 80k tensors) and refuses a name that appears twice,
 * at the first record in file order that repeats an earlier name. */
static duo_status index_names(duo_checkpoint *ck, const size_t *record_at)
{
    ck->by_name = malloc((ck->count ? ck->count : 1) * sizeof *ck->by_name);
    if (!ck->by_name)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%s: out of memory", ck->path);
    for (size_t i = 0; i < ck->count; i++)
        ck->by_name[i] = &ck->tensors[i];
    qsort(ck->by_name, ck->count, sizeof *ck->by_name, compare_by_name);
    size_t repeat = SIZE_MAX;
    for (size_t i = 1; i < ck->count; i++)
        if (strcmp(ck->by_name[i - 1]->name, ck->by_name[i]->name) == 0) {
            size_t at = record_at[ck->by_name[i] - ck->tensors];
            repeat = at < repeat ? at : repeat;
        }
    if (repeat != SIZE_MAX)
        return malformed(ck, repeat, "a tensor name appears twice");
    return DUO_OK;
}

static duo_status parse_records(duo_checkpoint *ck)
{
    cursor c = {ck->bytes, HEADER_BYTES, ck->size - TRAILER_BYTES};
    const unsigned char *p;
    if (!take(&c, 8, &p))
        return malformed(ck, c.pos, "no config length");
    uint64_t config_length = get_u64(p);
    if (config_length > c.end - c.pos || !take(&c, (size_t)config_length, &p))
        return malformed(ck, c.pos, "the config runs past the end");
    if (memchr(p, 0, (size_t)config_length))
        return malformed(ck, c.pos, "the config text contains a NUL byte");
    ck->config = malloc((size_t)config_length + 1);
    if (!ck->config)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%s: out of memory", ck->path);
    memcpy(ck->config, p, (size_t)config_length);
    ck->config[config_length] = '\0';
    if (!skip_pad(&c))
        return malformed(ck, c.pos, "bad padding after the config");

    uint64_t expected = get_u64(ck->bytes + ck->size - TRAILER_BYTES + 8);
    /* Each record takes at least 24 bytes: bound the allocation by the file. */
    if (expected > (c.end - c.pos) / 24)
        return malformed(ck, ck->size - TRAILER_BYTES + 8, "the tensor count is impossible");
    ck->tensors = calloc(expected ? expected : 1, sizeof *ck->tensors);
    ck->names = calloc(expected ? expected : 1, sizeof *ck->names);
    if (!ck->tensors || !ck->names)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%s: out of memory", ck->path);

    /* Where each record starts, for the duplicate-name message. */
    size_t *record_at = malloc((expected ? expected : 1) * sizeof *record_at);
    if (!record_at)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "%s: out of memory", ck->path);
    duo_status st = parse_tensors(ck, c, expected, record_at);
    if (st == DUO_OK)
        st = index_names(ck, record_at);
    free(record_at);
    return st;
}

duo_status duo_checkpoint_open(const char *path, duo_checkpoint **out)
{
    if (!path || !out)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_checkpoint_open: path and out must be given");
    if (!host_is_little_endian())
        return duo_fail(DUO_ERR_FORMAT, "%s: checkpoints are little-endian and this host is not",
                        path);
    duo_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck || !(ck->path = copy_string(path))) {
        free(ck);
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory opening %s", path);
    }
    duo_status st = read_whole_file(ck);
    if (st == DUO_OK)
        st = verify_envelope(ck);
    if (st == DUO_OK)
        st = parse_records(ck);
    if (st != DUO_OK) {
        duo_checkpoint_close(ck);
        return st;
    }
    *out = ck;
    return DUO_OK;
}

const char *duo_checkpoint_config_json(const duo_checkpoint *ck) { return ck->config; }

const char *duo_checkpoint_path(const duo_checkpoint *ck) { return ck->path; }

size_t duo_checkpoint_tensor_count(const duo_checkpoint *ck) { return ck->count; }

duo_status duo_checkpoint_tensor_at(const duo_checkpoint *ck, size_t index, duo_tensor_desc *out)
{
    if (!ck || !out || index >= ck->count)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_checkpoint_tensor_at: index %zu of %zu",
                        index, ck ? ck->count : 0);
    *out = ck->tensors[index];
    return DUO_OK;
}

static int compare_name_to_tensor(const void *name, const void *tensor)
{
    return strcmp(name, (*(const duo_tensor_desc *const *)tensor)->name);
}

duo_status duo_checkpoint_find(const duo_checkpoint *ck, const char *name, duo_dtype dtype,
                               int ndim, const uint64_t *shape, const void **data)
{
    if (!ck || !name || !data || ndim < 0 || ndim > DUO_TENSOR_MAX_DIMS || (ndim > 0 && !shape))
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "duo_checkpoint_find: bad arguments");
    const duo_tensor_desc *const *hit =
        bsearch(name, ck->by_name, ck->count, sizeof *ck->by_name, compare_name_to_tensor);
    const duo_tensor_desc *t = hit ? *hit : NULL;
    if (!t)
        return duo_fail(DUO_ERR_FORMAT, "%s: tensor \"%s\" is missing (the checkpoint has %zu "
                        "tensors; was it written for another model?)",
                        ck->path, name, ck->count);
    bool same = t->dtype == dtype && t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char have[200], want[200];
        format_shape(t->ndim, t->shape, have, sizeof have);
        format_shape(ndim, shape, want, sizeof want);
        return duo_fail(DUO_ERR_FORMAT, "%s: tensor \"%s\" is %s %s, expected %s %s (was the "
                        "checkpoint written with another config?)",
                        ck->path, name, duo_dtype_name(t->dtype), have, duo_dtype_name(dtype), want);
    }
    *data = t->data;
    return DUO_OK;
}

duo_status duo_checkpoint_read(const duo_checkpoint *ck, const char *name, duo_dtype dtype,
                               int ndim, const uint64_t *shape, void *dst, size_t dst_bytes)
{
    const void *data;
    DUO_TRY(duo_checkpoint_find(ck, name, dtype, ndim, shape, &data));
    uint64_t bytes = 0;
    tensor_bytes(dtype, ndim, shape, &bytes);
    if (bytes != dst_bytes || (bytes > 0 && !dst))
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "%s: tensor \"%s\" has %llu bytes, the "
                        "destination %zu", ck->path, name, (unsigned long long)bytes, dst_bytes);
    if (bytes > 0)
        memcpy(dst, data, (size_t)bytes);
    return DUO_OK;
}

duo_status duo_checkpoint_get_u64(const duo_checkpoint *ck, const char *name, uint64_t *value)
{
    const void *data;
    DUO_TRY(duo_checkpoint_find(ck, name, DUO_DTYPE_U64, 0, NULL, &data));
    memcpy(value, data, sizeof *value);
    return DUO_OK;
}
