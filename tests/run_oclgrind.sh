#!/bin/sh
# Runs one test program on Debian's oclgrind simulator with race and
# uninitialised-memory detection; fails if the program fails or oclgrind
# reports anything (out-of-bounds, races, barrier divergence, uninitialised reads).
set -u
log=$(mktemp)
trap 'rm -f "$log"' EXIT
oclgrind --data-races --uninitialized --log "$log" "$@"
rc=$?
if [ -s "$log" ]; then
    echo "oclgrind reported problems:"
    head -c 20000 "$log"
    exit 1
fi
exit $rc
