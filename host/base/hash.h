/* FNV-1a 64: the one hash of the project (checkpoint checksums, tokenizer
 * fingerprints and tables, program-cache keys, study stage keys). Not
 * cryptographic; it only has to notice change. */
#ifndef DUOCL_HOST_HASH_H
#define DUOCL_HOST_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DUO_FNV_OFFSET 0xcbf29ce484222325ULL

/* Continues a hash over n bytes (start with DUO_FNV_OFFSET). */
static inline uint64_t duo_fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Continues a hash over a NUL-terminated string (without the NUL). */
static inline uint64_t duo_fnv1a_text(uint64_t h, const char *text)
{
    return duo_fnv1a(h, text, strlen(text));
}

#endif
