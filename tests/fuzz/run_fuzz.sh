#!/bin/sh
# Runs one fuzz target on its seeds for a fixed number of inputs (ctest -L
# fuzz). A crash, a leak, a sanitizer report, a broken invariant or an input
# that takes over 10 s fails the test (libFuzzer keeps the input as
# crash-*/leak-*/timeout-* in the work folder, printed below).
# usage: run_fuzz.sh BIN_DIR NAME SEED_DIR RUNS
# Exit 77 (skipped) when BIN_DIR/fuzz_NAME was not built (no libFuzzer).
set -u
bin=$1/fuzz_$2 name=$2 seeds=$3 runs=$4
if [ -z "$1" ] || [ ! -x "$bin" ]; then
    echo "fuzz_$name: not built (no clang with libFuzzer: scripts/setup.sh --fuzz installs one); skipped"
    exit 77
fi
work=$(mktemp -d)
mkdir "$work/corpus"
cd "$work" || exit 1
# New inputs go to corpus/ (the seeds stay as committed); -seed fixes the run.
"$bin" -runs="$runs" -seed=1 -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
       -print_final_stats=1 corpus "$seeds" >fuzz.log 2>&1
rc=$?
tail -25 fuzz.log
if [ "$rc" -ne 0 ]; then
    echo "fuzz_$name: FAILED (exit $rc); the input that did it, kept as:"
    ls -d "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null
    exit 1
fi
rm -rf "$work"
echo "fuzz_$name: $runs inputs, no crash, leak or hang"
