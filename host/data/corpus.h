/* Corpora inside the data layer: the pieces duo_prepare_shards,
 * duo_corpus_measure and duo_tokenizer_train_from_corpora share, and the
 * domain-list parsing of `duocl tokenizer` and `duocl prepare`. The public
 * side is in duocl/data.h. */
#ifndef DUOCL_DATA_CORPUS_H
#define DUOCL_DATA_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duocl/data.h"

/* Splits "a,b,c" (copied into buf) into names; returns the count, or -1 if
 * there are more than max, an empty name, or buf is too small. */
int duo_corpus_split_list(const char *list, char *buf, size_t size, char **names, int max);

/* The domains to use: the caller's, or the default four when domains is
 * NULL. DUO_ERR_INVALID_ARGUMENT outside 1..DUO_CORPUS_MAX_DOMAINS. */
duo_status duo_corpus_domains(const char *const *domains, int n, const char *const **out,
                              int *n_out);

/* DUO_OK if <corpora>/<domain>.<split>.txt exists; else duo_corpus_read's error. */
duo_status duo_corpus_check(const char *corpora, const char *domain, const char *split);

/* Reads <corpora>/<domain>.<split>.txt and encodes it: *ids (malloc'd, the
 * caller frees it) and stats (seconds: the encoding). With check, decodes
 * and compares, setting stats->round_trip (a mismatch is not an error here).
 * *encode_start (may be NULL): the clock when encoding began. */
duo_status duo_corpus_encode(duo_tokenizer *tok, const char *corpora, const char *domain,
                             const char *split, bool check, int32_t **ids, duo_encode_stats *stats,
                             double *encode_start);

/* Up to `budget` bytes of text[0..n) into sample: all of it when it fits,
 * else `pieces` runs taken at evenly spaced places, each starting at a
 * document start and ending at a space or a document end, separated by 0x00.
 * Returns the bytes written (at most budget + pieces - 1). */
size_t duo_corpus_sample(const uint8_t *text, size_t n, size_t budget, int pieces, uint8_t *sample);

#endif
