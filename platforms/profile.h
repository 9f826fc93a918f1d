/* Vendor profiles: everything duocl knows about a vendor lives in one
 * platforms/profile_*.c file; the rest of the code asks the profile. */
#ifndef DUOCL_PLATFORMS_PROFILE_H
#define DUOCL_PLATFORMS_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "duocl/config.h"
#include "duocl/device.h"

/* The built-in GEMM's compile-time constants (kernels/gemm.cl, as -D
 * DUO_GEMM_*): a work-group of wg_x x wg_y work-items, each computing `rows`
 * rows by `vectors` x `width` columns of C in registers, with vector loads of
 * `width` floats (1, 2, 4, 8 or 16); k is split into launches of k_block
 * (0: one launch), so the panels of A and B a work-group reads stay in cache. */
typedef struct duo_gemm_tiles {
    int wg_x, wg_y;
    int rows, width, vectors;
    int k_block;
} duo_gemm_tiles;

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
    duo_gemm_kind gemm;            /* what "gemm": "auto" runs; DUO_GEMM_AUTO here means CLBlast */
    duo_gemm_tiles gemm_tiles;     /* all 0: the generic profile's */
    bool no_compile;               /* no run-time compiler (FPGA boards): programs come only
                                    * from ready-built binaries (--kernel-binaries) */
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
extern const duo_profile duo_profile_intel_fpga;
extern const duo_profile duo_profile_xilinx;
extern const duo_profile duo_profile_generic;

#endif
