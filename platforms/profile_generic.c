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
    .binary_cache = false,
    .quirks = "unknown vendor: conservative work-group sizes, no binary cache",
};
