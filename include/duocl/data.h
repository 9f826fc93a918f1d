/* Token shards, the data loader, and the corpora they are made from.
 *
 * Shard file (all integers little-endian), one per domain and split, named
 * <dir>/<domain>.<split>.tok by duo_prepare_shards (`duocl prepare`):
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duocl/status.h"
#include "duocl/tokenizer.h"

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

/* ------------------------------------------------------------ corpora
 *
 * A corpus is plain text: <corpora>/<domain>.<split>.txt (split "train" or
 * "val"), documents separated by 0x00, as scripts/fetch_corpora.py writes
 * them. Where a function below takes domains, NULL (with n_domains 0) means
 * web, wiki, instruct, code, and at most DUO_CORPUS_MAX_DOMAINS are allowed;
 * corpora NULL means DUO_CORPORA_DIR. Each one never prints: progress goes to
 * its callback (may be NULL), called on the calling thread. */

#define DUO_CORPORA_DIR "data/corpora"
enum { DUO_CORPUS_MAX_DOMAINS = 16 };

/* Reads <corpora>/<domain>.<split>.txt into *text (malloc'd, the caller frees
 * it). A missing file is DUO_ERR_IO with a hint to run scripts/fetch_corpora.py. */
duo_status duo_corpus_read(const char *corpora, const char *domain, const char *split,
                           uint8_t **text, size_t *size);

typedef enum duo_round_trip {
    DUO_ROUND_TRIP_UNCHECKED = 0,
    DUO_ROUND_TRIP_EXACT,     /* decoding the tokens gave back the text's bytes */
    DUO_ROUND_TRIP_MISMATCH
} duo_round_trip;

/* One corpus file encoded. */
typedef struct duo_encode_stats {
    const char *domain;      /* the caller's string (or a default's) */
    const char *split;       /* "train" or "val" */
    uint64_t tokens;
    uint64_t bytes;          /* of text */
    double bytes_per_token;  /* bytes / tokens; 0 without tokens */
    duo_round_trip round_trip;
    double seconds;          /* encoding (duo_prepare_shards: encoding, check and writing) */
} duo_encode_stats;

typedef void (*duo_encode_callback)(const duo_encode_stats *stats, void *user);

typedef struct duo_measure_options {
    const char *corpora;
    const char *const *domains;
    int n_domains;
    bool check;                  /* decode too and compare with the text */
    duo_encode_callback callback; /* after each domain */
    void *user;
} duo_measure_options;

/* Encodes each domain's validation text with tok: stats[d] (n_domains
 * entries; may be NULL) gets domain d's bytes/token. A round-trip mismatch
 * is reported to the callback, then returned as DUO_ERR_NUMERIC. */
duo_status duo_corpus_measure(duo_tokenizer *tok, const duo_measure_options *options,
                              duo_encode_stats *stats);

/* --- tokenizer training on a sample of the corpora */

typedef enum duo_tokenizer_train_event_kind {
    DUO_TOKENIZER_TRAIN_SAMPLED,  /* one domain's share taken: domain, taken, text_bytes */
    DUO_TOKENIZER_TRAIN_TRAINED,  /* merges learned: stats, vocab */
    DUO_TOKENIZER_TRAIN_SAVED,    /* the file is written: path */
    DUO_TOKENIZER_TRAIN_MEASURED  /* one domain's validation text encoded: measured */
} duo_tokenizer_train_event_kind;

typedef struct duo_tokenizer_train_event {
    duo_tokenizer_train_event_kind kind;
    const char *domain;               /* SAMPLED */
    size_t taken, text_bytes;         /* SAMPLED: sample bytes taken of the file's text_bytes */
    const duo_bpe_train_stats *stats; /* TRAINED */
    int vocab;                        /* TRAINED */
    const char *path;                 /* SAVED */
    const duo_encode_stats *measured; /* MEASURED */
} duo_tokenizer_train_event;

typedef void (*duo_tokenizer_train_callback)(const duo_tokenizer_train_event *event, void *user);

typedef struct duo_tokenizer_train_options {
    int vocab;                  /* 258..65536; 0: 4096 */
    size_t sample_bytes;        /* training text, split evenly over the domains; 0: 1 MiB */
    const char *corpora;
    const char *out;            /* tokenizer file; NULL: data/tokenizer-<vocab>.json */
    const char *const *domains;
    int n_domains;
    duo_tokenizer_train_callback callback;
    void *user;
} duo_tokenizer_train_options;

typedef struct duo_tokenizer_train_result {
    char out[4096];                                  /* the file written */
    duo_bpe_train_stats stats;
    int vocab;
    size_t sampled[DUO_CORPUS_MAX_DOMAINS];          /* sample bytes per domain */
    duo_encode_stats measured[DUO_CORPUS_MAX_DOMAINS]; /* bytes/token on each val text */
} duo_tokenizer_train_result;

/* `duocl tokenizer train`: takes a sample balanced over the domains' training
 * text (each domain's share in 64 runs at evenly spaced places, cut at
 * document starts and spaces), trains a BPE on it, writes the tokenizer file
 * (its "trained_on" says corpora, sample bytes, domains, unique chunks and
 * seconds), then measures bytes/token on each domain's validation text.
 * result may be NULL; *tokenizer (may be NULL) gets the tokenizer. */
duo_status duo_tokenizer_train_from_corpora(const duo_tokenizer_train_options *options,
                                            duo_tokenizer_train_result *result,
                                            duo_tokenizer **tokenizer);

/* --- shards from corpora */

typedef enum duo_prepare_event_kind {
    DUO_PREPARE_STARTED, /* the tokenizer is open and copied: tokenizer, vocab, fingerprint, out */
    DUO_PREPARE_SHARD    /* one shard written: shard, path */
} duo_prepare_event_kind;

typedef struct duo_prepare_event {
    duo_prepare_event_kind kind;
    const char *tokenizer;          /* as given, "byte" for NULL */
    int vocab;
    uint64_t fingerprint;
    const char *out;
    const duo_encode_stats *shard;
    const char *path;
} duo_prepare_event;

typedef void (*duo_prepare_callback)(const duo_prepare_event *event, void *user);

typedef struct duo_prepare_options {
    const char *tokenizer;      /* a tokenizer file, or NULL / "byte" */
    const char *corpora;
    const char *out;            /* NULL: data/shards/byte, or data/shards/<tokenizer file's stem> */
    const char *const *domains;
    int n_domains;
    bool check;                 /* decode each file and require the exact text back */
    duo_prepare_callback callback;
    void *user;
} duo_prepare_options;

typedef struct duo_prepare_result {
    char out[4096];             /* the folder written */
    int vocab;
    uint64_t fingerprint;
    int n_shards;               /* domain d's train and val shards are 2d and 2d + 1 */
    duo_encode_stats shards[2 * DUO_CORPUS_MAX_DOMAINS];
} duo_prepare_result;

/* `duocl prepare`: encodes each domain's train and val text into
 * <out>/<domain>.<split>.tok (format above), with the tokenizer copied to
 * <out>/tokenizer.json. Every corpus file must exist before anything is
 * written. A round-trip mismatch (with check) is DUO_ERR_NUMERIC, before
 * that shard is written. result may be NULL. */
duo_status duo_prepare_shards(const duo_prepare_options *options, duo_prepare_result *result);

#ifdef __cplusplus
}
#endif
#endif
