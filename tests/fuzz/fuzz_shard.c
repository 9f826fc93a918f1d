/* A token shard (duo_shard_open, duo_shard_read_info): the 64-byte header
 * and the tokens. A shard that opens reads every token range it claims to
 * hold and its validation windows. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "duocl/data.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("fuzz.train.tok", data, size);
    duo_shard_info info;
    (void)duo_shard_read_info(path, &info);
    duo_shard *shard = NULL;
    if (duo_shard_open(path, 0, 0, &shard) == DUO_OK) {
        const duo_shard_info *i = duo_shard_get_info(shard);
        FUZZ_ASSERT(i->tokens <= size, "%llu tokens in a file of %zu bytes",
                    (unsigned long long)i->tokens, size);
        int32_t tokens[64];
        size_t n = i->tokens < 64 ? (size_t)i->tokens : 64;
        FUZZ_ASSERT(duo_shard_read(shard, 0, n, tokens) == DUO_OK, "%s", duo_last_error());
        FUZZ_ASSERT(duo_shard_read(shard, i->tokens - n, n, tokens) == DUO_OK, "%s", duo_last_error());
        for (size_t t = 0; t < n; t++)
            FUZZ_ASSERT(tokens[t] >= 0 && (uint32_t)tokens[t] < i->vocab, "token %d of vocab %u",
                        tokens[t], i->vocab);
        (void)duo_shard_read(shard, i->tokens, 1, tokens); /* past the end: an error, no read */
        (void)duo_shard_bytes_per_token(shard);
        for (int ctx = 1; ctx <= 32; ctx *= 4) {
            uint64_t windows = duo_val_window_count(shard, ctx);
            int32_t window[33];
            if (windows > 0) {
                FUZZ_ASSERT(duo_val_window(shard, ctx, 0, window) == DUO_OK, "%s", duo_last_error());
                FUZZ_ASSERT(duo_val_window(shard, ctx, windows - 1, window) == DUO_OK, "%s",
                            duo_last_error());
            }
        }
    }
    duo_shard_close(shard);
    duo_clear_error();
    return 0;
}
