/* Fused causal attention (kernels/attention_fused.cl) against the
 * double-precision C reference (tests/ref/attention_ref.c, whose backward
 * op_attention checks against central finite differences), forward and
 * backward, at T = 1, 7, 65, 129 (the tile is 64 on PoCL, 32 on oclgrind:
 * 65 and 129 end in a tile of one position), every head-dim capacity of the
 * kernels (16, 32, 64, 128) and head dims padded inside one (2, 24, 48),
 * B and H above 1; then the model's shape (T 256, hd 64) and T 300 (a last
 * tile of 44); byte-identical reruns (outputs and the saved block); future
 * keys that change no earlier output bit; the memory sizes, linear in T;
 * head dim 130 refused. Under oclgrind (--small) at T up to 65 with its
 * tile of 32 (16 at head dim 128: its 32 KiB of local memory). The checks
 * against the reference and their tolerance are the harness's
 * (attention_harness.h), shared with op_attention. */
#include <stdio.h>
#include <string.h>

#include "attention_harness.h"
#include "ops/attention_fused.h"
#include "testutil.h"

static const attention_path fused_path = {
    .name = "attention_fused",
    .saved_floats = duo_attention_fused_saved_floats,
    .scratch_floats = duo_attention_fused_scratch_floats,
    .forward = duo_attention_fused_forward,
    .backward = duo_attention_fused_backward,
};

/* The saved block is linear in T: 4 tensors and one float per row and head. */
static void check_sizes(test_context *t)
{
    duo_attention_shape s = {.B = 3, .T = 129, .H = 2, .hd = 24};
    size_t n = 3 * 129 * 2 * 24;
    bool ok = duo_attention_fused_saved_floats(s) == 4 * n + 3 * 2 * 129 &&
              duo_attention_fused_scratch_floats(s) == 3 * 2 * 129;
    test_true(t, "attention_fused_saved_and_scratch_are_linear_in_t", ok,
              ok ? "saved 4n + B*H*T, scratch B*H*T" : "unexpected saved or scratch size");
    char why[256];
    bool refused = duo_attention_fused_tile(t->rt, 130, why, sizeof why) == 0;
    test_true(t, "attention_fused_refuses_head_dim_130", refused && strstr(why, "130") != NULL,
              refused ? why : "a tile was offered for head dim 130");
}

static void run(test_context *t)
{
    const attention_path *p = &fused_path;
    size_t tile = duo_attention_fused_tile(t->rt, 64, NULL, 0);
    printf("tile %zu positions at head dim 64\n", tile);
    check_sizes(t);
    if (t->small) {
        attention_check_against_reference(t, p, (duo_attention_shape){1, 1, 1, 16}, false);
        attention_check_against_reference(t, p, (duo_attention_shape){2, 7, 2, 24}, true);
        attention_check_against_reference(t, p, (duo_attention_shape){1, 7, 2, 2}, false);
        attention_check_against_reference(t, p, (duo_attention_shape){1, 5, 1, 128}, false);
        attention_check_causality(t, p, (duo_attention_shape){1, 7, 1, 16}, 3);
        /* Three tiles of 32 (oclgrind's), the last of one position. */
        attention_check_against_reference(t, p, (duo_attention_shape){1, 65, 2, 16}, false);
        attention_check_against_reference(t, p, (duo_attention_shape){1, 33, 1, 64}, false);
        return;
    }
    static const size_t Ts[] = {1, 7, 65, 129};
    static const size_t hds[] = {16, 32, 64, 128, 2, 24, 48};
    for (size_t a = 0; a < sizeof Ts / sizeof Ts[0]; a++)
        for (size_t c = 0; c < sizeof hds / sizeof hds[0]; c++) {
            size_t B = 2 + (a + c) % 2, H = 2 + c % 3;
            attention_check_against_reference(t, p, (duo_attention_shape){B, Ts[a], H, hds[c]},
                                              Ts[a] == 129 && hds[c] == 64);
        }
    /* The model's shape at a smaller batch, and a last tile of 44. */
    attention_check_against_reference(t, p, (duo_attention_shape){2, 256, 4, 64}, true);
    attention_check_against_reference(t, p, (duo_attention_shape){1, 300, 2, 64}, false);
    attention_check_causality(t, p, (duo_attention_shape){2, 129, 3, 24}, 64);
    attention_check_causality(t, p, (duo_attention_shape){1, 200, 2, 128}, 100);
}

int main(int argc, char **argv) { return test_main(argc, argv, "op_attention_fused", run); }
