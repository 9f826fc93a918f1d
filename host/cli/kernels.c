/* duocl kernels export: every program duocl uses on a device, ready-built,
 * with a manifest, for --kernel-binaries (devices without a run-time
 * compiler, FPGA boards). Also the runtime options every command that
 * creates a runtime shares: --gemm, --kernel-binaries, --no-compile. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "duocl/runtime.h"

bool cli_runtime_options(const char *command, const cli_option *first, duo_gemm_kind config_gemm,
                         duo_runtime_options *ro)
{
    const cli_option *gemm = &first[0], *binaries = &first[1], *no_compile = &first[2];
    ro->gemm = config_gemm;
    if (gemm->value && (!duo_gemm_kind_from_name(gemm->value, &ro->gemm) ||
                        ro->gemm == DUO_GEMM_AUTO)) {
        fprintf(stderr, "duocl %s: --gemm '%s': allowed clblast or builtin\n", command,
                gemm->value);
        return false;
    }
    if (binaries->value && !*binaries->value) {
        fprintf(stderr, "duocl %s: --kernel-binaries: needs a folder\n", command);
        return false;
    }
    ro->kernel_binaries = binaries->value;
    ro->no_compile = no_compile->value != NULL;
    return true;
}

static const char HELP[] =
    "Writes into DIR, for the device:\n"
    "  <program>.cl    the exact source duocl compiles (kernels/common.cl, then the file)\n"
    "  <program>.bin   its binary (clGetProgramInfo CL_PROGRAM_BINARIES)\n"
    "  manifest.json   device, driver, the OpenCL C options and -D constants, and per\n"
    "                  program its source hash, binary and kernel names\n"
    "On a device that cannot compile (FPGA boards), only the sources and the manifest:\n"
    "build each <program>.cl offline with the manifest's options into <program>.bin (or\n"
    "name your binary in the manifest's \"binary\"); README, FPGA boards, has the recipes.\n"
    "Then: duocl train|eval|selftest|bench --kernel-binaries DIR [--no-compile --gemm builtin]\n"
    "loads them instead of compiling, after checking the manifest against the device.";

enum { DEVICE, OUT, N_OPTIONS };

static int run_export(int argc, char **argv)
{
    cli_option o[N_OPTIONS] = {
        [DEVICE] = {"device", "D", "device selector (default: $DUOCL_DEVICE, else the best device)", NULL},
        [OUT] = {"out", "DIR", "folder to write (created; required)", NULL},
    };
    int code = cli_parse(&cli_kernels_command, argc, argv, o, N_OPTIONS, NULL, 0, 0, HELP);
    if (code != CLI_OK)
        return code;
    if (!o[OUT].value || !*o[OUT].value) {
        fprintf(stderr, "duocl kernels export: --out DIR is required\n");
        return CLI_USER_ERROR;
    }
    duo_runtime_options ro = {.device = cli_device_selector(&o[DEVICE])};
    duo_kernel_export e;
    duo_status st = duo_kernels_export(&ro, o[OUT].value, &e);
    if (st == DUO_OK)
        printf("%d programs, %d kernels: %s%s\n", e.programs, e.kernels,
               e.binaries ? "sources, binaries and " : "sources (no binaries: the device cannot "
                                                       "compile; build them offline) and ",
               e.manifest);
    if (st == DUO_OK && !e.binaries)
        printf("kernel lists from the sources' text: kernels whose names a macro pastes are "
               "missing; an export on a device that compiles lists them all\n");
    return cli_report(st);
}

static int run_kernels(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "export") == 0)
        return run_export(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: %s\n\n%s\n", cli_kernels_command.usage, HELP);
        return CLI_HELP_SHOWN;
    }
    fprintf(stderr, "duocl kernels: expected 'export' (see 'duocl kernels --help')\n");
    return CLI_USER_ERROR;
}

const cli_command cli_kernels_command = {
    .name = "kernels",
    .usage = "duocl kernels export --out DIR [--device D]",
    .summary = "write every program as a ready-built binary with a manifest (--kernel-binaries)",
    .run = run_kernels,
};
