/* Tokenizer codec: the byte-level pre-split, encoding (merges applied by
 * rank inside each chunk, chunk encodings cached) and decoding. Files are in
 * tokenizer_file.c, training in bpe_train.c. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tokenizer_internal.h"

/* ------------------------------------------------------------ pre-split */

enum { CLASS_EOT, CLASS_SPACE, CLASS_LETTER, CLASS_DIGIT, CLASS_PUNCT };

static int byte_class(uint8_t c)
{
    if (c == 0)
        return CLASS_EOT;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')
        return CLASS_SPACE;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80)
        return CLASS_LETTER;
    if (c >= '0' && c <= '9')
        return CLASS_DIGIT;
    return CLASS_PUNCT;
}

size_t duo_tokenizer_chunk_length(const uint8_t *text, size_t n)
{
    int cls = byte_class(text[0]);
    if (cls == CLASS_EOT)
        return 1;
    size_t limit = n < DUO_BPE_MAX_CHUNK ? n : DUO_BPE_MAX_CHUNK;
    size_t i = 0;
    if (text[0] == ' ' && limit > 1 && byte_class(text[1]) > CLASS_SPACE) {
        i = 1; /* " word": the space belongs to what follows it */
        cls = byte_class(text[1]);
    }
    size_t j = i + 1;
    while (j < limit && byte_class(text[j]) == cls)
        j++;
    /* A whitespace run leaves its last space to the chunk that follows. */
    if (cls == CLASS_SPACE && j < n && j > 1 && text[j - 1] == ' ' &&
        byte_class(text[j]) > CLASS_SPACE)
        j--;
    return j;
}

/* ------------------------------------------------------------ construction */

static uint64_t pair_key(int32_t left, int32_t right)
{
    return ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1;
}

static size_t pair_slot(uint64_t key, size_t capacity)
{
    return (size_t)duo_fnv1a(DUO_FNV_OFFSET, (const uint8_t *)&key, sizeof key) & (capacity - 1);
}

static int32_t merged_id(const duo_tokenizer *tok, int32_t left, int32_t right)
{
    uint64_t key = pair_key(left, right);
    for (size_t s = pair_slot(key, tok->pair_capacity);; s = (s + 1) & (tok->pair_capacity - 1)) {
        if (tok->pair_keys[s] == key)
            return tok->pair_ids[s];
        if (tok->pair_keys[s] == 0)
            return -1;
    }
}

duo_status duo_tokenizer_from_merges(duo_tokenizer_kind kind, const int32_t *merges, int n_merges,
                                     duo_tokenizer **out)
{
    *out = NULL;
    duo_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    tok->kind = kind;
    tok->n_merges = n_merges;
    tok->vocab = DUO_TOKEN_FIRST_MERGE + n_merges;
    size_t v = (size_t)tok->vocab;
    tok->pair_capacity = 16;
    while (tok->pair_capacity < 2 * (size_t)n_merges + 16)
        tok->pair_capacity *= 2;
    tok->merges = malloc(sizeof(int32_t) * 2 * ((size_t)n_merges + 1));
    tok->token_off = malloc(sizeof(uint32_t) * v);
    tok->token_len = malloc(v);
    tok->token_pool = malloc(v * DUO_BPE_MAX_CHUNK);
    tok->pair_keys = calloc(tok->pair_capacity, sizeof(uint64_t));
    tok->pair_ids = malloc(sizeof(int32_t) * tok->pair_capacity);
    if (!tok->merges || !tok->token_off || !tok->token_len || !tok->token_pool || !tok->pair_keys ||
        !tok->pair_ids) {
        duo_tokenizer_destroy(tok);
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "tokenizer: out of memory for %d merges", n_merges);
    }
    if (n_merges)
        memcpy(tok->merges, merges, sizeof(int32_t) * 2 * (size_t)n_merges);
    size_t used = 0;
    for (int id = 0; id < DUO_TOKEN_FIRST_MERGE; id++) {
        tok->token_off[id] = (uint32_t)used;
        tok->token_len[id] = 1;
        tok->token_pool[used++] = id == DUO_TOKEN_EOT ? 0 : (uint8_t)id;
    }
    uint64_t fp = duo_fnv1a(DUO_FNV_OFFSET, (const uint8_t *)"duocl-tokenizer", 15);
    uint8_t k = (uint8_t)kind;
    fp = duo_fnv1a(fp, &k, 1);
    for (int i = 0; i < n_merges; i++) {
        int32_t left = merges[2 * i], right = merges[2 * i + 1];
        int32_t id = DUO_TOKEN_FIRST_MERGE + i;
        size_t ll = tok->token_len[left], rl = tok->token_len[right];
        tok->token_off[id] = (uint32_t)used;
        tok->token_len[id] = (uint8_t)(ll + rl);
        memcpy(tok->token_pool + used, tok->token_pool + tok->token_off[left], ll);
        memcpy(tok->token_pool + used + ll, tok->token_pool + tok->token_off[right], rl);
        used += ll + rl;
        uint64_t key = pair_key(left, right);
        size_t s = pair_slot(key, tok->pair_capacity);
        while (tok->pair_keys[s] != 0)
            s = (s + 1) & (tok->pair_capacity - 1);
        tok->pair_keys[s] = key;
        tok->pair_ids[s] = id;
        uint8_t le[8];
        for (int b = 0; b < 4; b++) {
            le[b] = (uint8_t)((uint32_t)left >> (8 * b));
            le[4 + b] = (uint8_t)((uint32_t)right >> (8 * b));
        }
        fp = duo_fnv1a(fp, le, sizeof le);
    }
    tok->fingerprint = fp;
    *out = tok;
    return DUO_OK;
}

duo_status duo_tokenizer_byte_level(duo_tokenizer **out)
{
    return duo_tokenizer_from_merges(DUO_TOKENIZER_BYTE, NULL, 0, out);
}

static void cache_free(chunk_cache *c)
{
    free(c->slots);
    free(c->key_pool);
    free(c->tok_pool);
    memset(c, 0, sizeof *c);
}

void duo_tokenizer_destroy(duo_tokenizer *tok)
{
    if (!tok)
        return;
    free(tok->merges);
    free(tok->token_off);
    free(tok->token_len);
    free(tok->token_pool);
    free(tok->pair_keys);
    free(tok->pair_ids);
    cache_free(&tok->cache);
    free(tok);
}

duo_tokenizer_kind duo_tokenizer_get_kind(const duo_tokenizer *tok) { return tok->kind; }

const char *duo_tokenizer_kind_name(duo_tokenizer_kind kind)
{
    return kind == DUO_TOKENIZER_BPE ? "bpe" : "byte";
}

int duo_tokenizer_vocab_size(const duo_tokenizer *tok) { return tok->vocab; }

uint64_t duo_tokenizer_fingerprint(const duo_tokenizer *tok) { return tok->fingerprint; }

const uint8_t *duo_tokenizer_token_bytes(const duo_tokenizer *tok, int id, size_t *length)
{
    if (id < 0 || id >= tok->vocab) {
        *length = 0;
        return NULL;
    }
    *length = tok->token_len[id];
    return tok->token_pool + tok->token_off[id];
}

/* ------------------------------------------------------------ encoding */

/* Applies the merges to one chunk (no 0x00 in it), lowest rank first. Since a
 * merge's id grows with its rank and a new pair always contains the newest id,
 * this gives what applying every merge in order would give. Returns the count. */
static int encode_chunk(const duo_tokenizer *tok, const uint8_t *chunk, int n, int32_t *symbols)
{
    for (int i = 0; i < n; i++)
        symbols[i] = chunk[i];
    while (n > 1) {
        int32_t best = INT32_MAX;
        for (int i = 0; i + 1 < n; i++) {
            int32_t id = merged_id(tok, symbols[i], symbols[i + 1]);
            if (id >= 0 && id < best)
                best = id;
        }
        if (best == INT32_MAX)
            break;
        int32_t left = tok->merges[2 * (best - DUO_TOKEN_FIRST_MERGE)];
        int32_t right = tok->merges[2 * (best - DUO_TOKEN_FIRST_MERGE) + 1];
        int w = 0;
        for (int r = 0; r < n; r++) {
            if (r + 1 < n && symbols[r] == left && symbols[r + 1] == right) {
                symbols[w++] = best;
                r++;
            } else {
                symbols[w++] = symbols[r];
            }
        }
        n = w;
    }
    return n;
}

enum { CACHE_MAX_ENTRIES = 1 << 20 };

static bool cache_grow(chunk_cache *c)
{
    size_t capacity = c->capacity ? 2 * c->capacity : 1 << 14;
    chunk_cache_entry *slots = calloc(capacity, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < c->capacity; i++) {
        if (!c->slots[i].hash)
            continue;
        size_t s = (size_t)c->slots[i].hash & (capacity - 1);
        while (slots[s].hash)
            s = (s + 1) & (capacity - 1);
        slots[s] = c->slots[i];
    }
    free(c->slots);
    c->slots = slots;
    c->capacity = capacity;
    return true;
}

static bool pool_reserve(void **pool, size_t *cap, size_t used, size_t more, size_t elem)
{
    if (used + more <= *cap)
        return true;
    size_t want = *cap ? *cap : 1 << 16;
    while (want < used + more)
        want *= 2;
    void *p = realloc(*pool, want * elem);
    if (!p)
        return false;
    *pool = p;
    *cap = want;
    return true;
}

/* The cached encoding of a chunk, encoding and caching it on a miss. Returns
 * the number of ids written to *ids (a pointer into the cache or scratch). */
static int encode_cached(duo_tokenizer *tok, const uint8_t *chunk, int n, int32_t *scratch,
                         const int32_t **ids)
{
    chunk_cache *c = &tok->cache;
    uint64_t h = duo_fnv1a(DUO_FNV_OFFSET, chunk, (size_t)n) | 1;
    if (c->capacity) {
        for (size_t s = (size_t)h & (c->capacity - 1);; s = (s + 1) & (c->capacity - 1)) {
            chunk_cache_entry *e = &c->slots[s];
            if (!e->hash)
                break;
            if (e->hash == h && e->key_len == n && memcmp(c->key_pool + e->key_off, chunk, (size_t)n) == 0) {
                *ids = c->tok_pool + e->tok_off;
                return e->tok_count;
            }
        }
    }
    int count = encode_chunk(tok, chunk, n, scratch);
    *ids = scratch;
    if (c->count >= CACHE_MAX_ENTRIES) { /* bounded memory: start over */
        memset(c->slots, 0, c->capacity * sizeof *c->slots);
        c->count = c->key_used = c->tok_used = 0;
    }
    if ((2 * (c->count + 1) > c->capacity && !cache_grow(c)) ||
        !pool_reserve((void **)&c->key_pool, &c->key_cap, c->key_used, (size_t)n, 1) ||
        !pool_reserve((void **)&c->tok_pool, &c->tok_cap, c->tok_used, (size_t)count, sizeof(int32_t)))
        return count; /* no memory for the cache: still correct, only slower */
    size_t s = (size_t)h & (c->capacity - 1);
    while (c->slots[s].hash)
        s = (s + 1) & (c->capacity - 1);
    chunk_cache_entry *e = &c->slots[s];
    e->hash = h;
    e->key_off = (uint32_t)c->key_used;
    e->key_len = (uint8_t)n;
    e->tok_off = (uint32_t)c->tok_used;
    e->tok_count = (uint8_t)count;
    memcpy(c->key_pool + c->key_used, chunk, (size_t)n);
    memcpy(c->tok_pool + c->tok_used, scratch, sizeof(int32_t) * (size_t)count);
    c->key_used += (size_t)n;
    c->tok_used += (size_t)count;
    c->count++;
    return count;
}

duo_status duo_tokenizer_encode(duo_tokenizer *tok, const uint8_t *text, size_t n,
                                int32_t **tokens, size_t *count)
{
    *tokens = NULL;
    *count = 0;
    size_t cap = (tok->kind == DUO_TOKENIZER_BYTE ? n : n / 2) + 16;
    int32_t *out = malloc(sizeof(int32_t) * cap);
    if (!out)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "tokenizer: out of memory encoding %zu bytes", n);
    size_t used = 0;
    if (tok->kind == DUO_TOKENIZER_BYTE) {
        for (size_t i = 0; i < n; i++)
            out[i] = text[i] ? text[i] : DUO_TOKEN_EOT;
        used = n;
    } else {
        int32_t scratch[DUO_BPE_MAX_CHUNK];
        for (size_t pos = 0; pos < n;) {
            size_t len = duo_tokenizer_chunk_length(text + pos, n - pos);
            if (used + len > cap) {
                size_t want = cap + cap / 2 + len;
                int32_t *grown = realloc(out, sizeof(int32_t) * want);
                if (!grown) {
                    free(out);
                    return duo_fail(DUO_ERR_OUT_OF_MEMORY, "tokenizer: out of memory encoding %zu bytes", n);
                }
                out = grown;
                cap = want;
            }
            if (text[pos] == 0) {
                out[used++] = DUO_TOKEN_EOT;
            } else {
                const int32_t *ids;
                int k = encode_cached(tok, text + pos, (int)len, scratch, &ids);
                memcpy(out + used, ids, sizeof(int32_t) * (size_t)k);
                used += (size_t)k;
            }
            pos += len;
        }
    }
    *tokens = out;
    *count = used;
    return DUO_OK;
}

duo_status duo_tokenizer_decode(const duo_tokenizer *tok, const int32_t *tokens, size_t count,
                                uint8_t **bytes, size_t *n)
{
    *bytes = NULL;
    *n = 0;
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        if (tokens[i] < 0 || tokens[i] >= tok->vocab)
            return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                            "tokenizer: token %zu is %d, outside the vocabulary [0, %d)", i,
                            (int)tokens[i], tok->vocab);
        total += tok->token_len[tokens[i]];
    }
    uint8_t *out = malloc(total + 1);
    if (!out)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "tokenizer: out of memory decoding %zu tokens", count);
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        size_t len = tok->token_len[tokens[i]];
        memcpy(out + used, tok->token_pool + tok->token_off[tokens[i]], len);
        used += len;
    }
    out[used] = 0;
    *bytes = out;
    *n = used;
    return DUO_OK;
}

size_t duo_tokenizer_text_bytes(const duo_tokenizer *tok, const int32_t *tokens, size_t count)
{
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        if (tokens[i] >= 0 && tokens[i] < tok->vocab)
            total += tok->token_len[tokens[i]];
    return total;
}
