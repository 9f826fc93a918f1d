#!/bin/sh
# The foundation from the command line: device listing, every selector form
# across two platforms (PoCL plus oclgrind's ICD), bad selectors, a broken
# kernel's build log, the GEMM self-test, help and unknown commands.
# usage: cli_foundation.sh DUOCL_BINARY KERNEL_SOURCE_DIR
set -u
duocl=$1
kernels=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

selected() { # prints the selected device's name for a selector
    "$duocl" devices --json --device "$1" | python3 -c \
        'import json,sys; d=json.load(sys.stdin); print(d["devices"][d["selected"]]["device"])'
}
selects() { # selector, expected name substring
    got=$(selected "$1") || return 1
    echo "selector '$1' chose '$got'"
    case "$got" in *"$2"*) return 0 ;; *) return 1 ;; esac
}

echo "single platform (the system's ICDs)"
check "devices_lists_a_device" expect 0 "default:" devices
check "devices_json_lists_a_device" expect 0 '"devices"' devices --json
check "device_pocl_selects_pocl" selects pocl pthread
check "device_0_selects_first" selects 0 pthread
check "duocl_device_env_cpu" sh -c "DUOCL_DEVICE=cpu '$duocl' devices | grep -q '^\* 0'"
check "device_nvidia_fails_with_list" expect 1 "Devices:" devices --device nvidia
check "device_index_out_of_range_fails" expect 1 "past the last device" devices --device 99
check "device_unknown_name_fails" expect 1 "matches no device" devices --device no-such-device

echo "two platforms (PoCL and oclgrind through OCL_ICD_VENDORS)"
mkdir -p "$work/icd"
ls /etc/OpenCL/vendors/*.icd >/dev/null 2>&1 && cp /etc/OpenCL/vendors/*.icd "$work/icd/"
echo /usr/lib/oclgrind/liboclgrind-rt-icd.so >"$work/icd/oclgrind.icd"
export OCL_ICD_VENDORS="$work/icd"
count=$("$duocl" devices --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["devices"]))')
check "two_platforms_listed" test "$count" -ge 2
check "default_is_not_the_simulator" selects "" pthread
check "select_oclgrind_by_name" selects oclgrind Oclgrind
check "select_pocl_by_vendor" selects pocl pthread
check "select_cpu_by_type" selects cpu pthread
check "select_gpu_by_type" selects gpu Oclgrind
for pd in $("$duocl" devices --json | python3 -c \
    'import json,sys; [print("%d:%d=%d" % (d["platform_index"], d["device_index"], d["index"])) for d in json.load(sys.stdin)["devices"]]'); do
    sel=${pd%=*} idx=${pd#*=}
    want=$("$duocl" devices --json | python3 -c "import json,sys; print(json.load(sys.stdin)['devices'][$idx]['device'])")
    check "select_${sel}_by_platform_device" selects "$sel" "$want"
    check "select_${idx}_by_index" selects "$idx" "$want"
done
check "bad_pair_fails_with_list" expect 1 "Oclgrind Simulator" devices --device 9:9
unset OCL_ICD_VENDORS

echo "no ICD at all"
mkdir -p "$work/empty"
check "no_icd_names_the_package" sh -c "OCL_ICD_VENDORS='$work/empty' '$duocl' devices 2>&1 | grep -q pocl-opencl-icd"

echo "kernels and GEMM"
cp -r "$kernels" "$work/kernels"
echo "__kernel void broken(__global float *x) { x[0] = undefined_name; }" >>"$work/kernels/residual.cl"
check "broken_kernel_prints_build_log_with_file" sh -c \
    "DUOCL_KERNEL_DIR='$work/kernels' '$duocl' selftest 2>&1 | grep 'residual.cl' && DUOCL_KERNEL_DIR='$work/kernels' '$duocl' selftest 2>&1 | grep -q undefined_name"
check "broken_kernel_exits_nonzero" sh -c "! DUOCL_KERNEL_DIR='$work/kernels' '$duocl' selftest >/dev/null 2>&1"
check "selftest_passes" expect 0 "PASS" selftest
check "selftest_from_kernel_dir_passes" sh -c "DUOCL_KERNEL_DIR='$kernels' '$duocl' selftest | grep -q PASS"

echo "command line"
check "help_lists_commands" expect 0 "selftest" --help
check "version" expect 0 "duocl " --version
check "command_help" expect 0 "usage: duocl devices" devices --help
check "unknown_command_hints" expect 1 "did you mean 'devices'" devicse
check "unknown_option_hints" expect 1 "did you mean '--json'" devices --jsno
check "missing_option_value" expect 1 "needs a value" devices --device

finish cli_foundation
