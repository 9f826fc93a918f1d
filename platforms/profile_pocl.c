/* PoCL: the Portable Computing Language, OpenCL on CPUs through LLVM. */
#include "profile.h"

static bool is_pocl(const duo_device_info *device)
{
    return duo_text_contains(device->platform, "Portable Computing Language") ||
           duo_text_contains(device->platform_version, "pocl");
}

const duo_profile duo_profile_pocl = {
    .name = "pocl",
    .matches = is_pocl,
    .build_flags = "",
    /* One work-group runs as a loop on one core; its size is the loop's
     * vectorisation width, preferred multiple 8, vector width 16. */
    .work_group_1d = 64,
    .work_group_reduce = 64,
    .work_group_2d = 8,
    /* The GEMM path on the built-in GEMM: 2.0-2.5x faster than the fused
     * kernels at T 256-2048 (they were 1.6-2.8x faster than it on CLBlast),
     * for O(T^2) memory per layer; README, Benchmarks. */
    .attention_fused = false,
    /* The built-in GEMM, 16x CLBlast untuned and 4x tuned here (median per shape; README,
     * Benchmarks): a work-item's tile is 8 rows by two 16-float vectors
     * (AVX-512), 16 accumulators; k in blocks of 256 keeps a group's panels
     * of A and B in L2. */
    .gemm = DUO_GEMM_BUILTIN,
    .gemm_tiles = {.wg_x = 4, .wg_y = 4, .rows = 8, .width = 16, .vectors = 2, .k_block = 256},
    /* PoCL caches compiled kernels itself; reading binaries back triggers
     * another compile, so our own cache only slows it down. */
    .binary_cache = false,
    .quirks = "local memory is emulated in ordinary memory; no fp16; "
              "kernel cache in POCL_CACHE_DIR",
};
