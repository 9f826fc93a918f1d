/* Corpora: reading <domain>.<split>.txt, domain lists, the tokenizer option,
 * encoding one file, and the balanced sample BPE training starts from. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/corpus.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/fileio.h"
#include "data/tokenizer_internal.h"

static const char *const DEFAULT_DOMAINS[] = {"web", "wiki", "instruct", "code"};

/* The file's path into path[0..size); DUO_ERR_IO naming it when it is missing. */
static duo_status corpus_path(const char *corpora, const char *domain, const char *split, char *path,
                              size_t size)
{
    const char *dir = corpora ? corpora : DUO_CORPORA_DIR;
    int n = snprintf(path, size, "%s/%s.%s.txt", dir, domain, split);
    if (n < 0 || (size_t)n >= size)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "corpus path under '%s' is too long", dir);
    struct stat st;
    if (stat(path, &st) != 0)
        return duo_fail(DUO_ERR_IO,
                        "corpus file '%s' not found (run '/usr/bin/python3 scripts/fetch_corpora.py' "
                        "first, or pass --corpora DIR)", path);
    return DUO_OK;
}

duo_status duo_corpus_check(const char *corpora, const char *domain, const char *split)
{
    char path[4096];
    return corpus_path(corpora, domain, split, path, sizeof path);
}

duo_status duo_corpus_read(const char *corpora, const char *domain, const char *split, uint8_t **text,
                           size_t *size)
{
    char path[4096];
    DUO_TRY(corpus_path(corpora, domain, split, path, sizeof path));
    return duo_read_whole_file(path, "corpus file", text, size);
}

int duo_corpus_split_list(const char *list, char *buf, size_t size, char **names, int max)
{
    if (strlen(list) + 1 > size)
        return -1;
    strcpy(buf, list);
    int n = 0;
    for (char *p = buf;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (!*p || n == max)
            return -1;
        names[n++] = p;
        if (!comma)
            return n;
        p = comma + 1;
    }
}

duo_status duo_corpus_domains(const char *const *domains, int n, const char *const **out, int *n_out)
{
    if (!domains) {
        *out = DEFAULT_DOMAINS;
        *n_out = (int)(sizeof DEFAULT_DOMAINS / sizeof *DEFAULT_DOMAINS);
        return DUO_OK;
    }
    if (n < 1 || n > DUO_CORPUS_MAX_DOMAINS)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "%d domains given (1 to %d allowed)", n,
                        DUO_CORPUS_MAX_DOMAINS);
    *out = domains;
    *n_out = n;
    return DUO_OK;
}

duo_status duo_tokenizer_open(const char *name, duo_tokenizer **out)
{
    if (!name || strcmp(name, "byte") == 0)
        return duo_tokenizer_byte_level(out);
    return duo_tokenizer_load(name, out);
}

duo_status duo_corpus_encode(duo_tokenizer *tok, const char *corpora, const char *domain,
                             const char *split, bool check, int32_t **ids, duo_encode_stats *stats,
                             double *encode_start)
{
    uint8_t *text;
    size_t size;
    DUO_TRY(duo_corpus_read(corpora, domain, split, &text, &size));
    size_t count = 0;
    double t0 = duo_now_seconds();
    duo_status st = duo_tokenizer_encode(tok, text, size, ids, &count);
    double t1 = duo_now_seconds();
    *stats = (duo_encode_stats){.domain = domain, .split = split, .tokens = count, .bytes = size,
                                .bytes_per_token = count ? (double)size / (double)count : 0.0,
                                .seconds = t1 - t0};
    if (st == DUO_OK && check) {
        uint8_t *back;
        size_t back_n;
        st = duo_tokenizer_decode(tok, *ids, count, &back, &back_n);
        if (st == DUO_OK) {
            bool same = back_n == size && memcmp(back, text, size) == 0;
            stats->round_trip = same ? DUO_ROUND_TRIP_EXACT : DUO_ROUND_TRIP_MISMATCH;
            free(back);
        }
        if (st != DUO_OK) {
            free(*ids);
            *ids = NULL;
        }
    }
    free(text);
    if (encode_start)
        *encode_start = t0;
    return st;
}

size_t duo_corpus_sample(const uint8_t *text, size_t n, size_t budget, int pieces, uint8_t *sample)
{
    if (n <= budget) {
        memcpy(sample, text, n);
        return n;
    }
    size_t used = 0, piece = budget / (size_t)pieces;
    for (int p = 0; p < pieces; p++) {
        size_t at = (size_t)((double)p / pieces * (double)(n - piece));
        while (at > 0 && at < n && text[at - 1] != 0) /* back to the document's start */
            at--;
        size_t end = at + piece < n ? at + piece : n;
        while (end > at + piece / 2 && end < n && text[end] != ' ' && text[end] != 0)
            end--; /* do not cut a word */
        if (used)
            sample[used++] = 0;
        memcpy(sample + used, text + at, end - at);
        used += end - at;
    }
    return used;
}
