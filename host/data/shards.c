/* Token shards: the file format described in include/duocl/data.h. A shard
 * is a regular file of at most DUO_MAX_SHARD_BYTES (64 GiB). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duocl/data.h"
#include "duocl/tokenizer.h"
#include "base/error.h"
#include "base/fileio.h"
#include "tokenizer_internal.h"

static const char MAGIC[8] = {'D', 'U', 'O', 'C', 'L', 'T', 'O', 'K'};

struct duo_shard {
    char *path;
    duo_shard_info info;
    uint8_t *file;  /* the whole file; tokens start at DUO_SHARD_HEADER_BYTES */
};

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

duo_status duo_shard_write(const char *path, const int32_t *tokens, size_t count, uint32_t vocab,
                           uint64_t text_bytes, uint64_t fingerprint)
{
    if (vocab == 0 || vocab > (1u << 31))
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "shard '%s': vocab size %u is not allowed", path, vocab);
    uint32_t width = vocab <= 65536 ? 2 : 4;
    uint8_t header[DUO_SHARD_HEADER_BYTES] = {0};
    memcpy(header, MAGIC, sizeof MAGIC);
    put32(header + 8, DUO_SHARD_VERSION);
    put32(header + 12, DUO_SHARD_HEADER_BYTES);
    put32(header + 16, vocab);
    put32(header + 20, width);
    put64(header + 24, count);
    put64(header + 32, text_bytes);
    put64(header + 40, fingerprint);
    put32(header + 48, DUO_TOKEN_EOT);
    uint8_t *body = malloc(count * width + 1);
    if (!body)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "shard '%s': out of memory for %zu tokens", path, count);
    for (size_t i = 0; i < count; i++) {
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= vocab) {
            free(body);
            return duo_fail(DUO_ERR_INVALID_ARGUMENT, "shard '%s': token %zu is %d, outside [0, %u)",
                            path, i, (int)tokens[i], vocab);
        }
        uint32_t v = (uint32_t)tokens[i];
        if (width == 2) {
            body[2 * i] = (uint8_t)v;
            body[2 * i + 1] = (uint8_t)(v >> 8);
        } else {
            put32(body + 4 * i, v);
        }
    }
    const void *parts[] = {header, body};
    size_t sizes[] = {sizeof header, count * width};
    duo_status st = duo_write_file_atomic(path, "shard", parts, sizes, 2);
    free(body);
    return st;
}

/* Checks a header against the file's size; fills info. */
static duo_status parse_header(const char *path, const uint8_t *h, size_t file_size, duo_shard_info *info)
{
    if (file_size < DUO_SHARD_HEADER_BYTES)
        return duo_fail(DUO_ERR_FORMAT,
                        "shard '%s' is truncated: %zu bytes, shorter than the %d-byte header", path,
                        file_size, DUO_SHARD_HEADER_BYTES);
    if (memcmp(h, MAGIC, sizeof MAGIC) != 0)
        return duo_fail(DUO_ERR_FORMAT,
                        "shard '%s': wrong magic (not a duocl token shard; make shards with "
                        "'duocl prepare')", path);
    info->version = get32(h + 8);
    if (info->version != DUO_SHARD_VERSION)
        return duo_fail(DUO_ERR_FORMAT,
                        "shard '%s': version %u is not supported (this duocl reads version %d; "
                        "rerun 'duocl prepare')", path, info->version, DUO_SHARD_VERSION);
    if (get32(h + 12) != DUO_SHARD_HEADER_BYTES)
        return duo_fail(DUO_ERR_FORMAT, "shard '%s': header size %u, expected %d", path, get32(h + 12),
                        DUO_SHARD_HEADER_BYTES);
    info->vocab = get32(h + 16);
    info->token_width = get32(h + 20);
    info->tokens = get64(h + 24);
    info->text_bytes = get64(h + 32);
    info->fingerprint = get64(h + 40);
    info->eot_id = get32(h + 48);
    if (info->token_width != 2 && info->token_width != 4)
        return duo_fail(DUO_ERR_FORMAT, "shard '%s': token width %u, expected 2 or 4", path,
                        info->token_width);
    if (info->vocab == 0 || (info->token_width == 2 && info->vocab > 65536))
        return duo_fail(DUO_ERR_FORMAT, "shard '%s': vocab size %u does not fit token width %u",
                        path, info->vocab, info->token_width);
    if (info->eot_id >= info->vocab)
        return duo_fail(DUO_ERR_FORMAT, "shard '%s': end-of-text id %u is outside the vocabulary %u",
                        path, info->eot_id, info->vocab);
    /* The count is compared with what the file holds before any product, so
     * a count near 2^64 cannot wrap into a small size. */
    uint64_t room = (uint64_t)(file_size - DUO_SHARD_HEADER_BYTES) / info->token_width;
    if (info->tokens > room)
        return duo_fail(DUO_ERR_FORMAT,
                        "shard '%s' is truncated: the header says %llu tokens of %u bytes but the "
                        "file has %zu bytes, room for %llu", path, (unsigned long long)info->tokens,
                        info->token_width, file_size, (unsigned long long)room);
    uint64_t want = DUO_SHARD_HEADER_BYTES + info->tokens * info->token_width;
    if (file_size > want)
        return duo_fail(DUO_ERR_FORMAT,
                        "shard '%s': %zu bytes, but the header says %llu tokens (%llu bytes): "
                        "trailing data", path, file_size, (unsigned long long)info->tokens,
                        (unsigned long long)want);
    return DUO_OK;
}

static duo_status check_expected(const char *path, const duo_shard_info *info, uint32_t vocab,
                                 uint64_t fingerprint)
{
    if (vocab && info->vocab != vocab)
        return duo_fail(DUO_ERR_CONFIG,
                        "shard '%s' has vocabulary %u but %u was expected (shards made with "
                        "another tokenizer? rerun 'duocl prepare' or fix the config)",
                        path, info->vocab, vocab);
    if (fingerprint && info->fingerprint && info->fingerprint != fingerprint)
        return duo_fail(DUO_ERR_CONFIG,
                        "shard '%s' was made by another tokenizer (fingerprint %016llx, expected "
                        "%016llx) with the same vocabulary size; rerun 'duocl prepare'",
                        path, (unsigned long long)info->fingerprint, (unsigned long long)fingerprint);
    return DUO_OK;
}

duo_status duo_shard_read_info(const char *path, duo_shard_info *info)
{
    int fd;
    uint64_t size;
    duo_status st = duo_open_regular_file(path, "shard", DUO_MAX_SHARD_BYTES, &fd, &size);
    if (st == DUO_ERR_IO && access(path, F_OK) != 0)
        return duo_fail(DUO_ERR_IO, "shard '%s': cannot open (run 'duocl prepare' first?)", path);
    DUO_TRY(st);
    uint8_t h[DUO_SHARD_HEADER_BYTES];
    ssize_t got;
    do
        got = pread(fd, h, sizeof h, 0);
    while (got < 0 && errno == EINTR);
    int err = errno;
    close(fd);
    if (got < 0)
        return duo_fail(DUO_ERR_IO, "shard '%s': cannot read its header: %s", path, strerror(err));
    return parse_header(path, h, (size_t)got < sizeof h ? (size_t)got : (size_t)size, info);
}

duo_status duo_shard_open(const char *path, uint32_t expected_vocab, uint64_t expected_fingerprint,
                          duo_shard **out)
{
    *out = NULL;
    duo_shard_info info;
    DUO_TRY(duo_shard_read_info(path, &info));
    DUO_TRY(check_expected(path, &info, expected_vocab, expected_fingerprint));
    uint8_t *file;
    size_t size;
    DUO_TRY(duo_read_file(path, "shard", DUO_MAX_SHARD_BYTES, &file, &size));
    duo_status st = parse_header(path, file, size, &info); /* it may have changed since */
    const uint8_t *t = file + DUO_SHARD_HEADER_BYTES;
    for (uint64_t i = 0; st == DUO_OK && i < info.tokens; i++) {
        uint32_t v = info.token_width == 2 ? (uint32_t)t[2 * i] | (uint32_t)t[2 * i + 1] << 8
                                           : get32(t + 4 * i);
        if (v >= info.vocab)
            st = duo_fail(DUO_ERR_FORMAT, "shard '%s': token %llu is %u, outside the vocabulary %u",
                          path, (unsigned long long)i, v, info.vocab);
    }
    duo_shard *shard = st == DUO_OK ? calloc(1, sizeof *shard) : NULL;
    char *copy = shard ? malloc(strlen(path) + 1) : NULL;
    if (st == DUO_OK && !copy) {
        free(shard);
        st = duo_fail(DUO_ERR_OUT_OF_MEMORY, "shard '%s': out of memory", path);
    }
    if (st != DUO_OK) {
        free(file);
        return st;
    }
    strcpy(copy, path);
    shard->path = copy;
    shard->info = info;
    shard->file = file;
    *out = shard;
    return DUO_OK;
}

void duo_shard_close(duo_shard *shard)
{
    if (!shard)
        return;
    free(shard->path);
    free(shard->file);
    free(shard);
}

const duo_shard_info *duo_shard_get_info(const duo_shard *shard) { return &shard->info; }

const char *duo_shard_path(const duo_shard *shard) { return shard->path; }

duo_status duo_shard_read(const duo_shard *shard, uint64_t start, size_t count, int32_t *out)
{
    if (start > shard->info.tokens || count > shard->info.tokens - start)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "shard '%s': tokens [%llu, %llu) lie outside its %llu tokens", shard->path,
                        (unsigned long long)start, (unsigned long long)(start + count),
                        (unsigned long long)shard->info.tokens);
    const uint8_t *t = shard->file + DUO_SHARD_HEADER_BYTES;
    if (shard->info.token_width == 2) {
        t += 2 * start;
        for (size_t i = 0; i < count; i++)
            out[i] = (int32_t)((uint32_t)t[2 * i] | (uint32_t)t[2 * i + 1] << 8);
    } else {
        t += 4 * start;
        for (size_t i = 0; i < count; i++)
            out[i] = (int32_t)get32(t + 4 * i);
    }
    return DUO_OK;
}

double duo_shard_bytes_per_token(const duo_shard *shard)
{
    return shard->info.tokens ? (double)shard->info.text_bytes / (double)shard->info.tokens : 0.0;
}

duo_status duo_shard_filename(const char *dir, const char *domain, const char *split, char *buf,
                              size_t size)
{
    int n = snprintf(buf, size, "%s/%s.%s.tok", dir, domain, split);
    if (n < 0 || (size_t)n >= size)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "shard path '%s/%s.%s.tok' is too long", dir,
                        domain, split);
    return DUO_OK;
}

uint64_t duo_val_window_count(const duo_shard *shard, int ctx)
{
    if (ctx <= 0 || shard->info.tokens < (uint64_t)ctx + 1)
        return 0;
    return (shard->info.tokens - 1) / (uint64_t)ctx;
}

duo_status duo_val_window(const duo_shard *shard, int ctx, uint64_t i, int32_t *tokens)
{
    if (i >= duo_val_window_count(shard, ctx))
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "shard '%s': validation window %llu of ctx %d is past its last (%llu windows)",
                        shard->path, (unsigned long long)i, ctx,
                        (unsigned long long)duo_val_window_count(shard, ctx));
    return duo_shard_read(shard, i * (uint64_t)ctx, (size_t)ctx + 1, tokens);
}
