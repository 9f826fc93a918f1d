/* From corpora to what training reads: token shards (duo_prepare_shards), a
 * BPE tokenizer trained on a balanced sample (duo_tokenizer_train_from_corpora)
 * and bytes/token on the validation text (duo_corpus_measure). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "data/corpus.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/fileio.h"

enum { SAMPLE_PIECES = 64, DEFAULT_VOCAB = 4096, MAX_VOCAB = 65536 };

static const char *const SPLITS[2] = {"train", "val"};

duo_status duo_corpus_measure(duo_tokenizer *tok, const duo_measure_options *o, duo_encode_stats *stats)
{
    const char *const *domains;
    int n;
    DUO_TRY(duo_corpus_domains(o->domains, o->n_domains, &domains, &n));
    for (int d = 0; d < n; d++) {
        int32_t *ids;
        duo_encode_stats s;
        DUO_TRY(duo_corpus_encode(tok, o->corpora, domains[d], "val", o->check, &ids, &s, NULL));
        free(ids);
        if (stats)
            stats[d] = s;
        if (o->callback)
            o->callback(&s, o->user);
        if (s.round_trip == DUO_ROUND_TRIP_MISMATCH)
            return duo_fail(DUO_ERR_NUMERIC, "round-trip of %s/%s.val.txt did not give back the same bytes",
                            o->corpora ? o->corpora : DUO_CORPORA_DIR, domains[d]);
    }
    return DUO_OK;
}

/* ------------------------------------------------------------ tokenizer training */

typedef struct train_relay {
    const duo_tokenizer_train_options *options;
    duo_tokenizer_train_result *result;
    int next;
} train_relay;

static void emit_train(const duo_tokenizer_train_options *o, duo_tokenizer_train_event e)
{
    if (o->callback)
        o->callback(&e, o->user);
}

static void relay_measured(const duo_encode_stats *stats, void *user)
{
    train_relay *r = user;
    if (r->result)
        r->result->measured[r->next] = *stats;
    r->next++;
    emit_train(r->options, (duo_tokenizer_train_event){.kind = DUO_TOKENIZER_TRAIN_MEASURED,
                                                       .measured = stats});
}

/* The "trained_on" object of the tokenizer file (malloc'd text). seconds is
 * kept to milliseconds, as the file has always had it. */
static char *trained_on(const char *corpora, const duo_bpe_train_stats *stats,
                        const char *const *domains, int n)
{
    char seconds[64];
    snprintf(seconds, sizeof seconds, "%.3f", stats->seconds);
    cJSON *info = cJSON_CreateObject();
    cJSON *list = cJSON_CreateArray();
    cJSON_AddStringToObject(info, "corpora", corpora);
    cJSON_AddNumberToObject(info, "sample_bytes", (double)stats->sample_bytes);
    for (int d = 0; d < n; d++)
        cJSON_AddItemToArray(list, cJSON_CreateString(domains[d]));
    cJSON_AddItemToObject(info, "domains", list);
    cJSON_AddNumberToObject(info, "unique_chunks", (double)stats->unique_chunks);
    cJSON_AddNumberToObject(info, "seconds", strtod(seconds, NULL));
    char *text = cJSON_PrintUnformatted(info);
    cJSON_Delete(info);
    return text;
}

/* Each domain's share of the sample, appended to sample[0..*used). */
static duo_status take_samples(const duo_tokenizer_train_options *o, const char *corpora,
                               const char *const *domains, int n, size_t per_domain, uint8_t *sample,
                               size_t *used, duo_tokenizer_train_result *result)
{
    for (int d = 0; d < n; d++) {
        uint8_t *text;
        size_t size;
        DUO_TRY(duo_corpus_read(corpora, domains[d], "train", &text, &size));
        if (*used)
            sample[(*used)++] = 0;
        size_t got = duo_corpus_sample(text, size, per_domain - (*used ? 1 : 0), SAMPLE_PIECES,
                                       sample + *used);
        free(text);
        *used += got;
        if (result)
            result->sampled[d] = got;
        emit_train(o, (duo_tokenizer_train_event){.kind = DUO_TOKENIZER_TRAIN_SAMPLED,
                                                  .domain = domains[d], .taken = got, .text_bytes = size});
    }
    return DUO_OK;
}

duo_status duo_tokenizer_train_from_corpora(const duo_tokenizer_train_options *o,
                                            duo_tokenizer_train_result *result,
                                            duo_tokenizer **tokenizer)
{
    if (tokenizer)
        *tokenizer = NULL;
    const char *const *domains;
    int n;
    DUO_TRY(duo_corpus_domains(o->domains, o->n_domains, &domains, &n));
    int vocab = o->vocab ? o->vocab : DEFAULT_VOCAB;
    if (vocab < DUO_TOKEN_FIRST_MERGE + 1 || vocab > MAX_VOCAB)
        return duo_fail(DUO_ERR_INVALID_ARGUMENT, "tokenizer vocab %d is outside [%d, %d]", vocab,
                        DUO_TOKEN_FIRST_MERGE + 1, MAX_VOCAB);
    const char *corpora = o->corpora ? o->corpora : DUO_CORPORA_DIR;
    char out[4096];
    if (o->out)
        snprintf(out, sizeof out, "%s", o->out);
    else
        snprintf(out, sizeof out, "data/tokenizer-%d.json", vocab);
    if (result) {
        memset(result, 0, sizeof *result);
        snprintf(result->out, sizeof result->out, "%s", out);
    }

    size_t budget = o->sample_bytes ? o->sample_bytes : 1048576, per_domain = budget / (size_t)n;
    uint8_t *sample = malloc(budget + 4096);
    if (!sample)
        return duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for a %.1f MB sample",
                        (double)budget / 1048576.0);
    size_t used = 0;
    duo_status st = take_samples(o, corpora, domains, n, per_domain, sample, &used, result);
    duo_tokenizer *tok = NULL;
    duo_bpe_train_stats stats;
    if (st == DUO_OK)
        st = duo_tokenizer_train_bpe(sample, used, vocab, &tok, &stats);
    free(sample);
    if (st != DUO_OK)
        return st;
    if (result) {
        result->stats = stats;
        result->vocab = duo_tokenizer_vocab_size(tok);
    }
    emit_train(o, (duo_tokenizer_train_event){.kind = DUO_TOKENIZER_TRAIN_TRAINED, .stats = &stats,
                                              .vocab = duo_tokenizer_vocab_size(tok)});

    char *info = trained_on(corpora, &stats, domains, n);
    st = info ? duo_tokenizer_save(tok, out, info)
              : duo_fail(DUO_ERR_OUT_OF_MEMORY, "out of memory for the tokenizer file's trained_on");
    cJSON_free(info);
    if (st == DUO_OK) {
        emit_train(o, (duo_tokenizer_train_event){.kind = DUO_TOKENIZER_TRAIN_SAVED, .path = out});
        train_relay relay = {o, result, 0};
        st = duo_corpus_measure(tok, &(duo_measure_options){.corpora = corpora, .domains = domains,
                                                            .n_domains = n, .callback = relay_measured,
                                                            .user = &relay},
                                NULL);
    }
    if (st == DUO_OK && tokenizer)
        *tokenizer = tok;
    else
        duo_tokenizer_destroy(tok);
    return st;
}

/* ------------------------------------------------------------ shards */

/* "data/shards/<stem of the tokenizer file>" or "data/shards/byte". */
static void default_out(const char *tokenizer, char *buf, size_t size)
{
    if (!tokenizer || strcmp(tokenizer, "byte") == 0) {
        snprintf(buf, size, "data/shards/byte");
        return;
    }
    duo_path_under("data/shards", tokenizer, buf, size);
}

static void emit_prepare(const duo_prepare_options *o, duo_prepare_event e)
{
    if (o->callback)
        o->callback(&e, o->user);
}

/* Encodes one corpus file and writes its shard; *stats gets what was done. */
static duo_status prepare_one(const duo_prepare_options *o, duo_tokenizer *tok, const char *out,
                              const char *domain, const char *split, duo_encode_stats *stats)
{
    int32_t *ids;
    double t0;
    DUO_TRY(duo_corpus_encode(tok, o->corpora, domain, split, o->check, &ids, stats, &t0));
    duo_status st = DUO_OK;
    if (stats->round_trip == DUO_ROUND_TRIP_MISMATCH)
        st = duo_fail(DUO_ERR_NUMERIC, "round-trip of %s/%s.%s.txt did not give back the same bytes",
                      o->corpora ? o->corpora : DUO_CORPORA_DIR, domain, split);
    char path[4096];
    if (st == DUO_OK)
        st = duo_shard_filename(out, domain, split, path, sizeof path);
    if (st == DUO_OK)
        st = duo_shard_write(path, ids, stats->tokens, (uint32_t)duo_tokenizer_vocab_size(tok),
                             stats->bytes, duo_tokenizer_fingerprint(tok));
    free(ids);
    if (st != DUO_OK)
        return st;
    stats->seconds = duo_now_seconds() - t0;
    emit_prepare(o, (duo_prepare_event){.kind = DUO_PREPARE_SHARD, .shard = stats, .path = path});
    return DUO_OK;
}

duo_status duo_prepare_shards(const duo_prepare_options *o, duo_prepare_result *result)
{
    const char *const *domains;
    int n;
    DUO_TRY(duo_corpus_domains(o->domains, o->n_domains, &domains, &n));
    char out[4096];
    if (o->out)
        snprintf(out, sizeof out, "%s", o->out);
    else
        default_out(o->tokenizer, out, sizeof out);
    duo_prepare_result local;
    duo_prepare_result *r = result ? result : &local;
    memset(r, 0, sizeof *r);
    snprintf(r->out, sizeof r->out, "%s", out);

    /* Every input must be there before anything is written. */
    for (int d = 0; d < n; d++)
        for (int s = 0; s < 2; s++)
            DUO_TRY(duo_corpus_check(o->corpora, domains[d], SPLITS[s]));
    duo_tokenizer *tok;
    DUO_TRY(duo_tokenizer_open(o->tokenizer, &tok));
    r->vocab = duo_tokenizer_vocab_size(tok);
    r->fingerprint = duo_tokenizer_fingerprint(tok);
    duo_status st = duo_make_directories(out);
    if (st == DUO_OK) {
        char copy[4200];
        snprintf(copy, sizeof copy, "%s/tokenizer.json", out);
        st = duo_tokenizer_save(tok, copy, NULL);
    }
    if (st == DUO_OK)
        emit_prepare(o, (duo_prepare_event){.kind = DUO_PREPARE_STARTED,
                                            .tokenizer = o->tokenizer ? o->tokenizer : "byte",
                                            .vocab = r->vocab, .fingerprint = r->fingerprint,
                                            .out = out});
    for (int d = 0; d < n && st == DUO_OK; d++)
        for (int s = 0; s < 2 && st == DUO_OK; s++) {
            st = prepare_one(o, tok, out, domains[d], SPLITS[s], &r->shards[2 * d + s]);
            if (st == DUO_OK)
                r->n_shards++;
        }
    duo_tokenizer_destroy(tok);
    return st;
}
