/* Any other OpenCL device: conservative choices that every driver accepts. */
#include "profile.h"

static bool always(const duo_device_info *device)
{
    (void)device;
    return true;
}

const duo_profile duo_profile_generic = {
    .name = "generic",
    .matches = always,
    .build_flags = "",
    .work_group_1d = 64,
    .work_group_reduce = 64,
    .work_group_2d = 8,
    /* An unknown device keeps CLBlast's products. */
    .attention_fused = false,
    /* CLBlast's products; the built-in GEMM, when asked for, in small
     * tiles any device takes. */
    .gemm = DUO_GEMM_CLBLAST,
    .gemm_tiles = {.wg_x = 8, .wg_y = 8, .rows = 4, .width = 4, .vectors = 1, .k_block = 0},
    .binary_cache = false,
    .quirks = "unknown vendor: conservative work-group sizes, no binary cache",
};
