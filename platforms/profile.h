/* Vendor profiles: everything duocl knows about a vendor lives in one
 * platforms/profile_*.c file; the rest of the code asks the profile. */
#ifndef DUOCL_PLATFORMS_PROFILE_H
#define DUOCL_PLATFORMS_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "duocl/device.h"

typedef struct duo_profile {
    const char *name;              /* "nvidia" */
    /* True when this profile describes the device. */
    bool (*matches)(const duo_device_info *device);
    const char *build_flags;       /* extra OpenCL C compiler options */
    size_t work_group_1d;          /* element-wise kernels */
    size_t work_group_reduce;      /* reductions: a power of two */
    size_t work_group_2d;          /* tiled kernels use work_group_2d x work_group_2d */
    bool attention_fused;          /* "attention": "auto" runs the fused kernels
                                    * (kernels/attention_fused.cl), else the GEMM path */
    bool binary_cache;             /* keep compiled programs on disk */
    bool simulator;                /* not real hardware: ranked after every real device */
    const char *quirks;            /* what is known about the driver, for humans */
} duo_profile;

/* The first profile whose matches() accepts the device; generic last. */
const duo_profile *duo_profile_for(const duo_device_info *device);

/* Case-insensitive substring test shared by the profiles' matchers. */
bool duo_text_contains(const char *haystack, const char *needle);

/* Case-insensitive equality. */
bool duo_text_equal(const char *a, const char *b);

extern const duo_profile duo_profile_amd;
extern const duo_profile duo_profile_intel;
extern const duo_profile duo_profile_nvidia;
extern const duo_profile duo_profile_pocl;
extern const duo_profile duo_profile_oclgrind;
extern const duo_profile duo_profile_generic;

#endif
