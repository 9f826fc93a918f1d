/* Internals shared by tokenizer.c (codec, files) and bpe_train.c (trainer). */
#ifndef DUOCL_HOST_TOKENIZER_INTERNAL_H
#define DUOCL_HOST_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duocl/tokenizer.h"
#include "base/hash.h"

/* One cached chunk encoding: the chunk's bytes and its ids live in pools. */
typedef struct chunk_cache_entry {
    uint64_t hash;     /* 0: empty slot */
    uint32_t key_off;  /* into key_pool */
    uint32_t tok_off;  /* into tok_pool */
    uint8_t key_len;
    uint8_t tok_count;
} chunk_cache_entry;

typedef struct chunk_cache {
    chunk_cache_entry *slots;
    size_t capacity, count;   /* capacity: power of two */
    uint8_t *key_pool;
    size_t key_used, key_cap;
    int32_t *tok_pool;
    size_t tok_used, tok_cap;
} chunk_cache;

struct duo_tokenizer {
    duo_tokenizer_kind kind;
    int vocab;              /* V */
    int n_merges;           /* V - 257 */
    int32_t *merges;        /* 2 * n_merges: left, right of id 257 + i */
    uint32_t *token_off;    /* V: bytes of token id at token_pool[token_off[id]] */
    uint8_t *token_len;     /* V */
    uint8_t *token_pool;
    uint64_t *pair_keys;    /* merge table: (left << 32 | right) + 1, 0 = empty */
    int32_t *pair_ids;      /* the id that pair merges into */
    size_t pair_capacity;   /* power of two */
    uint64_t fingerprint;
    chunk_cache cache;
};

/* Builds a tokenizer from merges already validated (ids in range, no token
 * longer than DUO_BPE_MAX_CHUNK, no duplicate pair). Copies merges. */
duo_status duo_tokenizer_from_merges(duo_tokenizer_kind kind, const int32_t *merges, int n_merges,
                                     duo_tokenizer **out);

#endif
