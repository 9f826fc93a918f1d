#!/bin/bash
# The stages spread over ranks (issue 15): on a tiny run trained here, duocl
# oracle, eval, difficulty and router train with 2 ranks (and the oracle with
# 3, whose share of batches crosses a domain's end) write the same files as
# with 1 rank: oracle.json, oracle_tokens.bin, difficulty.json and the
# router's files byte for byte or field for field, eval.json but for its
# timing (scripts/compare_runs.py); duocl study under mpirun.
# PoCL with one compute unit per rank.
# usage: mpi_stages.sh MPIRUN DUOCL_BINARY SOURCE_DIR
set -u
mpirun=$1
duocl=$(realpath "$2")
src=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"
export OMPI_MCA_rmaps_base_oversubscribe=1 POCL_CPU_MAX_CU_COUNT=1
ranks() {
    n=$1
    shift
    timeout 300 "$mpirun" --allow-run-as-root --oversubscribe -np "$n" "$duocl" "$@"
}
# keep NAME FILES...: copies the run's FILES into $work/NAME (then removed
# from the run, so the next command writes them afresh).
keep() {
    dest=$work/$1
    shift
    mkdir -p "$dest"
    for f in "$@"; do
        mv "$run/$f" "$dest/" || return 1
    done
}
# same A B: every file kept under A and B equal, timing fields dropped.
same() {
    python3 "$src/scripts/compare_runs.py" "$work/$1" "$work/$2"
}

make_shards >/dev/null 2>&1
tiny_config '"batch": 4, "steps": 30, "eval_every": 100, "ckpt_every": 100, "eval_tokens": 512'
run=$work/run
check "train_tiny_run" "$duocl" train "$work/tiny.json" --run-dir "$run"

# 16 windows per domain in batches of 3: 6 batches each, the last of one
# window; with 3 ranks rank 1 holds the end of one domain and the start of
# the next.
oracle_args="--tokens 512 --batch 3 --budgets 0,1,2,3"
files="oracle.json oracle_tokens.bin"
check "oracle_1_rank" "$duocl" oracle "$run" $oracle_args
check "keep_1" keep o1 $files
check "oracle_2_ranks" ranks 2 oracle "$run" $oracle_args
check "keep_2" keep o2 $files
check "oracle_2_ranks_same_files" same o1 o2
check "oracle_3_ranks" ranks 3 oracle "$run" $oracle_args
check "keep_3" keep o3 $files
check "oracle_3_ranks_same_files" same o1 o3
check "oracle_1_rank_ksb" "$duocl" oracle "$run" --tokens 320 --batch 4 --alphabet KSB
check "keep_ksb_1" keep k1 $files
check "oracle_2_ranks_ksb" ranks 2 oracle "$run" --tokens 320 --batch 4 --alphabet KSB
check "keep_ksb_2" keep k2 $files
check "oracle_ksb_same_files" same k1 k2

for spec in random:0.5 all-small pattern:BSBS; do
    check "eval_1_rank_$spec" "$duocl" eval "$run" --routes "$spec" --batch 3
done
check "keep_eval_1" keep e1 eval.json
for spec in random:0.5 all-small pattern:BSBS; do
    check "eval_2_ranks_$spec" ranks 2 eval "$run" --routes "$spec" --batch 3
done
check "keep_eval_2" keep e2 eval.json
check "eval_same_results" same e1 e2

cp "$work/o1/"* "$run/"
check "difficulty_1_rank" "$duocl" difficulty "$run" --budget 1
check "keep_difficulty_1" keep d1 difficulty.json
check "difficulty_2_ranks" ranks 2 difficulty "$run" --budget 1
check "keep_difficulty_2" keep d2 difficulty.json
check "difficulty_same_file" same d1 d2

# Router training: rank 0 trains alone (the other ranks wait), so the same files.
check "router_1_rank" "$duocl" router train "$run" --budget 2 --steps 8 --batch 2
check "keep_router_1" keep r1 router
check "router_2_ranks" ranks 2 router train "$run" --budget 2 --steps 8 --batch 2
check "keep_router_2" keep r2 router
check "router_same_files" same r1 r2

# duocl study under mpirun: the whole study with 2 ranks finishes with every
# stage's marker (its training is data-parallel, so its numbers are not
# compared here); and the stages after training, run with 2 ranks on a copy
# of a 1-rank study, write the same files as the 1-rank study.
study_args="--no-tune --oracle-tokens 256 --router-steps 6"
check "study_2_ranks" ranks 2 study "$work/tiny.json" --run-dir "$work/s2" $study_args
check "study_2_ranks_every_marker" test -f "$work/s2/study/report.done" -a -f "$work/s2/report.html"
check "study_1_rank" "$duocl" study "$work/tiny.json" --run-dir "$work/s1" $study_args
cp -r "$work/s1" "$work/s12"
(cd "$work/s12" && rm -rf eval.json oracle.json oracle_tokens.bin difficulty*.json report.html router \
    study/eval.done study/oracle.done study/router-* study/difficulty.done study/report.done)
check "study_stages_2_ranks" ranks 2 study "$work/tiny.json" --run-dir "$work/s12" $study_args
check "study_stages_same_files" python3 "$src/scripts/compare_runs.py" "$work/s1" "$work/s12"

finish mpi_stages
