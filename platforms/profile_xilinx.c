/* Xilinx (AMD) FPGA boards through XRT: kernels are built offline by Vitis
 * `v++` into an .xclbin, which the host loads with clCreateProgramWithBinary;
 * nothing compiles at run time. README, "FPGA boards", has the flow. */
#include "profile.h"

static bool is_xilinx(const duo_device_info *device)
{
    return duo_text_contains(device->platform, "Xilinx");
}

const duo_profile duo_profile_xilinx = {
    .name = "xilinx",
    .matches = is_xilinx,
    .build_flags = "",
    .work_group_1d = 64,
    .work_group_reduce = 64,
    .work_group_2d = 8,
    .attention_fused = false,
    /* CLBlast compiles its kernels at run time: the built-in GEMM instead. */
    .gemm = DUO_GEMM_BUILTIN,
    .gemm_tiles = {.wg_x = 8, .wg_y = 8, .rows = 4, .width = 4, .vectors = 1, .k_block = 0},
    .no_compile = true,
    .binary_cache = false,
    .quirks = "no run-time compiler: programs from 'duocl kernels export' built with v++ "
              "(--kernel-binaries); sw_emu and hw_emu through XCL_EMULATION_MODE",
};
