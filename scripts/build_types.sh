#!/bin/bash
# Builds the library and the CLI once in each CMake build type (Debug,
# Release, RelWithDebInfo, MinSizeRel) with gcc and with clang, warnings as
# errors: each optimisation level has its own warnings (maybe-uninitialized
# at -O3, for one). Tests are not built here; the suite runs on build/.
# usage: scripts/build_types.sh [BUILD_ROOT]   (default build-types/; each
#        compiler and type gets BUILD_ROOT/<compiler>-<type>/)
# Takes about 4 minutes on 2 cores. A compiler that is not installed is
# skipped with a note.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-build-types}
mkdir -p "$root"
jobs=$(nproc)
failed=()
for cc in gcc clang; do
    if ! command -v "$cc" >/dev/null 2>&1; then
        echo "build_types: $cc is not installed, skipped" >&2
        continue
    fi
    for type in Debug Release RelWithDebInfo MinSizeRel; do
        dir=$root/$cc-$type
        start=$(date +%s)
        if cmake -S . -B "$dir" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE="$type" \
                 -DDUOCL_WERROR=ON -DDUOCL_BUILD_TESTS=OFF >"$dir.log" 2>&1 &&
           cmake --build "$dir" -j"$jobs" --target duocl >>"$dir.log" 2>&1; then
            echo "build_types: $cc $type ok ($(( $(date +%s) - start )) s)" >&2
        else
            echo "build_types: $cc $type FAILED; the warnings or errors:" >&2
            grep -E "(error|warning):" "$dir.log" | head -20 >&2 || tail -20 "$dir.log" >&2
            failed+=("$cc-$type")
        fi
    done
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "build_types: failed: ${failed[*]} (logs in $root/)" >&2
    exit 1
fi
echo "build_types: every build type built warning-free" >&2
