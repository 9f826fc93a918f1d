/* duocl selftest: can this device be trusted? GEMM against a C reference,
 * every kernel compiled, with the start-up times that the caches change. */
#include <stdio.h>

#include "base/clock.h"
#include "commands.h"
#include "duocl/runtime.h"
#include "duocl/selftest.h"

static int run_selftest(int argc, char **argv)
{
    cli_option options[] = {
        {"device", "D", "device selector (default: $DUOCL_DEVICE, else the best device)", NULL},
    };
    int code = cli_parse(&cli_selftest_command, argc, argv, options, 1, NULL, 0, 0, NULL);
    if (code != CLI_OK)
        return code;

    double t0 = duo_now_seconds();
    duo_runtime_options ro = {.device = cli_device_selector(&options[0])};
    duo_runtime *rt;
    duo_status st = duo_runtime_create(&ro, &rt);
    if (st != DUO_OK)
        return cli_report(st);
    const duo_device_info *d = duo_runtime_device(rt);
    fprintf(stderr, "device %d: %s [%s, profile %s], kernels %s\n", d->index, d->name, d->platform,
            duo_runtime_profile_name(rt), duo_runtime_kernel_source(rt));
    double t1 = duo_now_seconds();
    st = duo_runtime_compile_all(rt);
    double t2 = duo_now_seconds();
    duo_selftest_result r = {0};
    if (st == DUO_OK)
        st = duo_selftest_gemm(rt, &r);
    double t3 = duo_now_seconds();
    if (st == DUO_OK || st == DUO_ERR_NUMERIC) {
        printf("gemm: %d cases, %d failed, max error %.3e (tolerance %.1e, worst %s)\n", r.cases,
               r.failed, r.max_error, r.tolerance, r.worst_case);
        printf("start-up: device %.3f s, duocl kernels %.3f s, GEMM (CLBlast compile + check) %.3f s, "
               "total %.3f s\n",
               t1 - t0, t2 - t1, t3 - t2, t3 - t0);
        printf("%s\n", st == DUO_OK ? "PASS" : "FAIL");
    }
    duo_runtime_destroy(rt);
    return cli_report(st);
}

const cli_command cli_selftest_command = {
    .name = "selftest",
    .usage = "duocl selftest [--device D]",
    .summary = "check GEMM on the device against a C reference and compile every kernel",
    .run = run_selftest,
};
