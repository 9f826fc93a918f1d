#!/bin/bash
# Data-parallel training over MPI ranks against one process, interleaved:
# `duocl train` of the bench model (configs/bench.json's model and batch, on
# the byte shards so it needs no 4096-token tokenizer) for STEPS steps,
# ROUNDS times each of
#   1rank-allcores  one process, PoCL on every core (what a user runs today)
#   1rank-1core     one process, PoCL on one thread (POCL_MAX_PTHREAD_COUNT=1)
#   2ranks-1core    mpirun -np 2, one core each (the ranks share the machine)
#   2ranks-yield    the same, a rank waiting in MPI yields its core
#                   (OMPI_MCA_mpi_yield_when_idle=1) instead of spinning
# in turn. Prints each run's tokens/s (mean over the steps after the first,
# the global batch per step), and for the ranks the bytes summed per step and
# the time in the sums (rank 0's wall clock in duo_comm_sum_floats, waiting
# for the other rank included).
# usage: bench/mpi_scaling.sh [DUOCL] [STEPS] [ROUNDS]   (defaults build/duocl 8 3)
set -u
duocl=$(realpath "${1:-build/duocl}")
steps=${2:-8}
rounds=${3:-3}
cd "$(dirname "$0")/.."
[ -d data/shards/byte ] || { echo "mpi_scaling: needs data/shards/byte (scripts/study.sh or duocl prepare)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
set_args=(--set train.steps="$steps" --set train.warmup=1 --set data.tokenizer=byte --set data.shards=data/shards/byte
          --set model.vocab=257)
run() { # label, command...
    label=$1
    shift
    rm -rf "$work/run"
    "$@" train configs/bench.json --run-dir "$work/run" "${set_args[@]}" >"$work/out" 2>&1 ||
        { echo "$label: failed"; tail -5 "$work/out"; return; }
    rate=$(grep -o 'at [0-9]* tokens/s' "$work/out" | grep -o '[0-9]*')
    sums=$(grep -o 'all-reduce over .*' "$work/out")
    split=$(grep -o 'read to the host .*' "$work/out")
    printf '%-16s %8s tokens/s  %s\n' "$label" "$rate" "$sums"
    [ -n "$split" ] && printf '%-16s %8s           %s\n' "" "" "$split"
    return 0
}
echo "mpi_scaling: configs/bench.json model, byte shards, $steps steps, $rounds rounds, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$rounds"); do
    echo "round $r"
    run 1rank-allcores env -u POCL_MAX_PTHREAD_COUNT "$duocl"
    run 1rank-1core env POCL_MAX_PTHREAD_COUNT=1 "$duocl"
    run 2ranks-1core mpirun --allow-run-as-root --oversubscribe -np 2 -x POCL_MAX_PTHREAD_COUNT=1 "$duocl"
    run 2ranks-yield mpirun --allow-run-as-root --oversubscribe -np 2 -x POCL_MAX_PTHREAD_COUNT=1 \
        -x OMPI_MCA_mpi_yield_when_idle=1 "$duocl"
done
