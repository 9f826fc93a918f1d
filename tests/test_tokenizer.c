/* Tokenizers: exact round-trips for any bytes (0x00 and invalid UTF-8
 * included), the pre-split, BPE training on generated text, tokenizer files
 * and the errors bad ones give. Builds its own text; needs no corpora. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duocl/tokenizer.h"
#include "base/rng.h"
#include "testutil.h"
#include "unitcheck.h"

static char tmpdir[256];

static uint8_t *random_bytes(duo_rng *rng, size_t n)
{
    uint8_t *p = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = duo_rng_next(rng);
        /* Plenty of 0x00, spaces and high bytes, so every class is hit. */
        p[i] = (r & 7) == 0 ? 0 : (r & 7) == 1 ? ' ' : (uint8_t)(r >> 8);
    }
    return p;
}

/* Text with the shape of real text: words from a fixed lexicon, spaces,
 * newlines, digits, punctuation, UTF-8 letters, a few invalid bytes and
 * 0x00 between documents. */
static uint8_t *generated_text(uint64_t seed, size_t n, size_t *used)
{
    static const char *const syllables[] = {"the", "an", "ing", "er", "pro", "con", "ti", "on",
                                            "re", "de", "com", "al", "st", "ly", "ex", "ma"};
    static const char *const extras[] = {", ", ". ", "\n", "\n\n", "; ", " (", ") ", " 1984", " 42",
                                         "\xc3\xa9t\xc3\xa9", " \xe6\x97\xa5\xe6\x9c\xac", "\xff\xfe",
                                         "    ", "\t", "!?", "\x00"};
    duo_rng rng = duo_rng_seeded(seed);
    char lexicon[200][24];
    for (int w = 0; w < 200; w++) {
        lexicon[w][0] = 0;
        int parts = 1 + (int)duo_rng_below(&rng, 3);
        for (int k = 0; k < parts; k++)
            strcat(lexicon[w], syllables[duo_rng_below(&rng, 16)]);
    }
    uint8_t *text = malloc(n + 64);
    size_t at = 0;
    while (at < n) {
        /* Zipf-like: low word ids far more often. */
        double u = (double)duo_rng_uniform(&rng);
        int w = (int)(200.0 * u * u * u);
        const char *word = lexicon[w];
        size_t len = strlen(word);
        text[at++] = ' ';
        memcpy(text + at, word, len);
        at += len;
        if (duo_rng_below(&rng, 6) == 0) {
            int e = (int)duo_rng_below(&rng, 16);
            size_t elen = e == 15 ? 1 : strlen(extras[e]);
            memcpy(text + at, extras[e], elen);
            at += elen;
        }
    }
    *used = at;
    return text;
}

static bool roundtrip(duo_tokenizer *tok, const uint8_t *text, size_t n, size_t *tokens_out)
{
    int32_t *ids;
    size_t count;
    if (duo_tokenizer_encode(tok, text, n, &ids, &count) != DUO_OK)
        return false;
    uint8_t *back;
    size_t back_n;
    bool ok = duo_tokenizer_decode(tok, ids, count, &back, &back_n) == DUO_OK && back_n == n &&
              memcmp(back, text, n) == 0;
    for (size_t i = 0; ok && i < count; i++)
        ok = ids[i] != 0 && ids[i] >= 0 && ids[i] < duo_tokenizer_vocab_size(tok);
    ok = ok && duo_tokenizer_text_bytes(tok, ids, count) == n;
    if (tokens_out)
        *tokens_out = count;
    free(ids);
    free(back);
    return ok;
}

static duo_tokenizer *trained; /* BPE trained once on generated text, shared below */

static void pre_split_follows_the_documented_rules(void)
{
    struct { const char *text; size_t n, want; } cases[] = {
        {" hello world", 12, 6}, {"hello world", 11, 5}, {"  hi", 4, 1}, {" \n hi", 5, 2},
        {"\n\nfoo", 5, 2}, {"123abc", 6, 3}, {" 123", 4, 4}, {"...x", 4, 3}, {" ...", 4, 4},
        {"\0abc", 4, 1}, {"ab\0", 3, 2}, {"\xc3\xa9t\xc3\xa9!", 6, 5}, {"   ", 3, 3}, {" ", 1, 1},
        {"\t\tx", 3, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t got = duo_tokenizer_chunk_length((const uint8_t *)cases[i].text, cases[i].n);
        unit_check("chunk_length", got == cases[i].want, "case %zu (\"%s\"): got %zu, want %zu", i,
                   cases[i].text, got, cases[i].want);
    }
    uint8_t run[200];
    memset(run, 'a', sizeof run);
    unit_check("chunk_length_cut_at_max_chunk",
               duo_tokenizer_chunk_length(run, sizeof run) == DUO_BPE_MAX_CHUNK, "long run not cut at %d",
               DUO_BPE_MAX_CHUNK);
}

static void byte_level_roundtrips_random_bytes(void)
{
    duo_tokenizer *tok;
    if (!unit_ok("byte_level", duo_tokenizer_byte_level(&tok)))
        return;
    unit_check("byte_level_vocab", duo_tokenizer_vocab_size(tok) == DUO_BYTE_VOCAB, "vocab %d",
               duo_tokenizer_vocab_size(tok));
    duo_rng rng = duo_rng_seeded(1);
    for (int trial = 0; trial < 50; trial++) {
        size_t n = (size_t)duo_rng_below(&rng, 3000);
        uint8_t *text = random_bytes(&rng, n);
        size_t count;
        bool ok = roundtrip(tok, text, n, &count);
        unit_check("byte_level_roundtrip", ok && count == n, "trial %d, %zu bytes", trial, n);
        free(text);
    }
    const uint8_t doc[] = {'a', 0, 'b'};
    int32_t *ids;
    size_t count;
    if (unit_ok("byte_level_encode", duo_tokenizer_encode(tok, doc, 3, &ids, &count))) {
        unit_check("byte_level_nul_is_eot", count == 3 && ids[0] == 'a' && ids[1] == DUO_TOKEN_EOT &&
                   ids[2] == 'b', "got %zu ids", count);
        free(ids);
    }
    duo_tokenizer_destroy(tok);
}

static void bpe_trains_and_compresses_generated_text(void)
{
    size_t n, held_n;
    uint8_t *text = generated_text(11, 300000, &n);
    uint8_t *held = generated_text(12, 100000, &held_n);
    duo_bpe_train_stats stats;
    if (!unit_ok("bpe_train", duo_tokenizer_train_bpe(text, n, 600, &trained, &stats)))
        goto done;
    unit_check("bpe_train_merges", stats.merges == 600 - 257 && duo_tokenizer_vocab_size(trained) == 600,
               "merges %d, vocab %d", stats.merges, duo_tokenizer_vocab_size(trained));
    unit_check("bpe_train_unique_chunks", stats.unique_chunks > 0 && stats.unique_chunks < stats.chunks,
               "%zu unique of %zu", stats.unique_chunks, stats.chunks);
    size_t count;
    bool ok = roundtrip(trained, held, held_n, &count);
    double ratio = (double)held_n / (double)count;
    unit_check("bpe_held_out_roundtrip", ok, "held-out text did not round-trip");
    /* The lexicon has 200 words of 2-9 letters: 343 merges cover most of
     * them, so held-out text must compress well beyond 1 byte per token. */
    unit_check("bpe_compresses_held_out_text", ratio >= 2.5, "%.3f bytes/token, want >= 2.5", ratio);
    printf("  bpe on generated text: %.3f bytes/token held out, trained in %.3f s\n", ratio, stats.seconds);

    duo_tokenizer *again;
    if (unit_ok("bpe_train_again", duo_tokenizer_train_bpe(text, n, 600, &again, NULL))) {
        unit_check("bpe_training_is_deterministic",
                   duo_tokenizer_fingerprint(again) == duo_tokenizer_fingerprint(trained),
                   "two runs gave different merges");
        duo_tokenizer_destroy(again);
    }
    duo_tokenizer *small;
    const uint8_t tiny[] = "ab ab ab";
    if (unit_ok("bpe_train_tiny", duo_tokenizer_train_bpe(tiny, 8, 1000, &small, &stats))) {
        unit_check("bpe_stops_when_no_pair_repeats", stats.merges >= 1 && stats.merges < 10 &&
                   duo_tokenizer_vocab_size(small) == 257 + stats.merges, "%d merges", stats.merges);
        duo_tokenizer_destroy(small);
    }
    unit_fails("bpe_rejects_vocab_257", duo_tokenizer_train_bpe(text, n, 257, &small, NULL),
               DUO_ERR_INVALID_ARGUMENT, "vocab size 257", NULL);
done:
    free(text);
    free(held);
}

static void bpe_roundtrips_any_bytes(void)
{
    if (!trained)
        return;
    duo_rng rng = duo_rng_seeded(2);
    int failures = 0;
    for (int trial = 0; trial < 200; trial++) {
        size_t n = (size_t)duo_rng_below(&rng, 2000);
        uint8_t *text = random_bytes(&rng, n);
        if (trial % 2) { /* splice generated text in: long merges next to odd bytes */
            size_t gn;
            uint8_t *g = generated_text(100 + (uint64_t)trial, n / 2 + 1, &gn);
            memcpy(text, g, n / 2 < gn ? n / 2 : gn);
            free(g);
        }
        failures += !roundtrip(trained, text, n, NULL);
        free(text);
    }
    unit_check("bpe_roundtrip_random_bytes", failures == 0, "%d of 200 strings changed", failures);
    const uint8_t edge[] = {0, 0, ' ', 0, 0xff, 0xc3, ' ', ' ', 0, '\n'};
    unit_check("bpe_roundtrip_edge_bytes", roundtrip(trained, edge, sizeof edge, NULL), "edge case");
    unit_check("bpe_roundtrip_empty", roundtrip(trained, edge, 0, NULL), "empty input");
}

/* Every chunk boundary of the pre-split is a token boundary. */
static void bpe_merges_never_cross_chunks(void)
{
    if (!trained)
        return;
    size_t n;
    uint8_t *text = generated_text(21, 50000, &n);
    int32_t *ids;
    size_t count;
    if (!unit_ok("bpe_encode", duo_tokenizer_encode(trained, text, n, &ids, &count))) {
        free(text);
        return;
    }
    size_t pos = 0, next_chunk = 0, crossing = 0;
    for (size_t i = 0; i < count; i++) {
        size_t len;
        duo_tokenizer_token_bytes(trained, ids[i], &len);
        while (next_chunk < pos)
            next_chunk += duo_tokenizer_chunk_length(text + next_chunk, n - next_chunk);
        if (next_chunk > pos && next_chunk < pos + len)
            crossing++;
        pos += len;
    }
    unit_check("bpe_tokens_stay_inside_chunks", crossing == 0 && pos == n, "%zu tokens cross a chunk boundary",
               crossing);
    size_t eot = 0, nul = 0;
    for (size_t i = 0; i < count; i++)
        eot += ids[i] == DUO_TOKEN_EOT;
    for (size_t i = 0; i < n; i++)
        nul += text[i] == 0;
    unit_check("bpe_nul_is_eot", eot == nul && nul > 0, "%zu end-of-text ids for %zu NUL bytes", eot, nul);
    free(ids);
    free(text);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void tokenizer_files_save_and_load(void)
{
    if (!trained)
        return;
    char path[512];
    snprintf(path, sizeof path, "%s/bpe.json", tmpdir);
    unit_ok("save_bpe", duo_tokenizer_save(trained, path, "{\"note\": \"test\"}"));
    duo_tokenizer *loaded;
    if (unit_ok("load_bpe", duo_tokenizer_load(path, &loaded))) {
        unit_check("load_bpe_same_vocabulary",
                   duo_tokenizer_fingerprint(loaded) == duo_tokenizer_fingerprint(trained) &&
                   duo_tokenizer_get_kind(loaded) == DUO_TOKENIZER_BPE, "fingerprints differ");
        size_t n;
        uint8_t *text = generated_text(5, 20000, &n);
        int32_t *a, *b;
        size_t ca, cb;
        if (duo_tokenizer_encode(trained, text, n, &a, &ca) == DUO_OK &&
            duo_tokenizer_encode(loaded, text, n, &b, &cb) == DUO_OK) {
            unit_check("load_bpe_same_encoding", ca == cb && memcmp(a, b, ca * sizeof *a) == 0, "encodings differ");
            free(a);
            free(b);
        }
        free(text);
        duo_tokenizer_destroy(loaded);
    }
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unit_check("save_leaves_no_temporary", access(tmp, F_OK) != 0, "%s left behind", tmp);

    duo_tokenizer *byte;
    snprintf(path, sizeof path, "%s/byte.json", tmpdir);
    if (unit_ok("byte_level", duo_tokenizer_byte_level(&byte)) &&
        unit_ok("save_byte", duo_tokenizer_save(byte, path, NULL)) &&
        unit_ok("load_byte", duo_tokenizer_load(path, &loaded))) {
        unit_check("load_byte_kind", duo_tokenizer_get_kind(loaded) == DUO_TOKENIZER_BYTE &&
                   duo_tokenizer_vocab_size(loaded) == 257 &&
                   duo_tokenizer_fingerprint(loaded) == duo_tokenizer_fingerprint(byte), "byte-level file");
        unit_check("byte_and_bpe_fingerprints_differ",
                   duo_tokenizer_fingerprint(byte) != duo_tokenizer_fingerprint(trained), "same fingerprint");
        duo_tokenizer_destroy(loaded);
    }
    duo_tokenizer_destroy(byte);
}

static void bad_tokenizer_files_name_file_and_field(void)
{
#define HEAD "{\"format\": \"duocl-tokenizer\", \"version\": 1, \"kind\": \"bpe\", \"eot_id\": 256, "
    struct { const char *name, *json, *needle; } cases[] = {
        {"not_json", "{\"format\": \"duocl-tokenizer\",", "not valid JSON"},
        {"not_object", "[1, 2]", "expected a JSON object"},
        {"wrong_format", "{\"format\": \"gpt2\", \"version\": 1}", "field 'format'"},
        {"wrong_version", HEAD "\"vocab_size\": 257, \"merges\": []}", NULL},
        {"bad_kind", "{\"format\": \"duocl-tokenizer\", \"version\": 1, \"kind\": \"wordpiece\"}", "field 'kind'"},
        {"vocab_mismatch", HEAD "\"vocab_size\": 300, \"merges\": [[97, 98]]}", "field 'vocab_size'"},
        {"merge_uses_later_id", HEAD "\"vocab_size\": 259, \"merges\": [[97, 98], [97, 259]]}", "field 'merges[1]'"},
        {"merge_uses_own_id", HEAD "\"vocab_size\": 258, \"merges\": [[257, 97]]}", "field 'merges[0]'"},
        {"merge_of_eot", HEAD "\"vocab_size\": 258, \"merges\": [[256, 97]]}", "end-of-text"},
        {"merge_twice", HEAD "\"vocab_size\": 259, \"merges\": [[97, 98], [97, 98]]}", "merged twice"},
        {"merge_not_pair", HEAD "\"vocab_size\": 258, \"merges\": [[97]]}", "field 'merges[0]'"},
        {"merge_not_integer", HEAD "\"vocab_size\": 258, \"merges\": [[97.5, 98]]}", "field 'merges[0]'"},
        {"merges_missing", HEAD "\"vocab_size\": 257}", "field 'merges'"},
        {"unknown_key", HEAD "\"vocab_size\": 257, \"merges\": [], \"colour\": 1}", "field 'colour'"},
        {"byte_with_merges", "{\"format\": \"duocl-tokenizer\", \"version\": 1, \"kind\": \"byte\", \"eot_id\": 256, "
                             "\"vocab_size\": 258, \"merges\": [[97, 98]]}", "field 'merges'"},
        {"wrong_eot", "{\"format\": \"duocl-tokenizer\", \"version\": 1, \"kind\": \"byte\", \"eot_id\": 0, "
                      "\"vocab_size\": 257, \"merges\": []}", "field 'eot_id'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[512], name[96];
        snprintf(path, sizeof path, "%s/%s.json", tmpdir, cases[i].name);
        const char *json = cases[i].json;
        char versioned[512];
        if (strcmp(cases[i].name, "wrong_version") == 0) { /* version 2 */
            snprintf(versioned, sizeof versioned, "%s", json);
            char *v = strstr(versioned, "\"version\": 1");
            v[11] = '2';
            json = versioned;
        }
        write_text(path, json);
        duo_tokenizer *tok = NULL;
        snprintf(name, sizeof name, "bad_file_%s", cases[i].name);
        unit_fails(name, duo_tokenizer_load(path, &tok), DUO_ERR_FORMAT, path,
                   cases[i].needle ? cases[i].needle : "version 2 is not supported");
        duo_tokenizer_destroy(tok);
    }
    /* A chain of merges that doubles a token to 128 bytes, past the longest chunk. */
    char path[512];
    snprintf(path, sizeof path, "%s/too_long.json", tmpdir);
    FILE *f = fopen(path, "w");
    fprintf(f, HEAD "\"vocab_size\": %d, \"merges\": [[97, 97]", 257 + 7);
    for (int i = 1; i < 7; i++)
        fprintf(f, ", [%d, %d]", 256 + i, 256 + i);
    fprintf(f, "]}");
    fclose(f);
    duo_tokenizer *tok = NULL;
    unit_fails("bad_file_token_longer_than_chunk", duo_tokenizer_load(path, &tok), DUO_ERR_FORMAT, path,
               "field 'merges[6]'");
    snprintf(path, sizeof path, "%s/missing.json", tmpdir);
    unit_fails("missing_file", duo_tokenizer_load(path, &tok), DUO_ERR_IO, path, NULL);
#undef HEAD
}

static void decode_rejects_ids_outside_vocabulary(void)
{
    duo_tokenizer *tok;
    if (!unit_ok("byte_level", duo_tokenizer_byte_level(&tok)))
        return;
    int32_t ids[] = {97, 257};
    uint8_t *out;
    size_t n;
    unit_fails("decode_id_257_byte_level", duo_tokenizer_decode(tok, ids, 2, &out, &n),
               DUO_ERR_INVALID_ARGUMENT, "token 1 is 257", NULL);
    duo_tokenizer_destroy(tok);
}

int main(void)
{
    if (!test_temp_dir(tmpdir, sizeof tmpdir, "test-tokenizer"))
        return 1;
    UNIT_RUN(pre_split_follows_the_documented_rules);
    UNIT_RUN(byte_level_roundtrips_random_bytes);
    UNIT_RUN(bpe_trains_and_compresses_generated_text);
    UNIT_RUN(bpe_roundtrips_any_bytes);
    UNIT_RUN(bpe_merges_never_cross_chunks);
    UNIT_RUN(tokenizer_files_save_and_load);
    UNIT_RUN(bad_tokenizer_files_name_file_and_field);
    UNIT_RUN(decode_rejects_ids_outside_vocabulary);
    duo_tokenizer_destroy(trained);
    test_remove_dir(tmpdir);
    return unit_summary("test_tokenizer");
}
