#!/bin/bash
# The stages spread over ranks (issue 15): on a tiny run trained here, duocl
# oracle, eval and difficulty with 2 ranks (and the oracle with 3, whose
# share of batches crosses a domain's end) write the same files as with 1
# rank: oracle.json, oracle_tokens.bin and difficulty.json byte for byte or
# field for field, eval.json but for its timing (scripts/compare_runs.py);
# router train (data-parallel) within a stated tolerance; duocl study under
# mpirun.
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
check "oracle_2_ranks_json_byte_for_byte" cmp "$work/o1/oracle.json" "$work/o2/oracle.json"
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

# Router training is data-parallel (2 of the 4 windows of a step per rank):
# the log within 1e-5 (ce) and 1e-3 (penalty, P_big, gradient norm; measured
# 1e-7 and 2e-4) of 1 rank's, relative; two 2-rank runs the same bits. The
# oracle teacher trains on rank 0 alone: the same files as 1 rank.
router_args="--budget 2 --steps 20 --batch 4"
check "router_1_rank" "$duocl" router train "$run" $router_args
check "keep_router_1" keep r1 router
check "router_2_ranks" ranks 2 router train "$run" $router_args
check "keep_router_2" keep r2 router
check "router_2_ranks_again" ranks 2 router train "$run" $router_args
check "keep_router_2_again" keep r2b router
check "router_2_ranks_reproducible" same r2 r2b
check "router_2_ranks_within_tolerance" python3 - "$work/r1/router/k2-SB/log.jsonl" \
    "$work/r2/router/k2-SB/log.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 20, (len(a), len(b))
for x, y in zip(a, b):
    for key, tol in (("ce", 1e-5), ("penalty", 1e-3), ("big_fraction", 1e-3), ("grad_norm", 1e-3)):
        err = abs(x[key] - y[key]) / max(abs(x[key]), 1e-12)
        assert err <= tol, "step %d %s: %r vs %r (relative %.2g > %g)" % (x["step"], key, x[key], y[key], err, tol)
print("20 steps within tolerance")
PY
teacher_args="--budget 2 --steps 4 --batch 2 --teacher oracle --teacher-windows 4"
check "router_teacher_1_rank" "$duocl" router train "$run" $teacher_args
check "keep_teacher_1" keep t1 router
check "router_teacher_2_ranks" ranks 2 router train "$run" $teacher_args
check "keep_teacher_2" keep t2 router
check "router_teacher_same_files" same t1 t2

# duocl study under mpirun: the whole study with 2 ranks finishes with every
# stage's marker (its training is data-parallel, so its numbers are not
# compared here); and the stages after training, run with 2 ranks on a copy
# of a 1-rank study, write the same files as the 1-rank study but those of
# the data-parallel routers (and the signal router's file that reads them)
# and the routers' entries of eval.json.
study_args="--no-tune --oracle-tokens 256 --router-steps 6"
check "study_2_ranks" ranks 2 study "$work/tiny.json" --run-dir "$work/s2" $study_args
check "study_2_ranks_every_marker" test -f "$work/s2/study/report.done" -a -f "$work/s2/report.html"
check "study_1_rank" "$duocl" study "$work/tiny.json" --run-dir "$work/s1" $study_args
cp -r "$work/s1" "$work/s12"
(cd "$work/s12" && rm -rf eval.json oracle.json oracle_tokens.bin difficulty*.json report.html router &&
    find study -name '*.done' ! -name data.done ! -name train.done -delete)
check "study_stages_2_ranks" ranks 2 study "$work/tiny.json" --run-dir "$work/s12" $study_args
python3 "$src/scripts/compare_runs.py" "$work/s1" "$work/s12" >"$work/study_compare"
check "study_stages_same_files" python3 - "$work/study_compare" "$work/s1/eval.json" "$work/s12/eval.json" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().split("\n")
assert any(l.endswith("different") for l in lines), lines[-3:]
bad = [l for l in lines if l.startswith(("DIFFERENT", "MISSING")) and
       not l.split()[1].startswith("router/") and l.split()[1] != "eval.json"]
assert not bad, bad
def strip(d, run):  # timing, the run folder's name and the checkpoint's path
    return {k.replace(run, "RUN"): {n: {f: v for f, v in x.items() if f != "seconds"}
                                    if isinstance(x, dict) else x
                                    for n, x in e.items() if n != "checkpoint"}
            for k, e in d.items() if not k.startswith("router:")}
a, b = (strip(json.load(open(p)), p[:-len("/eval.json")]) for p in sys.argv[2:])
assert a == b and len(a) >= 3, sorted(set(a) ^ set(b)) or [k for k in a if a[k] != b[k]]
print("same files but the routers'")
PY

finish mpi_stages
