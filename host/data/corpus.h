/* Helpers shared by `duocl tokenizer` and `duocl prepare`: reading corpus
 * files, domain lists and the --tokenizer option. */
#ifndef DUOCL_DATA_CORPUS_H
#define DUOCL_DATA_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duocl/status.h"
#include "duocl/tokenizer.h"

/* Reads <corpora>/<domain>.<split>.txt (malloc'd; the caller frees it). A
 * missing file is DUO_ERR_IO with a hint to run scripts/fetch_corpora.py. */
duo_status corpus_read(const char *corpora, const char *domain, const char *split, uint8_t **text,
                       size_t *size);

/* Splits "a,b,c" (copied into buf) into names; returns the count, or -1 if
 * there are more than max, an empty name, or buf is too small. */
int corpus_split_list(const char *list, char *buf, size_t size, char **names, int max);

/* NULL or "byte": the byte-level tokenizer; otherwise a tokenizer file. */
duo_status corpus_tokenizer_open(const char *value, duo_tokenizer **out);

/* True if s can go into a JSON string literal as it is. */
bool corpus_json_safe(const char *s);

#endif
