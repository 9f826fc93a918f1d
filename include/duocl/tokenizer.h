/* Tokenizers: byte-level and a chunked byte-level BPE that duocl trains itself.
 *
 * Token ids, the same for both kinds:
 *   0..255         the bytes 0x00..0xFF
 *   256            end-of-text (DUO_TOKEN_EOT): the document separator. Encoding
 *                  maps every 0x00 byte to it and decoding maps it back to 0x00,
 *                  so id 0 is never produced by encoding (decoding it gives 0x00).
 *   257..V-1       BPE merges, in the order they were learned: id 257 + i is
 *                  merges[i] = (left, right), each an id < 257 + i and != 256.
 * A byte-level tokenizer has V = 257; a BPE with vocab V has V - 257 merges.
 *
 * Encoding first splits text into chunks, GPT-2 style but on bytes: an
 * optional single leading space then a run of one class (letters: ASCII
 * letters and every byte >= 0x80; digits; other printable punctuation), or a
 * run of whitespace (a run followed by a chunk leaves its last space to that
 * chunk); 0x00 is always its own chunk (end-of-text); a run is cut every
 * DUO_BPE_MAX_CHUNK bytes. Merges never cross chunks. Any byte string
 * encodes, and decoding returns exactly those bytes, invalid UTF-8 included.
 *
 * Tokenizer file (JSON, UTF-8):
 *   { "format": "duocl-tokenizer", "version": 1, "kind": "byte" | "bpe",
 *     "vocab_size": V, "eot_id": 256, "max_chunk": 64,
 *     "merges": [[left, right], ...],            (V - 257 pairs; [] for byte)
 *     "trained_on": { ... } }                    (optional, informational)
 * Unknown keys, a wrong format/version, and merges that are not valid are
 * DUO_ERR_FORMAT errors naming the file and the field.
 *
 * A tokenizer is not thread-safe: encoding fills a cache of chunk encodings. */
#ifndef DUOCL_TOKENIZER_H
#define DUOCL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "duocl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    DUO_TOKEN_EOT = 256,         /* end-of-text id (both kinds) */
    DUO_TOKEN_FIRST_MERGE = 257, /* id of the first BPE merge */
    DUO_BYTE_VOCAB = 257,        /* vocab size of the byte-level tokenizer */
    DUO_BPE_MAX_CHUNK = 64,      /* longest pre-split chunk, in bytes */
    DUO_TOKENIZER_VERSION = 1
};

typedef enum duo_tokenizer_kind { DUO_TOKENIZER_BYTE = 0, DUO_TOKENIZER_BPE = 1 } duo_tokenizer_kind;

typedef struct duo_tokenizer duo_tokenizer;

/* Statistics of a BPE training run (for logs and the file's "trained_on"). */
typedef struct duo_bpe_train_stats {
    size_t sample_bytes;   /* bytes trained on */
    size_t chunks;         /* pre-split chunks in the sample */
    size_t unique_chunks;  /* distinct chunks (what the merges are counted over) */
    int merges;            /* merges learned (fewer than asked if pairs ran out) */
    double seconds;
} duo_bpe_train_stats;

/* The byte-level tokenizer (V = 257). */
duo_status duo_tokenizer_byte_level(duo_tokenizer **out);

/* Trains a chunked BPE with vocab_size ids (258..1<<20) on text[0..n). Pairs
 * are counted over unique chunks weighted by frequency; the most frequent pair
 * is merged next, ties going to the smallest (left, right). Stops early if no
 * pair occurs twice. stats may be NULL. */
duo_status duo_tokenizer_train_bpe(const uint8_t *text, size_t n, int vocab_size,
                                   duo_tokenizer **out, duo_bpe_train_stats *stats);

/* Reads and validates a tokenizer file (format above). */
duo_status duo_tokenizer_load(const char *path, duo_tokenizer **out);

/* What a --tokenizer option or a config's data.tokenizer names: NULL or
 * "byte" is the byte-level tokenizer, anything else a tokenizer file. */
duo_status duo_tokenizer_open(const char *name, duo_tokenizer **out);

/* Writes the tokenizer file; `trained_on` (may be NULL) is a JSON object text
 * stored as "trained_on". Written to a temporary file, then renamed. */
duo_status duo_tokenizer_save(const duo_tokenizer *tok, const char *path, const char *trained_on);

void duo_tokenizer_destroy(duo_tokenizer *tok);

duo_tokenizer_kind duo_tokenizer_get_kind(const duo_tokenizer *tok);
const char *duo_tokenizer_kind_name(duo_tokenizer_kind kind); /* "byte" / "bpe" */
int duo_tokenizer_vocab_size(const duo_tokenizer *tok);

/* A 64-bit fingerprint of the vocabulary (kind and merges). Shards record it,
 * so shards and a tokenizer that do not belong together are caught. */
uint64_t duo_tokenizer_fingerprint(const duo_tokenizer *tok);

/* The bytes token `id` stands for (EOT: the single byte 0x00); sets *length.
 * NULL for an id outside [0, V). Owned by the tokenizer. */
const uint8_t *duo_tokenizer_token_bytes(const duo_tokenizer *tok, int id, size_t *length);

/* Encodes text[0..n). *tokens is malloc'd (the caller frees it) and holds
 * *count ids. */
duo_status duo_tokenizer_encode(duo_tokenizer *tok, const uint8_t *text, size_t n,
                                int32_t **tokens, size_t *count);

/* Decodes ids into *bytes (malloc'd, the caller frees it; *n bytes). An id
 * outside [0, V) is DUO_ERR_INVALID_ARGUMENT naming its position. */
duo_status duo_tokenizer_decode(const duo_tokenizer *tok, const int32_t *tokens, size_t count,
                                uint8_t **bytes, size_t *n);

/* Bytes of text that tokens[0..count) decode to (ids outside [0, V) count 0). */
size_t duo_tokenizer_text_bytes(const duo_tokenizer *tok, const int32_t *tokens, size_t count);

/* The pre-split: the length of the chunk that starts text[0..n), n > 0. */
size_t duo_tokenizer_chunk_length(const uint8_t *text, size_t n);

#ifdef __cplusplus
}
#endif
#endif
