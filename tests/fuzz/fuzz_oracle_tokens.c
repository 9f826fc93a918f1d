/* RUN/oracle_tokens.bin (duo_token_file_read): the oracle's per-token
 * losses and routes that `duocl difficulty` reads. A file that loads has
 * every array it declares, in full: each is read to its end. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>

#include "study/oracle_tokens.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("oracle_tokens.bin", data, size);
    duo_token_file f;
    if (duo_token_file_read(path, &f) == DUO_OK) {
        FUZZ_ASSERT(f.layers >= 1 && f.ctx >= 1 && f.n_domains >= 1, "L %d, ctx %d, %d domains",
                    f.layers, f.ctx, f.n_domains);
        for (int d = 0; d < f.n_domains; d++) {
            const duo_token_domain *dom = &f.domain[d];
            FUZZ_ASSERT(dom->tokens == dom->n_windows * (uint64_t)f.ctx, "tokens %llu",
                        (unsigned long long)dom->tokens);
            for (uint64_t i = 0; i < dom->tokens; i++) {
                fuzz_sink += dom->loss_small[i] + dom->loss_big[i];
                fuzz_sink += (double)duo_token_input(dom, f.ctx, i) + (double)duo_token_target(dom, f.ctx, i);
                for (int k = 0; k <= f.layers && k <= DUO_TOKEN_FILE_MAX_LAYERS; k++)
                    if (dom->searched & (1u << k))
                        fuzz_sink += dom->loss_oracle[k][i] + dom->big_mask[k][i];
            }
        }
        char budgets[256];
        duo_token_file_budgets(&f, budgets, sizeof budgets);
        duo_token_file_free(&f);
    }
    duo_clear_error();
    return 0;
}
