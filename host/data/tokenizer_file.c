/* Tokenizer files (JSON, format in include/duocl/tokenizer.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/error.h"
#include "base/fileio.h"
#include "tokenizer_internal.h"

#define FORMAT_NAME "duocl-tokenizer"
#define PRE_SPLIT_NAME "bytes-gpt2-v1"

/* ------------------------------------------------------------ loading */

static duo_status bad(const char *path, const char *field, const char *fmt, const char *detail)
{
    char message[512];
    snprintf(message, sizeof message, fmt, detail ? detail : "");
    return duo_fail(DUO_ERR_FORMAT, "tokenizer file '%s': field '%s': %s", path, field, message);
}

static bool is_integer(const cJSON *item, double lo, double hi)
{
    return cJSON_IsNumber(item) && item->valuedouble == floor(item->valuedouble) &&
           item->valuedouble >= lo && item->valuedouble <= hi;
}

static const char *const ALLOWED_KEYS[] = {"format", "version", "kind", "vocab_size", "eot_id",
                                           "pre_split", "max_chunk", "merges", "trained_on"};

static duo_status check_keys(const char *path, const cJSON *root)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof ALLOWED_KEYS / sizeof *ALLOWED_KEYS; i++)
            known = known || strcmp(item->string, ALLOWED_KEYS[i]) == 0;
        if (!known)
            return bad(path, item->string,
                       "unknown key (allowed: format, version, kind, vocab_size, eot_id, "
                       "pre_split, max_chunk, merges, trained_on)%s", "");
    }
    return DUO_OK;
}

/* Checks the merges array and fills merges[2 * i]; ids must be earlier ids,
 * not end-of-text, each pair new, each token at most DUO_BPE_MAX_CHUNK bytes. */
static duo_status read_merges(const char *path, const cJSON *array, int n_merges, int32_t *merges)
{
    size_t n_ids = DUO_TOKEN_FIRST_MERGE + (size_t)n_merges;
    uint8_t *length = malloc(n_ids);
    size_t capacity = 16;
    while (capacity < 2 * (size_t)n_merges + 16)
        capacity *= 2;
    uint64_t *seen = calloc(capacity, sizeof *seen);
    if (!length || !seen) {
        free(length);
        free(seen);
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "tokenizer file '%s': out of memory", path);
    }
    memset(length, 1, DUO_TOKEN_FIRST_MERGE);
    duo_status st = DUO_OK;
    int i = 0;
    const cJSON *pair;
    char field[64];
    cJSON_ArrayForEach(pair, array)
    {
        snprintf(field, sizeof field, "merges[%d]", i);
        int id = DUO_TOKEN_FIRST_MERGE + i;
        const cJSON *l = cJSON_GetArrayItem(pair, 0), *r = cJSON_GetArrayItem(pair, 1);
        if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2 || !l || !r) {
            st = bad(path, field, "expected a pair [left, right] of token ids%s", "");
            break;
        }
        char detail[160];
        snprintf(detail, sizeof detail, "%d", id);
        if (!is_integer(l, 0, id - 1) || !is_integer(r, 0, id - 1)) {
            st = bad(path, field, "ids must be integers below this merge's own id %s", detail);
            break;
        }
        int32_t left = (int32_t)l->valuedouble, right = (int32_t)r->valuedouble;
        if (left == DUO_TOKEN_EOT || right == DUO_TOKEN_EOT) {
            st = bad(path, field, "end-of-text (256) never merges%s", "");
            break;
        }
        if (length[left] + length[right] > DUO_BPE_MAX_CHUNK) {
            snprintf(detail, sizeof detail, "%d", length[left] + length[right]);
            st = bad(path, field, "the token would be %s bytes, longer than max_chunk (64)", detail);
            break;
        }
        length[id] = (uint8_t)(length[left] + length[right]);
        uint64_t key = ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1;
        size_t s = (size_t)(key * 0x9e3779b97f4a7c15ULL >> 20) & (capacity - 1);
        while (seen[s] && seen[s] != key)
            s = (s + 1) & (capacity - 1);
        if (seen[s] == key) {
            snprintf(detail, sizeof detail, "[%d, %d]", left, right);
            st = bad(path, field, "the pair %s is merged twice", detail);
            break;
        }
        seen[s] = key;
        merges[2 * i] = left;
        merges[2 * i + 1] = right;
        i++;
    }
    free(length);
    free(seen);
    return st;
}

static duo_status parse_tokenizer(const char *path, const cJSON *root, duo_tokenizer **out)
{
    if (!cJSON_IsObject(root))
        return duo_fail(DUO_ERR_FORMAT, "tokenizer file '%s': expected a JSON object", path);
    DUO_TRY(check_keys(path, root));
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsString(format) || strcmp(format->valuestring, FORMAT_NAME) != 0)
        return bad(path, "format", "expected \"" FORMAT_NAME "\"%s (is this a duocl tokenizer file?)",
                   "");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!is_integer(version, 1, 1e9))
        return bad(path, "version", "expected a positive integer%s", "");
    if ((int)version->valuedouble != DUO_TOKENIZER_VERSION) {
        char detail[64];
        snprintf(detail, sizeof detail, "%d", (int)version->valuedouble);
        return bad(path, "version",
                   "version %s is not supported (this duocl reads version 1; retrain or use a "
                   "matching duocl)", detail);
    }
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    duo_tokenizer_kind k;
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "byte") == 0)
        k = DUO_TOKENIZER_BYTE;
    else if (cJSON_IsString(kind) && strcmp(kind->valuestring, "bpe") == 0)
        k = DUO_TOKENIZER_BPE;
    else
        return bad(path, "kind", "expected \"byte\" or \"bpe\"%s", "");
    const cJSON *eot = cJSON_GetObjectItemCaseSensitive(root, "eot_id");
    if (!is_integer(eot, DUO_TOKEN_EOT, DUO_TOKEN_EOT))
        return bad(path, "eot_id", "expected 256%s", "");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_split");
    if (pre && (!cJSON_IsString(pre) || strcmp(pre->valuestring, PRE_SPLIT_NAME) != 0))
        return bad(path, "pre_split", "expected \"" PRE_SPLIT_NAME "\"%s", "");
    const cJSON *max_chunk = cJSON_GetObjectItemCaseSensitive(root, "max_chunk");
    if (max_chunk && !is_integer(max_chunk, DUO_BPE_MAX_CHUNK, DUO_BPE_MAX_CHUNK))
        return bad(path, "max_chunk", "expected 64%s", "");
    const cJSON *trained_on = cJSON_GetObjectItemCaseSensitive(root, "trained_on");
    if (trained_on && !cJSON_IsObject(trained_on))
        return bad(path, "trained_on", "expected an object%s", "");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(root, "merges");
    if (!cJSON_IsArray(merges))
        return bad(path, "merges", "expected an array of [left, right] pairs%s", "");
    int n_merges = cJSON_GetArraySize(merges);
    if (k == DUO_TOKENIZER_BYTE && n_merges != 0)
        return bad(path, "merges", "a byte-level tokenizer has no merges%s", "");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(root, "vocab_size");
    if (!is_integer(vocab, DUO_TOKEN_FIRST_MERGE, 1 << 20) ||
        (int)vocab->valuedouble != DUO_TOKEN_FIRST_MERGE + n_merges) {
        char detail[96];
        snprintf(detail, sizeof detail, "%d (257 + %d merges)", DUO_TOKEN_FIRST_MERGE + n_merges,
                 n_merges);
        return bad(path, "vocab_size", "expected %s", detail);
    }
    int32_t *pairs = malloc(sizeof(int32_t) * 2 * ((size_t)n_merges + 1));
    if (!pairs)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "tokenizer file '%s': out of memory", path);
    duo_status st = read_merges(path, merges, n_merges, pairs);
    if (st == DUO_OK)
        st = duo_tokenizer_from_merges(k, pairs, n_merges, out);
    free(pairs);
    return st;
}

duo_status duo_tokenizer_load(const char *path, duo_tokenizer **out)
{
    *out = NULL;
    uint8_t *text;
    size_t n;
    DUO_TRY(duo_read_file(path, "tokenizer file", DUO_MAX_TOKENIZER_BYTES, &text, &n));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)text, n, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)(end - (const char *)text) : 0;
        if (!end || at > n)
            at = n;
        size_t line = 1;
        for (size_t i = 0; i < at; i++)
            line += text[i] == '\n';
        free(text);
        return duo_fail(DUO_ERR_FORMAT, "tokenizer file '%s': not valid JSON (error near line %zu, byte %zu)",
                        path, line, at);
    }
    free(text);
    duo_status st = parse_tokenizer(path, root, out);
    cJSON_Delete(root);
    return st;
}

/* ------------------------------------------------------------ saving */

duo_status duo_tokenizer_save(const duo_tokenizer *tok, const char *path, const char *trained_on)
{
    char *extra = NULL;
    if (trained_on) {
        cJSON *info = cJSON_Parse(trained_on);
        if (!cJSON_IsObject(info)) {
            cJSON_Delete(info);
            return duo_fail(DUO_ERR_INVALID_ARGUMENT, "tokenizer save: trained_on is not a JSON object");
        }
        extra = cJSON_PrintUnformatted(info);
        cJSON_Delete(info);
    }
    size_t cap = 512 + (extra ? strlen(extra) : 0) + (size_t)tok->n_merges * 32;
    char *buf = malloc(cap);
    if (!buf) {
        free(extra);
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "tokenizer file '%s': out of memory", path);
    }
    size_t used = (size_t)snprintf(buf, cap,
                                   "{\n  \"format\": \"" FORMAT_NAME "\",\n  \"version\": %d,\n"
                                   "  \"kind\": \"%s\",\n  \"vocab_size\": %d,\n  \"eot_id\": %d,\n"
                                   "  \"pre_split\": \"" PRE_SPLIT_NAME "\",\n  \"max_chunk\": %d,\n",
                                   DUO_TOKENIZER_VERSION, duo_tokenizer_kind_name(tok->kind),
                                   tok->vocab, DUO_TOKEN_EOT, DUO_BPE_MAX_CHUNK);
    if (extra)
        used += (size_t)snprintf(buf + used, cap - used, "  \"trained_on\": %s,\n", extra);
    used += (size_t)snprintf(buf + used, cap - used, "  \"merges\": [%s", tok->n_merges ? "\n" : "");
    for (int i = 0; i < tok->n_merges; i++)
        used += (size_t)snprintf(buf + used, cap - used, "    [%d, %d]%s\n", (int)tok->merges[2 * i],
                                 (int)tok->merges[2 * i + 1], i + 1 < tok->n_merges ? "," : "");
    used += (size_t)snprintf(buf + used, cap - used, "%s]\n}\n", tok->n_merges ? "  " : "");
    free(extra);
    const void *parts[] = {buf};
    size_t sizes[] = {used};
    duo_status st = duo_write_file_atomic(path, "tokenizer file", parts, sizes, 1);
    free(buf);
    return st;
}
