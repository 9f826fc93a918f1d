#!/bin/bash
# Sets up (scripts/setup.sh) and runs the whole test suite with ctest:
# op tests on the default device, the same tests under oclgrind, unit and CLI
# tests, and each fuzz target for a short fixed number of inputs (ctest -L
# fuzz; setup --fuzz builds them). Pass --sanitize to run it all on the
# ASan+UBSan build instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --fuzz "$@"
build=build
if [ "${1:-}" = "--sanitize" ]; then
    build=build-sanitize
    # The OpenCL drivers (PoCL, LLVM) leak on exit by design; leaks are not
    # checked, every other ASan and UBSan report fails the test.
    export ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
cd "$build"
ctest --output-on-failure -j"$(nproc)" --timeout 1200
