/* Chunked byte-level BPE training.
 *
 * The sample is pre-split into chunks (duo_tokenizer_chunk_length) and the
 * distinct chunks are counted; merges are learned over those unique chunks,
 * each weighted by its frequency, so the work per merge is proportional to
 * the chunks that contain the merged pair, not to the sample size:
 *   - pairs: a hash table (left, right) -> count and the list of chunks that
 *     may contain the pair (entries can be stale; they are checked on use);
 *   - a max-heap of (count, pair) with lazy updates: counts of old pairs only
 *     fall when a merge rewrites a chunk, so a popped entry whose count is out
 *     of date is pushed back with its true count; the new pairs a merge makes
 *     are pushed when they appear.
 * Ties go to the smallest (left, right), so training is deterministic. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/error.h"
#include "tokenizer_internal.h"

typedef struct chunk {
    uint32_t start; /* into symbols */
    uint32_t len;
    uint64_t freq;
} chunk;

typedef struct pair_info {
    uint64_t key;       /* (left << 32 | right) + 1 */
    int64_t count;      /* sum of freq over occurrences */
    uint32_t *chunks;   /* chunks that may contain the pair */
    uint32_t n_chunks, cap_chunks;
    int32_t stamp;      /* last merge that pushed it */
} pair_info;

typedef struct heap_entry {
    int64_t count;
    uint64_t key;
    uint32_t pair;
} heap_entry;

typedef struct trainer {
    chunk *chunks;
    size_t n_chunks;
    int32_t *symbols;
    pair_info *pairs;
    size_t n_pairs, cap_pairs;
    uint32_t *slots;    /* pair table: index + 1, 0 = empty */
    size_t n_slots;     /* power of two */
    heap_entry *heap;
    size_t heap_n, heap_cap;
    bool oom;
} trainer;

static size_t hash_key(uint64_t key) { return (size_t)(key * 0x9e3779b97f4a7c15ULL >> 17); }

static bool grow_slots(trainer *t)
{
    size_t n = t->n_slots ? 2 * t->n_slots : 1 << 16;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return false;
    for (size_t p = 0; p < t->n_pairs; p++) {
        size_t s = hash_key(t->pairs[p].key) & (n - 1);
        while (slots[s])
            s = (s + 1) & (n - 1);
        slots[s] = (uint32_t)p + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = n;
    return true;
}

/* The pair's index, created (count 0) if new; -1 when out of memory. */
static long pair_index(trainer *t, int32_t left, int32_t right)
{
    uint64_t key = ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1;
    size_t s = hash_key(key) & (t->n_slots - 1);
    while (t->slots[s]) {
        if (t->pairs[t->slots[s] - 1].key == key)
            return (long)t->slots[s] - 1;
        s = (s + 1) & (t->n_slots - 1);
    }
    if (t->n_pairs == t->cap_pairs) {
        size_t cap = t->cap_pairs ? 2 * t->cap_pairs : 1 << 14;
        pair_info *grown = realloc(t->pairs, cap * sizeof *grown);
        if (!grown)
            return -1;
        t->pairs = grown;
        t->cap_pairs = cap;
    }
    pair_info *p = &t->pairs[t->n_pairs];
    memset(p, 0, sizeof *p);
    p->key = key;
    p->stamp = -1;
    t->slots[s] = (uint32_t)++t->n_pairs;
    if (2 * t->n_pairs > t->n_slots && !grow_slots(t))
        return -1;
    return (long)t->n_pairs - 1;
}

static void note_chunk(trainer *t, pair_info *p, uint32_t c)
{
    if (p->n_chunks && p->chunks[p->n_chunks - 1] == c)
        return;
    if (p->n_chunks == p->cap_chunks) {
        uint32_t cap = p->cap_chunks ? 2 * p->cap_chunks : 4;
        uint32_t *grown = realloc(p->chunks, cap * sizeof *grown);
        if (!grown) {
            t->oom = true;
            return;
        }
        p->chunks = grown;
        p->cap_chunks = cap;
    }
    p->chunks[p->n_chunks++] = c;
}

/* Heap order: larger count first, then smaller key. */
static bool above(const heap_entry *a, const heap_entry *b)
{
    return a->count > b->count || (a->count == b->count && a->key < b->key);
}

static void heap_push(trainer *t, uint32_t pair)
{
    if (t->heap_n == t->heap_cap) {
        size_t cap = t->heap_cap ? 2 * t->heap_cap : 1 << 14;
        heap_entry *grown = realloc(t->heap, cap * sizeof *grown);
        if (!grown) {
            t->oom = true;
            return;
        }
        t->heap = grown;
        t->heap_cap = cap;
    }
    heap_entry e = {t->pairs[pair].count, t->pairs[pair].key, pair};
    size_t i = t->heap_n++;
    while (i > 0 && above(&e, &t->heap[(i - 1) / 2])) {
        t->heap[i] = t->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    t->heap[i] = e;
}

static heap_entry heap_pop(trainer *t)
{
    heap_entry top = t->heap[0], last = t->heap[--t->heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= t->heap_n)
            break;
        if (c + 1 < t->heap_n && above(&t->heap[c + 1], &t->heap[c]))
            c++;
        if (!above(&t->heap[c], &last))
            break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (t->heap_n)
        t->heap[i] = last;
    return top;
}

static void trainer_free(trainer *t)
{
    for (size_t p = 0; p < t->n_pairs; p++)
        free(t->pairs[p].chunks);
    free(t->pairs);
    free(t->slots);
    free(t->heap);
    free(t->chunks);
    free(t->symbols);
}

/* Distinct chunks of the sample with their counts. 0x00 chunks are left out:
 * end-of-text never merges. */
static duo_status count_chunks(trainer *t, const uint8_t *text, size_t n, duo_bpe_train_stats *stats)
{
    size_t cap = 1 << 16, used = 0, n_unique = 0;
    uint32_t *table = calloc(cap, sizeof *table);        /* chunk index + 1 */
    uint64_t *hashes = malloc(sizeof(uint64_t) * (cap / 2 + 1));
    t->chunks = malloc(sizeof(chunk) * (cap / 2 + 1));
    t->symbols = malloc(sizeof(int32_t) * (n + 1));
    if (!table || !hashes || !t->chunks || !t->symbols) {
        free(table);
        free(hashes);
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "bpe training: out of memory for %zu bytes", n);
    }
    for (size_t pos = 0; pos < n;) {
        size_t len = duo_tokenizer_chunk_length(text + pos, n - pos);
        const uint8_t *p = text + pos;
        pos += len;
        stats->chunks++;
        if (p[0] == 0)
            continue;
        uint64_t h = duo_fnv1a(DUO_FNV_OFFSET, p, len);
        size_t s = (size_t)h & (cap - 1);
        for (;; s = (s + 1) & (cap - 1)) {
            if (!table[s])
                break;
            chunk *c = &t->chunks[table[s] - 1];
            if (hashes[table[s] - 1] == h && c->len == len) {
                bool same = true;
                for (size_t i = 0; i < len && same; i++)
                    same = t->symbols[c->start + i] == p[i];
                if (same)
                    break;
            }
        }
        if (table[s]) {
            t->chunks[table[s] - 1].freq++;
            continue;
        }
        chunk *c = &t->chunks[n_unique];
        c->start = (uint32_t)used;
        c->len = (uint32_t)len;
        c->freq = 1;
        hashes[n_unique] = h;
        for (size_t i = 0; i < len; i++)
            t->symbols[used++] = p[i];
        table[s] = (uint32_t)++n_unique;
        if (2 * n_unique > cap) { /* grow the table (and the arrays sized by it) */
            size_t ncap = 2 * cap;
            uint32_t *nt = calloc(ncap, sizeof *nt);
            uint64_t *nh = realloc(hashes, sizeof(uint64_t) * (ncap / 2 + 1));
            chunk *nc = realloc(t->chunks, sizeof(chunk) * (ncap / 2 + 1));
            if (nh)
                hashes = nh;
            if (nc)
                t->chunks = nc;
            if (!nt || !nh || !nc) {
                free(nt);
                free(table);
                free(hashes);
                return duo_fail(DUO_ERR_OUT_OF_MEMORY, "bpe training: out of memory");
            }
            for (size_t i = 0; i < n_unique; i++) {
                size_t k = (size_t)hashes[i] & (ncap - 1);
                while (nt[k])
                    k = (k + 1) & (ncap - 1);
                nt[k] = (uint32_t)i + 1;
            }
            free(table);
            table = nt;
            cap = ncap;
        }
    }
    free(table);
    free(hashes);
    t->n_chunks = n_unique;
    stats->unique_chunks = n_unique;
    return DUO_OK;
}

static bool contains(const int32_t *s, uint32_t n, int32_t left, int32_t right)
{
    for (uint32_t i = 0; i + 1 < n; i++)
        if (s[i] == left && s[i + 1] == right)
            return true;
    return false;
}

/* Rewrites every chunk holding (left, right) with `id`, keeping pair counts
 * and chunk lists current; pushes the new pairs. */
static duo_status apply_merge(trainer *t, uint32_t merged, int32_t left, int32_t right, int32_t id)
{
    uint32_t *list = t->pairs[merged].chunks;
    uint32_t n_list = t->pairs[merged].n_chunks;
    t->pairs[merged].chunks = NULL;
    t->pairs[merged].n_chunks = t->pairs[merged].cap_chunks = 0;
    uint32_t *touched = NULL;
    size_t n_touched = 0, cap_touched = 0;
    for (uint32_t k = 0; k < n_list; k++) {
        chunk *c = &t->chunks[list[k]];
        int32_t *s = t->symbols + c->start;
        if (!contains(s, c->len, left, right))
            continue; /* stale entry */
        int64_t f = (int64_t)c->freq;
        for (uint32_t i = 0; i + 1 < c->len; i++)
            t->pairs[pair_index(t, s[i], s[i + 1])].count -= f;
        uint32_t w = 0;
        for (uint32_t r = 0; r < c->len; r++) {
            if (r + 1 < c->len && s[r] == left && s[r + 1] == right) {
                s[w++] = id;
                r++;
            } else {
                s[w++] = s[r];
            }
        }
        c->len = w;
        for (uint32_t i = 0; i + 1 < w; i++) {
            long p = pair_index(t, s[i], s[i + 1]);
            if (p < 0) {
                t->oom = true;
                break;
            }
            t->pairs[p].count += f;
            if (s[i] != id && s[i + 1] != id)
                continue;
            note_chunk(t, &t->pairs[p], list[k]);
            if (t->pairs[p].stamp != id) {
                t->pairs[p].stamp = id;
                if (n_touched == cap_touched) {
                    cap_touched = cap_touched ? 2 * cap_touched : 64;
                    uint32_t *grown = realloc(touched, cap_touched * sizeof *grown);
                    if (!grown) {
                        t->oom = true;
                        break;
                    }
                    touched = grown;
                }
                touched[n_touched++] = (uint32_t)p;
            }
        }
    }
    for (size_t i = 0; i < n_touched; i++)
        heap_push(t, touched[i]);
    free(touched);
    free(list);
    return t->oom ? duo_fail(DUO_ERR_OUT_OF_MEMORY, "bpe training: out of memory") : DUO_OK;
}

static duo_status train(trainer *t, const uint8_t *text, size_t n, int n_merges, int32_t *merges,
                        duo_bpe_train_stats *stats)
{
    DUO_TRY(count_chunks(t, text, n, stats));
    if (!grow_slots(t))
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "bpe training: out of memory");
    for (size_t c = 0; c < t->n_chunks; c++) {
        const int32_t *s = t->symbols + t->chunks[c].start;
        for (uint32_t i = 0; i + 1 < t->chunks[c].len; i++) {
            long p = pair_index(t, s[i], s[i + 1]);
            if (p < 0)
                return duo_fail(DUO_ERR_OUT_OF_MEMORY, "bpe training: out of memory");
            t->pairs[p].count += (int64_t)t->chunks[c].freq;
            note_chunk(t, &t->pairs[p], (uint32_t)c);
        }
    }
    for (size_t p = 0; p < t->n_pairs; p++)
        heap_push(t, (uint32_t)p);
    if (t->oom)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "bpe training: out of memory");
    int m = 0;
    while (m < n_merges && t->heap_n) {
        heap_entry e = heap_pop(t);
        int64_t count = t->pairs[e.pair].count;
        if (count != e.count) { /* out of date: counts only fall, so requeue */
            if (count > 0)
                heap_push(t, e.pair);
            continue;
        }
        if (count < 2)
            break;
        int32_t left = (int32_t)((e.key - 1) >> 32), right = (int32_t)((e.key - 1) & 0xffffffffu);
        int32_t id = DUO_TOKEN_FIRST_MERGE + m;
        merges[2 * m] = left;
        merges[2 * m + 1] = right;
        m++;
        DUO_TRY(apply_merge(t, e.pair, left, right, id));
    }
    stats->merges = m;
    return DUO_OK;
}

duo_status duo_tokenizer_train_bpe(const uint8_t *text, size_t n, int vocab_size,
                                   duo_tokenizer **out, duo_bpe_train_stats *stats)
{
    *out = NULL;
    duo_bpe_train_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    if (vocab_size < DUO_TOKEN_FIRST_MERGE + 1 || vocab_size > (1 << 20))
        return duo_fail(DUO_ERR_INVALID_ARGUMENT,
                        "bpe training: vocab size %d is outside [258, 1048576] (257 is byte-level)",
                        vocab_size);
    if (n >= UINT32_MAX)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "bpe training: a sample of %zu bytes is too large (< 4 GiB)", n);
    double t0 = duo_now_seconds();
    int n_merges = vocab_size - DUO_TOKEN_FIRST_MERGE;
    int32_t *merges = malloc(sizeof(int32_t) * 2 * (size_t)n_merges);
    if (!merges)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "bpe training: out of memory");
    trainer t;
    memset(&t, 0, sizeof t);
    duo_status st = train(&t, text, n, n_merges, merges, stats);
    trainer_free(&t);
    if (st == DUO_OK)
        st = duo_tokenizer_from_merges(DUO_TOKENIZER_BPE, merges, stats->merges, out);
    free(merges);
    stats->sample_bytes = n;
    stats->seconds = duo_now_seconds() - t0;
    return st;
}
