/* A tokenizer file (duo_tokenizer_load): its kind, vocabulary, merges and
 * EOT id. A tokenizer that loads encodes a text drawn from the input and
 * decodes it back to the same bytes, and names every id's bytes. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "duocl/tokenizer.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("tokenizer.json", data, size);
    duo_tokenizer *tok = NULL;
    if (duo_tokenizer_load(path, &tok) == DUO_OK) {
        int V = duo_tokenizer_vocab_size(tok);
        for (int id = 0; id < V; id++) {
            size_t n = 0;
            const uint8_t *bytes = duo_tokenizer_token_bytes(tok, id, &n);
            FUZZ_ASSERT(bytes != NULL, "token %d of %d has no bytes", id, V);
        }
        (void)duo_tokenizer_fingerprint(tok);
        /* Some text: the input's own bytes without NULs (0x00 is EOT). */
        size_t n = size < 512 ? size : 512, m = 0;
        uint8_t text[512];
        for (size_t i = 0; i < n; i++)
            if (data[i])
                text[m++] = data[i];
        int32_t *ids = NULL;
        size_t count = 0;
        if (m && duo_tokenizer_encode(tok, text, m, &ids, &count) == DUO_OK) {
            uint8_t *back = NULL;
            size_t back_n = 0;
            FUZZ_ASSERT(duo_tokenizer_decode(tok, ids, count, &back, &back_n) == DUO_OK, "%s",
                        duo_last_error());
            FUZZ_ASSERT(back_n == m && memcmp(back, text, m) == 0,
                        "decode(encode(text)) differs: %zu bytes back of %zu", back_n, m);
            FUZZ_ASSERT(duo_tokenizer_text_bytes(tok, ids, count) == m, "text_bytes is not %zu", m);
            free(back);
        }
        free(ids);
    }
    duo_tokenizer_destroy(tok);
    duo_clear_error();
    return 0;
}
