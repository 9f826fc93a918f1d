/* duocl selftest: can this device be trusted? GEMM against a C reference,
 * every kernel compiled, with the start-up times that the caches change. */
#include <stdio.h>

#include "base/clock.h"
#include "commands.h"
#include "duocl/runtime.h"
#include "duocl/selftest.h"

/* One GEMM's line: "gemm builtin: 36 cases, ...". */
static void print_gemm(const duo_selftest_result *r)
{
    printf("gemm %s: %d cases, %d failed, max error %.3e (tolerance %.1e, worst %s)\n", r->gemm,
           r->cases, r->failed, r->max_error, r->tolerance, r->worst_case);
}

static int run_selftest(int argc, char **argv)
{
    cli_option options[] = {
        {"device", "D", "device selector (default: $DUOCL_DEVICE, else the best device)", NULL},
        CLI_RUNTIME_OPTIONS,
    };
    int code = cli_parse(&cli_selftest_command, argc, argv, options, 4, NULL, 0, 0,
                         "Checks both GEMMs, CLBlast and the built-in one (CLBlast only where\n"
                         "compiling at run time is allowed); --gemm checks that one alone.");
    if (code != CLI_OK)
        return code;

    double t0 = duo_now_seconds();
    duo_runtime_options ro = {.device = cli_device_selector(&options[0])};
    if (!cli_runtime_options("selftest", &options[1], DUO_GEMM_AUTO, &ro))
        return CLI_USER_ERROR;
    duo_runtime *rt;
    duo_status st = duo_runtime_create(&ro, &rt);
    if (st != DUO_OK)
        return cli_report(st);
    const duo_device_info *d = duo_runtime_device(rt);
    const char *binaries = duo_runtime_kernel_binaries(rt);
    fprintf(stderr, "device %d: %s [%s, profile %s], kernels %s%s, GEMM %s (%s)\n", d->index,
            d->name, d->platform, duo_runtime_profile_name(rt),
            binaries ? "ready-built from " : "", binaries ? binaries : duo_runtime_kernel_source(rt),
            duo_gemm_kind_name(duo_runtime_gemm(rt)), duo_runtime_gemm_reason(rt));
    double t1 = duo_now_seconds();
    st = duo_runtime_compile_all(rt);
    double t2 = duo_now_seconds();
    /* The runtime's own GEMM first (its start-up time), then the other one. */
    duo_gemm_kind own = duo_runtime_gemm(rt);
    duo_gemm_kind other = own == DUO_GEMM_BUILTIN ? DUO_GEMM_CLBLAST : DUO_GEMM_BUILTIN;
    bool both = !options[1].value && !(other == DUO_GEMM_CLBLAST && duo_runtime_no_compile_reason(rt));
    duo_selftest_result r[2] = {{0}};
    if (st == DUO_OK)
        st = duo_selftest_gemm(rt, &r[0]);
    double t3 = duo_now_seconds();
    duo_status st2 = DUO_OK;
    if ((st == DUO_OK || st == DUO_ERR_NUMERIC) && both)
        st2 = duo_selftest_gemm_with(rt, other, &r[1]);
    if (st == DUO_OK || st == DUO_ERR_NUMERIC) {
        print_gemm(&r[0]);
        if (both && (st2 == DUO_OK || st2 == DUO_ERR_NUMERIC))
            print_gemm(&r[1]);
        printf("start-up: device %.3f s, duocl kernels %.3f s, GEMM (%s + check) %.3f s, "
               "total %.3f s\n",
               t1 - t0, t2 - t1,
               own == DUO_GEMM_CLBLAST ? "CLBlast compile" : "built-in", t3 - t2, t3 - t0);
        if (st == DUO_OK)
            st = st2;
        printf("%s\n", st == DUO_OK ? "PASS" : "FAIL");
    }
    duo_runtime_destroy(rt);
    return cli_report(st);
}

const cli_command cli_selftest_command = {
    .name = "selftest",
    .usage = "duocl selftest [--device D] [--gemm clblast|builtin] [--kernel-binaries DIR] "
             "[--no-compile]",
    .summary = "check both GEMMs on the device against a C reference and compile every kernel",
    .run = run_selftest,
};
