/* Oclgrind: a simulator that checks kernels for out-of-bounds accesses, races
 * and uninitialised reads. It says it is a GPU; it is never a default device. */
#include "profile.h"

static bool is_oclgrind(const duo_device_info *device)
{
    return duo_text_contains(device->platform, "Oclgrind");
}

const duo_profile duo_profile_oclgrind = {
    .name = "oclgrind",
    .matches = is_oclgrind,
    .build_flags = "",
    /* Small groups keep the simulation of barriers and local memory quick. */
    .work_group_1d = 32,
    .work_group_reduce = 32,
    .work_group_2d = 4,
    .attention_fused = true,
    /* Small tiles: 37 x 37 products still cover full and partial tiles. */
    .gemm = DUO_GEMM_CLBLAST,
    .gemm_tiles = {.wg_x = 2, .wg_y = 2, .rows = 4, .width = 4, .vectors = 2, .k_block = 16},
    .binary_cache = false,
    .simulator = true,
    .quirks = "a simulator: thousands of times slower than hardware; use small sizes",
};
