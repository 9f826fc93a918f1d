#!/bin/bash
# Runs the libFuzzer targets (tests/fuzz/) for longer than ctest -L fuzz
# does: each target in turn, for --seconds S or --runs N, from its committed
# seeds plus a corpus kept between runs. Builds the fuzz build first (clang,
# ASan + UBSan + libFuzzer) in build-fuzz/ (or --build DIR).
#
# usage: scripts/fuzz.sh [--seconds S | --runs N] [--build DIR] [TARGET...]
#        (default: every target, 300 s each; targets: config checkpoint
#        tokenizer shard oracle_tokens bench tuning report)
# A crash, leak, sanitizer report, broken invariant or hang (> 10 s) stops
# that target; its input is kept in DIR/crashes/TARGET/ and the script
# exits 1 at the end. Reproduce one with DIR/tests/fuzz/fuzz_TARGET FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=(-max_total_time=300)
build=build-fuzz
targets=()
while [ $# -gt 0 ]; do
    case $1 in
    --seconds) limit=(-max_total_time="$2"); shift 2 ;;
    --runs) limit=(-runs="$2"); shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(config checkpoint tokenizer shard oracle_tokens bench tuning report)

if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz: needs clang and libFuzzer (bash scripts/setup.sh --fuzz installs them)" >&2
    exit 1
fi
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUOCL_FUZZ=ON \
    -DDUOCL_BUILD_TESTS=OFF -DBUILD_SHARED_LIBS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target duocl_fuzz_targets >&2

failed=()
for t in "${targets[@]}"; do
    bin=$build/tests/fuzz/fuzz_$t
    [ -x "$bin" ] || { echo "fuzz: no target '$t'" >&2; exit 1; }
    corpus=$build/corpus/$t crashes=$build/crashes/$t
    mkdir -p "$corpus" "$crashes"
    echo "fuzz: $t (${limit[*]})" >&2
    set +e
    "$bin" "${limit[@]}" -timeout=10 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$crashes/" "$corpus" "tests/fuzz/seeds/$t" >"$build/fuzz_$t.log" 2>&1
    rc=$?
    set -e
    runs=$(grep -o '^Done [0-9]* runs' "$build/fuzz_$t.log" | tail -1 | cut -d' ' -f2 || true)
    if [ "$rc" -eq 0 ]; then
        echo "fuzz: $t: ${runs:-?} inputs, no crash, leak or hang" >&2
    else
        echo "fuzz: $t FAILED (exit $rc; log $build/fuzz_$t.log):" >&2
        grep -E "ERROR|SUMMARY|fuzz: .* failed|runtime error" "$build/fuzz_$t.log" | head -5 >&2
        ls "$crashes" >&2
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failed: ${failed[*]}" >&2
    exit 1
fi
