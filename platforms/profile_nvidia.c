/* Nvidia's OpenCL driver (CUDA toolkit ICD). */
#include "profile.h"

static bool is_nvidia(const duo_device_info *device)
{
    return device->vendor_id == 0x10DE || duo_text_contains(device->platform, "NVIDIA");
}

const duo_profile duo_profile_nvidia = {
    .name = "nvidia",
    .matches = is_nvidia,
    .build_flags = "",
    .work_group_1d = 256,
    .work_group_reduce = 256,
    .work_group_2d = 16,
    /* Not measured here yet; the GEMM path writes (T, T) scores to global memory. */
    .attention_fused = true,
    .binary_cache = true,
    .quirks = "OpenCL 3.0 with only 1.2 features widely reliable; warps of 32",
};
