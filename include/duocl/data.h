/* Token shards and the data loader.
 *
 * Shard file (all integers little-endian), one per domain and split, named
 * <dir>/<domain>.<split>.tok by `duocl prepare`:
 *   offset  size  field
 *        0     8  magic "DUOCLTOK"
 *        8     4  version (1)
 *       12     4  header size in bytes (64)
 *       16     4  vocab size V (every token id is < V)
 *       20     4  token width in bytes: 2 (V <= 65536) or 4
 *       24     8  token count N
 *       32     8  text bytes: bytes of text the tokens encode (0x00 separators
 *                 included, one per end-of-text), for bytes/token and bits/byte
 *       40     8  tokenizer fingerprint (duo_tokenizer_fingerprint; 0: unknown)
 *       48     4  end-of-text id (256)
 *       52    12  zero
 *       64   N*w  the tokens; documents are separated by the end-of-text id
 * Writing goes to a temporary file that is renamed into place. Reading
 * checks the magic, version, header, the size against N (truncation), every
 * id against V, and the vocabulary the caller expects; each error names the
 * file (DUO_ERR_FORMAT, or DUO_ERR_CONFIG for a vocabulary mismatch).
 *
 * Loader: training windows of T+1 tokens (inputs and the next-token targets)
 * are drawn from the training shards of several domains mixed by weight.
 * Window k of a run depends only on (seed, k): a counter-based stream picks
 * the domain (by weight) and a uniform start in [0, N - T - 1]. So the
 * loader's whole position is duo_loader_state {seed, next window}, which a
 * checkpoint stores; restoring it gives the same windows as an unbroken run.
 * Validation windows are fixed: window i of a validation shard is tokens
 * [i*T, i*T + T + 1) (consecutive, non-overlapping targets from the start of
 * the shard; documents are in hash order, so a prefix mixes the sources). */
#ifndef DUOCL_DATA_H
#define DUOCL_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "duocl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { DUO_SHARD_VERSION = 1, DUO_SHARD_HEADER_BYTES = 64 };

typedef struct duo_shard_info {
    uint32_t version;
    uint32_t vocab;         /* V */
    uint32_t token_width;   /* 2 or 4 */
    uint64_t tokens;        /* N */
    uint64_t text_bytes;    /* bytes of text the N tokens encode */
    uint64_t fingerprint;   /* tokenizer fingerprint, 0 if unknown */
    uint32_t eot_id;
} duo_shard_info;

/* A shard read into memory. */
typedef struct duo_shard duo_shard;

/* Writes tokens[0..count) (each in [0, vocab)) as a shard: width 2 if
 * vocab <= 65536, else 4. Atomic (temporary file + rename). */
duo_status duo_shard_write(const char *path, const int32_t *tokens, size_t count, uint32_t vocab,
                           uint64_t text_bytes, uint64_t fingerprint);

/* Reads and checks a shard. expected_vocab: the vocabulary the caller's model
 * or tokenizer has (0: accept any); expected_fingerprint: likewise (0: any). */
duo_status duo_shard_open(const char *path, uint32_t expected_vocab, uint64_t expected_fingerprint,
                          duo_shard **out);

/* Reads only the header (and checks the file size against it). */
duo_status duo_shard_read_info(const char *path, duo_shard_info *info);

void duo_shard_close(duo_shard *shard);

const duo_shard_info *duo_shard_get_info(const duo_shard *shard);
const char *duo_shard_path(const duo_shard *shard);

/* Copies tokens [start, start + count) into out; the range must lie inside. */
duo_status duo_shard_read(const duo_shard *shard, uint64_t start, size_t count, int32_t *out);

/* text_bytes / tokens (0 for an empty shard). */
double duo_shard_bytes_per_token(const duo_shard *shard);

/* "<dir>/<domain>.<split>.tok" into buf. DUO_ERR_INVALID_ARGUMENT if it does
 * not fit. */
duo_status duo_shard_filename(const char *dir, const char *domain, const char *split, char *buf,
                              size_t size);

/* ------------------------------------------------------------ loader */

typedef struct duo_loader duo_loader;

/* Everything that decides which windows come next: store it in a checkpoint. */
typedef struct duo_loader_state {
    uint64_t seed;
    uint64_t next_window; /* windows handed out so far */
} duo_loader_state;

/* Opens <dir>/<domain>.train.tok for each of the n domains (weights >= 0,
 * not all 0; a domain of weight 0 is not opened). Every shard must have
 * vocabulary `vocab` and at least ctx + 1 tokens. */
duo_status duo_loader_create(const char *dir, const char *const *domains, const double *weights,
                             int n, uint32_t vocab, int ctx, uint64_t seed, duo_loader **out);

void duo_loader_destroy(duo_loader *loader);

/* The next `batch` windows: tokens (batch, ctx + 1) row-major; domain[b]
 * (may be NULL) gets the index into the create call's domains. */
duo_status duo_loader_next(duo_loader *loader, int batch, int32_t *tokens, int *domain);

/* The domain's average bytes of text per token (its shard's text_bytes /
 * tokens). For the exact bytes of given tokens use duo_tokenizer_text_bytes. */
double duo_loader_bytes_per_token(const duo_loader *loader, int domain);

void duo_loader_get_state(const duo_loader *loader, duo_loader_state *state);
void duo_loader_set_state(duo_loader *loader, const duo_loader_state *state);

/* Validation: the number of fixed windows (ctx + 1 tokens, starts ctx apart)
 * a shard holds, and window i of it. */
uint64_t duo_val_window_count(const duo_shard *shard, int ctx);
duo_status duo_val_window(const duo_shard *shard, int ctx, uint64_t i, int32_t *tokens);

#ifdef __cplusplus
}
#endif
#endif
