/* Intel: the compute runtime (NEO) for GPUs and the CPU runtime. */
#include "profile.h"

static bool is_intel(const duo_device_info *device)
{
    return device->vendor_id == 0x8086 || duo_text_contains(device->platform, "Intel");
}

const duo_profile duo_profile_intel = {
    .name = "intel",
    .matches = is_intel,
    .build_flags = "",
    .work_group_1d = 128,
    .work_group_reduce = 128,
    .work_group_2d = 8,
    /* Not measured here yet; the GEMM path writes (T, T) scores to global memory. */
    .attention_fused = true,
    .binary_cache = true,
    .quirks = "sub-groups of 8-32; integrated GPUs share host memory",
};
