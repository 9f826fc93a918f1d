#!/bin/sh
# Ready-built kernels (issue 17) on the default device: `duocl kernels
# export`, then the op tests, a tiny training run and an eval with
# --kernel-binaries DIR --no-compile --gemm builtin must give the same bits as
# the same runs compiled from source with --gemm builtin. A manifest from
# another device, a removed binary, a kernel missing from the manifest, a
# changed source, a binary of another program, CLBlast or no binaries under
# --no-compile: each fails with exit code 1 and a message naming it.
# usage: cli_kernel_binaries.sh DUOCL_BINARY OP_TEST...
set -u
duocl=$(realpath "$1")
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"
bins="$work/bins"
ready="--kernel-binaries $bins --no-compile --gemm builtin"

check "export_writes_sources_binaries_and_manifest" sh -c "
    '$duocl' kernels export --out '$bins' &&
    test -s '$bins/manifest.json' && test -s '$bins/gemm.bin' && test -s '$bins/gemm.cl' &&
    grep -q '\"gemm_nn\"' '$bins/manifest.json' && grep -q 'DUO_GEMM_ROWS' '$bins/manifest.json'"

check "selftest_from_binaries_passes" expect 0 "PASS" selftest $ready

# The op tests print every check's largest error: the same seed, the same
# lines, or some result changed.
op_tests_same() {
    for t in "$@"; do
        op=$(basename "$t")
        DUOCL_TEST_SEED=17 DUOCL_GEMM=builtin "$t" >"$work/$op.source" 2>&1 ||
            { echo "$op from source failed:"; tail -5 "$work/$op.source"; return 1; }
        DUOCL_TEST_SEED=17 DUOCL_GEMM=builtin DUOCL_KERNEL_BINARIES="$bins" DUOCL_NO_COMPILE=1 \
            "$t" >"$work/$op.binary" 2>&1 ||
            { echo "$op from binaries failed:"; tail -5 "$work/$op.binary"; return 1; }
        cmp "$work/$op.source" "$work/$op.binary" ||
            { diff "$work/$op.source" "$work/$op.binary" | head -10; return 1; }
        echo "$op: $(tail -1 "$work/$op.binary")"
    done
}
check "op_tests_from_binaries_same_bits" op_tests_same "$@"

# A tiny run from source and from the binaries: the same log (without its
# timings), checkpoint and evaluation.
canonical() { sed 's/,"tokens_per_s".*//; s/,"elapsed_s".*//' "$1/log.jsonl"; }
eval_numbers() { # eval.json without its timings and the checkpoint's path
    python3 -c "
import json, sys
def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k not in ('seconds', 'tokens_per_s', 'checkpoint')}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x
print(json.dumps(strip(json.load(open(sys.argv[1]))), sort_keys=True))" "$1"
}
train_and_eval() { # run folder, extra options
    dir=$1
    shift
    "$duocl" train "$work/tiny.json" --run-dir "$dir" "$@" >"$dir.out" 2>&1 &&
        "$duocl" eval "$dir" --routes random:0.5 --tokens 300 "$@" >>"$dir.out" 2>&1 ||
        { tail -5 "$dir.out"; return 1; }
}
runs_same() {
    make_shards 30000 4000 >/dev/null 2>&1 || { echo "no shards"; return 1; }
    tiny_config '"batch": 4, "steps": 12, "warmup": 2, "seed": 3, "eval_every": 6, "eval_tokens": 200, "ckpt_every": 6'
    train_and_eval "$work/source" --gemm builtin || return 1
    train_and_eval "$work/binary" $ready || return 1
    grep -q "GEMM builtin" "$work/binary.out" || { echo "not the built-in GEMM"; return 1; }
    canonical "$work/source" >"$work/source.log"
    canonical "$work/binary" >"$work/binary.log"
    echo "$(grep -c '"type":"train"' "$work/binary.log") train records"
    cmp "$work/source.log" "$work/binary.log" &&
        cmp "$work/source/checkpoints/final.ckpt" "$work/binary/checkpoints/final.ckpt" &&
        eval_numbers "$work/source/eval.json" >"$work/source.eval" &&
        eval_numbers "$work/binary/eval.json" >"$work/binary.eval" &&
        cmp "$work/source.eval" "$work/binary.eval"
}
check "train_and_eval_from_binaries_same_bits" runs_same

# Copies the binaries to $work/bad and edits its manifest with Python ($1).
bad_copy() {
    rm -rf "$work/bad" && cp -r "$bins" "$work/bad" &&
        python3 -c "
import json
path = '$work/bad/manifest.json'
m = json.load(open(path))
prog = {p['file']: p for p in m['programs']}
$1
json.dump(m, open(path, 'w'), indent=1)"
}
bad="--kernel-binaries $work/bad --no-compile --gemm builtin"

bad_copy "m['device']['name'] = 'Some Other GPU'"
check "manifest_of_another_device_names_it" expect 1 "Some Other GPU" selftest $bad
bad_copy "m['device']['driver'] = '99.9'"
check "manifest_of_another_driver_names_it" expect 1 "device.driver is '99.9'" selftest $bad
bad_copy "m['options'] = m['options'].replace('DUO_GEMM_ROWS=', 'DUO_GEMM_ROWS=1')"
check "manifest_with_other_options_names_them" expect 1 "built with the options" selftest $bad
bad_copy "prog['norm.cl']['kernels'].remove('rmsnorm_backward')"
check "kernel_missing_from_manifest_names_it" expect 1 "kernel rmsnorm_backward of program norm.cl" selftest $bad
bad_copy "prog['rope.cl']['source_hash'] = '0123456789abcdef'"
check "changed_source_names_the_program" expect 1 "program rope.cl was exported from another source" selftest $bad
bad_copy "m['programs'] = [p for p in m['programs'] if p['file'] != 'loss.cl']"
check "program_missing_from_manifest_names_it" expect 1 "has no program loss.cl" selftest $bad
bad_copy "pass" && rm "$work/bad/norm.bin"
check "removed_binary_names_it_at_start_up" expect 1 "norm.bin: the binary of program norm.cl is missing" \
    train "$work/tiny.json" --run-dir "$work/never" $bad
check "removed_binary_fails_before_training" sh -c "! test -e '$work/never/log.jsonl'"
bad_copy "pass" && cp "$work/bad/blas.bin" "$work/bad/norm.bin"
check "binary_of_another_program_names_the_kernel" expect 1 "kernel rmsnorm_forward of program norm.cl is not in this binary" selftest $bad
check "no_compile_refuses_clblast" expect 1 "CLBlast cannot run here" selftest --kernel-binaries "$bins" --no-compile --gemm clblast
check "no_compile_needs_binaries" expect 1 "pass --kernel-binaries DIR" selftest --no-compile --gemm builtin
check "bad_gemm_option_is_refused" expect 1 "allowed clblast or builtin" train "$work/tiny.json" --gemm fast

finish cli_kernel_binaries
