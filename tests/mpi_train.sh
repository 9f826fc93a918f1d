#!/bin/bash
# duocl train over 2 MPI ranks (issue 15) on generated text, PoCL with one
# thread per rank:
#  - 20 steps with 2 ranks: every step's loss and gradient norm (the scaling
#    to the global-batch mean) within 1e-5 (relative) of the
#    1-rank run with the same global batch; both ranks' parameter hashes
#    (DUOCL_PARAM_HASHES) equal at steps 10 and 20;
#  - train.batch that does not divide by the ranks: exit 1 naming train.batch;
#  - a 2-rank run whose rank 1 gets SIGKILL after a checkpoint: mpirun stops
#    rank 0 too and says so, every file is whole, and resuming with 2 ranks
#    gives the unbroken 2-rank run's files byte for byte, and so does
#    resuming with 1 rank (the run's train.grad_shards, 2, comes from its
#    checkpoint: 1 rank computes both gradient shards and adds them in the
#    same order);
#  - 1 rank with train.grad_shards=2 gives the 2-rank run's files byte for
#    byte, and with 4 shards (2 per rank) 2 ranks give 1 rank's final.ckpt;
#    2 ranks with train.grad_shards=1 are refused naming it;
#  - Ctrl-C (SIGINT to mpirun, which sends the ranks SIGTERM): every rank
#    stops after the same step, rank 0 writes the checkpoint, and resuming
#    with 2 ranks gives the unbroken run's final.ckpt.
# usage: mpi_train.sh DUOCL_BINARY MPIRUN
set -u
duocl=$(realpath "$1")
mpirun=$2
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"
export POCL_MAX_PTHREAD_COUNT=1 DUOCL_DEVICE=cpu DUOCL_PARAM_HASHES=${DUOCL_PARAM_HASHES:-}
ranks() { # N duocl-args...: duocl under mpirun with N ranks
    n=$1
    shift
    timeout 600 "$mpirun" --allow-run-as-root --oversubscribe -np "$n" \
        -x POCL_MAX_PTHREAD_COUNT -x DUOCL_DEVICE -x DUOCL_PARAM_HASHES "$duocl" "$@"
}

make_shards >"$work/prepare.out" 2>&1 || { cat "$work/prepare.out"; exit 1; }
tiny_config '"batch": 4, "steps": 20, "warmup": 5, "eval_every": 10, "ckpt_every": 5, "eval_tokens": 512'

# Losses per step of two logs: within a relative tolerance.
cat >"$work/close.py" <<'PY'
import json, sys
def recs(p):  # train records: loss and gradient norm; eval records: loss
    return [(o["type"], o["step"], o.get("domain"), o.get("routes"), v)
            for o in map(json.loads, open(p)) for v in (o["loss"], o.get("grad_norm", 1.0))]
a, b, tol = recs(sys.argv[1]), recs(sys.argv[2]), float(sys.argv[3])
kinds = sys.argv[4].split(",")
a = [x for x in a if x[0] in kinds]
b = [x for x in b if x[0] in kinds]
assert len(a) == len(b) and len(a) > 0, "%d records against %d" % (len(a), len(b))
worst = 0.0
for x, y in zip(a, b):
    assert x[:4] == y[:4], "record %s against %s" % (x[:4], y[:4])
    worst = max(worst, abs(x[4] - y[4]) / abs(y[4]))
print("worst relative difference of losses and gradient norms %.3g (tolerance %g)" % (worst, tol))
sys.exit(0 if worst <= tol else 1)
PY

echo "mpi_train: 20 steps, 1 rank against 2"
"$duocl" train "$work/tiny.json" --run-dir "$work/one" >"$work/one.out" 2>&1 || cat "$work/one.out"
mkdir -p "$work/hashes"
DUOCL_PARAM_HASHES=$work/hashes ranks 2 train "$work/tiny.json" --run-dir "$work/two" >"$work/two.out" 2>&1 ||
    cat "$work/two.out"
check "2 ranks: every step's loss and gradient norm within 1e-5 of 1 rank's" \
    python3 "$work/close.py" "$work/two/log.jsonl" "$work/one/log.jsonl" 1e-5 train
sed 's/^/        /' "$work/out"
check "2 ranks: the parameters' hashes of both ranks are equal at steps 10 and 20" \
    bash -c "cat '$work/hashes/rank-0.txt' && cmp '$work/hashes/rank-0.txt' '$work/hashes/rank-1.txt' &&
             [ \"\$(cut -d' ' -f1 '$work/hashes/rank-0.txt' | paste -sd' ')\" = '10 20' ]"
check "2 ranks: validation within 1e-5 of 1 rank's" \
    python3 "$work/close.py" "$work/two/log.jsonl" "$work/one/log.jsonl" 1e-5 eval
check "2 ranks: rank 0 reports the all-reduce" grep -q "gradient all-reduce over 2 ranks" "$work/two.out"
"$duocl" train "$work/tiny.json" --run-dir "$work/one2" --set train.grad_shards=2 >"$work/one2.out" 2>&1 ||
    cat "$work/one2.out"
check "1 rank with train.grad_shards=2: final.ckpt equals the 2-rank run's byte for byte" \
    cmp "$work/one2/checkpoints/final.ckpt" "$work/two/checkpoints/final.ckpt"
check "1 rank with train.grad_shards=2: the log equals the 2-rank run's" \
    same_log "$work/one2/log.jsonl" "$work/two/log.jsonl"
# 4 shards of 1 sequence: 2 per rank, summed by the shards' owners.
ranks 2 train "$work/tiny.json" --run-dir "$work/two4" --set train.grad_shards=4 >"$work/two4.out" 2>&1 ||
    cat "$work/two4.out"
"$duocl" train "$work/tiny.json" --run-dir "$work/one4" --set train.grad_shards=4 >"$work/one4.out" 2>&1 ||
    cat "$work/one4.out"
check "train.grad_shards=4: 2 ranks give 1 rank's final.ckpt byte for byte" \
    cmp "$work/two4/checkpoints/final.ckpt" "$work/one4/checkpoints/final.ckpt"
check "2 ranks: train.grad_shards 1 is refused naming train.grad_shards and the ranks" \
    bash -c "'$mpirun' --allow-run-as-root --oversubscribe -np 2 -x POCL_MAX_PTHREAD_COUNT \
             '$duocl' train '$work/tiny.json' --run-dir '$work/s1' --set train.grad_shards=1 >'$work/s1.out' 2>&1;
             rc=\$?; cat '$work/s1.out'; [ \$rc -eq 1 ] && grep -q 'train.grad_shards is 1.*with 2 ranks' '$work/s1.out'"
check "2 ranks: train.batch 3 is refused naming train.batch" \
    bash -c "'$mpirun' --allow-run-as-root --oversubscribe -np 2 -x POCL_MAX_PTHREAD_COUNT \
             '$duocl' train '$work/tiny.json' --run-dir '$work/odd' --set train.batch=3 >'$work/odd.out' 2>&1;
             rc=\$?; cat '$work/odd.out'; [ \$rc -eq 1 ] && grep -q 'train.batch is 3' '$work/odd.out'"

echo "mpi_train: SIGKILL on rank 1, resumed with 2 ranks and with 1"
tiny_config '"batch": 4, "steps": 300, "warmup": 5, "eval_every": 100, "ckpt_every": 10, "eval_tokens": 512'
ranks 2 train "$work/tiny.json" --run-dir "$work/unbroken" >"$work/unbroken.out" 2>&1 || cat "$work/unbroken.out"
ranks 2 train "$work/tiny.json" --run-dir "$work/killed" >"$work/killed.out" 2>&1 &
pid=$!
# Rank 1 is the duocl process with OMPI_COMM_WORLD_RANK=1 under this mpirun.
victim=
for _ in $(seq 1 600); do
    if [ -z "$victim" ]; then
        for p in $(pgrep -P "$pid" 2>/dev/null) $(pgrep -f "$work/killed" 2>/dev/null); do
            tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' &&
                [ "$(readlink "/proc/$p/exe")" = "$duocl" ] && victim=$p
        done
    fi
    [ -n "$victim" ] && [ -f "$work/killed/checkpoints/latest.ckpt" ] &&
        [ "$(grep -c '"train"' "$work/killed/log.jsonl" 2>/dev/null)" -ge 25 ] && break
    sleep 0.05
done
steps_at_kill=$(grep -c '"train"' "$work/killed/log.jsonl" 2>/dev/null)
[ -n "$victim" ] && kill -9 "$victim"
wait "$pid"
rc=$?
pid=
echo "  killed rank 1 (pid ${victim:-none}) at about step $steps_at_kill; mpirun exited $rc"
check "SIGKILL: the run stopped before its end (mpirun exit != 0)" \
    bash -c "[ $rc -ne 0 ] && [ ! -f '$work/killed/checkpoints/final.ckpt' ]"
check "SIGKILL: mpirun names the killed rank" grep -q "rank 1 .*signal 9" "$work/killed.out"
left_running() { # a duocl process of the killed run
    for p in $(pgrep -f -- "--run-dir $work/killed\$"); do
        [ "$(readlink "/proc/$p/exe")" = "$duocl" ] && { echo "pid $p still runs"; return 0; }
    done
    return 1
}
check "SIGKILL: no rank is left running" bash -c "$(declare -f left_running); duocl='$duocl' work='$work'; ! left_running"
cp -r "$work/killed" "$work/resumed1"
cp -r "$work/killed" "$work/reshard"
check "resumed with another train.grad_shards: refused naming it" \
    bash -c "'$duocl' train '$work/tiny.json' --run-dir '$work/reshard' --resume --set train.grad_shards=4 \
             >'$work/reshard.out' 2>&1; rc=\$?; cat '$work/reshard.out';
             [ \$rc -eq 1 ] && grep -q 'train.grad_shards differs (2 in the checkpoint, 4 now)' '$work/reshard.out'"
cp -r "$work/killed" "$work/resumed2"
ranks 2 train "$work/tiny.json" --run-dir "$work/resumed2" --resume >"$work/r2.out" 2>&1 || cat "$work/r2.out"
"$duocl" train "$work/tiny.json" --run-dir "$work/resumed1" --resume >"$work/r1.out" 2>&1 || cat "$work/r1.out"
check "resumed with 2 ranks: final.ckpt equals the unbroken run's byte for byte" \
    cmp "$work/resumed2/checkpoints/final.ckpt" "$work/unbroken/checkpoints/final.ckpt"
check "resumed with 2 ranks: the log equals the unbroken run's" \
    same_log "$work/resumed2/log.jsonl" "$work/unbroken/log.jsonl"
check "resumed with 1 rank: final.ckpt equals the unbroken 2-rank run's byte for byte" \
    cmp "$work/resumed1/checkpoints/final.ckpt" "$work/unbroken/checkpoints/final.ckpt"
check "resumed with 1 rank: the log equals the unbroken 2-rank run's" \
    same_log "$work/resumed1/log.jsonl" "$work/unbroken/log.jsonl"
echo "mpi_train: Ctrl-C (SIGINT to mpirun), resumed with 2 ranks"
ranks 2 train "$work/tiny.json" --run-dir "$work/stopped" >"$work/stopped.out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    [ "$(grep -c '"train"' "$work/stopped/log.jsonl" 2>/dev/null)" -ge 25 ] && break
    sleep 0.05
done
launcher=
for p in $(pgrep -f -- "--run-dir $work/stopped\$"); do
    case $(readlink "/proc/$p/exe") in *orterun* | *mpirun* | *mpiexec*) launcher=$p ;; esac
done
echo "  SIGINT to mpirun (pid ${launcher:-not found}) at about step $(grep -c '"train"' "$work/stopped/log.jsonl")"
[ -n "$launcher" ] && kill -INT "$launcher"
wait "$pid"
rc=$?
pid=
check "Ctrl-C: every rank stops after the same step, exit 1, rank 0 says where it saved" \
    bash -c "cat '$work/stopped.out'; [ $rc -eq 1 ] && grep -q 'rank 0: interrupted after step .* checkpoint .* written' '$work/stopped.out'"
last_logged=$(grep '"train"' "$work/stopped/log.jsonl" | tail -1 | grep -o '"step":[0-9]*' | grep -o '[0-9]*')
said=$(grep -o 'interrupted after step [0-9]*' "$work/stopped.out" | head -1 | grep -o '[0-9]*$')
check "Ctrl-C: the checkpoint is the last logged step ($last_logged, message says ${said:-nothing})" \
    test "$last_logged" = "$said"
ranks 2 train "$work/tiny.json" --run-dir "$work/stopped" --resume >"$work/s2.out" 2>&1 || cat "$work/s2.out"
check "Ctrl-C: resumed with 2 ranks, final.ckpt equals the unbroken run's byte for byte" \
    cmp "$work/stopped/checkpoints/final.ckpt" "$work/unbroken/checkpoints/final.ckpt"
finish mpi_train
