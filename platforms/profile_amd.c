/* AMD: ROCm and the older AMD APP (Orca) drivers. */
#include "profile.h"

static bool is_amd(const duo_device_info *device)
{
    return device->vendor_id == 0x1002 || device->vendor_id == 0x1022 ||
           duo_text_contains(device->platform, "AMD Accelerated Parallel Processing");
}

const duo_profile duo_profile_amd = {
    .name = "amd",
    .matches = is_amd,
    .build_flags = "",
    .work_group_1d = 256,
    .work_group_reduce = 256,
    .work_group_2d = 16,
    /* Not measured here yet; the GEMM path writes (T, T) scores to global memory. */
    .attention_fused = true,
    .binary_cache = true,
    .quirks = "wavefronts of 64 (GCN) or 32 (RDNA); max work-group 256 on older drivers",
};
