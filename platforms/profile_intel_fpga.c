/* Intel FPGA boards (the FPGA SDK for OpenCL, oneAPI's FPGA runtime) and
 * their emulator: kernels are built offline by `aoc` into an .aocx, which
 * the host loads with clCreateProgramWithBinary; nothing compiles at run
 * time. README, "FPGA boards", has the flow. */
#include "profile.h"

static bool is_intel_fpga(const duo_device_info *device)
{
    return duo_text_contains(device->platform, "Intel(R) FPGA SDK for OpenCL") ||
           duo_text_contains(device->platform, "Intel(R) FPGA Emulation Platform");
}

const duo_profile duo_profile_intel_fpga = {
    .name = "intel-fpga",
    .matches = is_intel_fpga,
    .build_flags = "",
    /* Fixed in the bitstream by reqd_work_group_size; small groups keep the
     * pipelines short. */
    .work_group_1d = 64,
    .work_group_reduce = 64,
    .work_group_2d = 8,
    .attention_fused = false,
    /* CLBlast compiles its kernels at run time: the built-in GEMM instead. */
    .gemm = DUO_GEMM_BUILTIN,
    .gemm_tiles = {.wg_x = 8, .wg_y = 8, .rows = 4, .width = 4, .vectors = 1, .k_block = 0},
    .no_compile = true,
    .binary_cache = false,
    .quirks = "no run-time compiler: programs from 'duocl kernels export' built with aoc "
              "(--kernel-binaries); the emulator takes aoc -march=emulator builds",
};
