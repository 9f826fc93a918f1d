/* A checkpoint file (duo_checkpoint_open): header, config block, tensor
 * table, data and checksum. When it opens, every tensor it lists is read
 * back by index and by name, and the u64 state a resume looks for. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "duocl/checkpoint.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("fuzz.ckpt", data, size);
    duo_checkpoint *ck = NULL;
    if (duo_checkpoint_open(path, &ck) == DUO_OK) {
        FUZZ_ASSERT(strlen(duo_checkpoint_config_json(ck)) <= size, "config block longer than the file");
        size_t n = duo_checkpoint_tensor_count(ck);
        for (size_t i = 0; i < n; i++) {
            duo_tensor_desc t;
            if (duo_checkpoint_tensor_at(ck, i, &t) != DUO_OK)
                continue;
            /* Every byte of the data must lie inside what was read (ASan checks). */
            size_t bytes = duo_dtype_size(t.dtype);
            for (int d = 0; d < t.ndim; d++)
                bytes *= (size_t)t.shape[d];
            for (size_t b = 0; b < bytes; b++)
                fuzz_sink += ((const uint8_t *)t.data)[b];
            const void *found = NULL;
            if (duo_checkpoint_find(ck, t.name, t.dtype, t.ndim, t.shape, &found) == DUO_OK && t.ndim == 0) {
                uint64_t v;
                (void)duo_checkpoint_get_u64(ck, t.name, &v);
            }
        }
        uint64_t step;
        (void)duo_checkpoint_get_u64(ck, "state.step", &step);
        (void)duo_checkpoint_get_u64(ck, "state.loader_next", &step);
    }
    duo_checkpoint_close(ck);
    duo_clear_error();
    return 0;
}
