#!/bin/bash
# kill -9 at random moments of `duocl train`, `duocl router train` and
# `duocl oracle` (small runs on generated text). After every kill no file in
# the run folder is half-written: every JSON file parses, every log line
# parses, every checkpoint has its end marker, size and checksum, and a
# result of the oracle that exists is the finished one. Then the run is
# continued as a user would (train --resume and router train --resume when
# there is a checkpoint, else the same command again; the oracle again) and
# its files must equal an uninterrupted run's byte for byte (logs without
# their timing fields). Progress written to a file has no \r.
# usage: kill_resume.sh DUOCL_BINARY [KILLS]   (KILLS per command, default 7:
#        21 moments in about a minute and a half;
#        KILL_SEED=N repeats a run's random moments)
set -u
duocl=$(realpath "$1")
kills=${2:-7}
seed=${KILL_SEED:-$$}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"
echo "kill_resume: $kills kills per command, KILL_SEED=$seed"

# Checks that nothing under a run folder is half-written (temporary files
# of an interrupted write, *.tmp*, are not results and are skipped).
cat >"$work/whole.py" <<'PY'
import json, os, struct, sys
def fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h
def check_ckpt(path):
    d = open(path, "rb").read()
    assert len(d) >= 48 and d[:8] == b"DUOCLCKP", "no header"
    marker, count, size, checksum = struct.unpack("<8sQQQ", d[-32:])
    assert marker == b"DUOCLEND" and size == len(d), "cut short"
    assert fnv1a(d[:-8]) == checksum, "checksum differs"
bad = []
for root, dirs, files in os.walk(sys.argv[1]):
    for f in files:
        p = os.path.join(root, f)
        if ".tmp" in f:
            continue
        try:
            if f.endswith(".json"):
                json.load(open(p))
            elif f.endswith(".jsonl"):
                for line in open(p):
                    json.loads(line)
            elif f.endswith(".ckpt"):
                check_ckpt(p)
        except Exception as e:
            bad.append("%s: %s" % (p, e))
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
whole() { python3 "$work/whole.py" "$1"; }
# Every file of the reference folder, equal in the other (logs canonical).
same_files() { # folder, reference folder
    (cd "$2" && find . -type f ! -name '*.tmp*' ! -name '*.out') | while read -r f; do
        case $f in
        *.jsonl) same_log "$1/$f" "$2/$f" || { echo "$f differs"; exit 1; } ;;
        *) cmp -s "$1/$f" "$2/$f" || { echo "$f differs or is missing"; exit 1; } ;;
        esac
    done
}
# A random moment in [0, $1] seconds, from the seeded generator.
moment() { python3 -c "import random; r = random.Random($seed * 1000 + $2); print('%.3f' % (r.random() * $1))"; }
no_carriage_return() { ! grep -q $'\r' "$1" || { echo "$1 has \\r progress"; return 1; }; }

# duocl ARGS after a kill; its output when it fails.
continued() {
    "$duocl" "$@" >"$work/continued.out" 2>&1 && return 0
    echo "duocl $* failed after the kill:"
    tail -5 "$work/continued.out"
    return 1
}

# Starts `duocl ARGS` in the background, kills it -9 after $1 s. Prints
# "killed" or "finished" (it ended before the kill).
kill_after() {
    delay=$1
    shift
    "$duocl" "$@" >>"$work/killed.out" 2>&1 &
    pid=$!
    sleep "$delay"
    if kill -9 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null
        echo killed
    else
        wait "$pid"
        echo finished
    fi
    pid=
}

# ---- the runs: the smallest model, on small generated text
make_shards 30000 4000 >/dev/null 2>&1 || { echo "cannot make shards"; exit 1; }
cat >"$work/small.json" <<EOF
{
  "model": {"vocab": 257, "d_model": 8, "n_layers": 2, "n_heads": 1, "ctx": 16,
            "ffn_big": 16, "ffn_small": 2},
  "train": {"batch": 2, "steps": 120, "warmup": 10, "eval_every": 40, "eval_tokens": 64,
            "ckpt_every": 15, "seed": 9, "domain_weights": {"web": 1, "code": 1}},
  "data": {"tokenizer": "byte", "shards": "$work/shards"}
}
EOF
# Every run happens in the same folder, $work/run, so the paths the result
# files name are the same: the uninterrupted runs make the reference files.
run=$work/run
since() { python3 -c "print('%.2f' % ($(date +%s.%N) - $1))"; }
start=$(date +%s.%N)
"$duocl" train "$work/small.json" --run-dir "$run" 2>"$work/train.err" >/dev/null ||
    { echo "the reference training failed"; cat "$work/train.err"; exit 1; }
t_train=$(since "$start")
cp -r "$run" "$work/trained" # the model, before routers and the oracle
router=(--budget 1 --steps 60 --batch 2 --seed 4) # writes router/k1-SB-s4/ (seed 4)
start=$(date +%s.%N)
"$duocl" router train "$run" "${router[@]}" 2>"$work/router.err" >/dev/null ||
    { echo "the reference router training failed"; cat "$work/router.err"; exit 1; }
t_router=$(since "$start")
oracle=(--tokens 256 --budgets 0,1,2 --random 8 --batch 2)
start=$(date +%s.%N)
"$duocl" oracle "$run" "${oracle[@]}" 2>"$work/oracle.err" >/dev/null ||
    { echo "the reference oracle failed"; cat "$work/oracle.err"; exit 1; }
t_oracle=$(since "$start")
ref=$work/ref
mv "$run" "$ref"
echo "uninterrupted: train ${t_train} s, router train ${t_router} s, oracle ${t_oracle} s"
check "train_progress_in_a_file_has_no_cr" no_carriage_return "$work/train.err"
check "router_progress_in_a_file_has_no_cr" no_carriage_return "$work/router.err"
check "oracle_progress_in_a_file_has_no_cr" no_carriage_return "$work/oracle.err"
check "reference_files_whole" whole "$ref"

# One kill: a fresh copy of the run as it is before the command, the command
# killed at a random moment, the folder checked, continued, compared.
train_once() { # trial
    dir=$run
    rm -rf "$dir"
    what=$(kill_after "$(moment "$t_train" "$1")" train "$work/small.json" --run-dir "$dir")
    whole "$dir" || return 1
    if [ -f "$dir/checkpoints/final.ckpt" ]; then
        what="$what (after the end)" # the run was done: nothing to continue
    elif [ -f "$dir/checkpoints/latest.ckpt" ]; then
        continued train "$work/small.json" --run-dir "$dir" --resume || return 1
    else
        continued train "$work/small.json" --run-dir "$dir" || return 1
    fi
    echo "$what at $(moment "$t_train" "$1") s, continued"
    whole "$dir" && same_files "$dir" "$work/trained"
}
router_once() {
    dir=$run
    rm -rf "$dir"
    cp -r "$work/trained" "$dir"
    what=$(kill_after "$(moment "$t_router" "$1")" router train "$dir" "${router[@]}")
    whole "$dir" || return 1
    resume=()
    [ -f "$dir/router/k1-SB-s4/latest.ckpt" ] && resume=(--resume)
    if [ -f "$dir/router/k1-SB-s4/router.ckpt" ]; then
        what="$what (after the end)"
    else
        continued router train "$dir" "${router[@]}" "${resume[@]}" || return 1
    fi
    echo "$what at $(moment "$t_router" "$1") s, continued ${resume[*]}"
    whole "$dir" && same_files "$dir/router" "$ref/router"
}
oracle_once() {
    dir=$run
    rm -rf "$dir"
    cp -r "$work/trained" "$dir"
    what=$(kill_after "$(moment "$t_oracle" "$1")" oracle "$dir" "${oracle[@]}")
    whole "$dir" || return 1
    for f in oracle.json oracle_tokens.bin; do # a result that exists is the finished one
        [ ! -e "$dir/$f" ] || cmp "$dir/$f" "$ref/$f" || { echo "$f half-written"; return 1; }
    done
    continued oracle "$dir" "${oracle[@]}" || return 1
    echo "$what at $(moment "$t_oracle" "$1") s, run again"
    whole "$dir" && cmp "$dir/oracle.json" "$ref/oracle.json" &&
        cmp "$dir/oracle_tokens.bin" "$ref/oracle_tokens.bin"
}

# The narrowest window, made on purpose: killed after the last step's
# latest.ckpt and before final.ckpt (router.ckpt) was written.
last_window_train() {
    rm -rf "$run" && cp -r "$work/trained" "$run" && rm "$run/checkpoints/final.ckpt"
    continued train "$work/small.json" --run-dir "$run" --resume && same_files "$run" "$work/trained"
}
last_window_router() {
    rm -rf "$run" && cp -r "$ref" "$run" && rm "$run/router/k1-SB-s4/router.ckpt"
    continued router train "$run" "${router[@]}" --resume && same_files "$run/router" "$ref/router"
}
check "train_killed_before_final_ckpt_resumes" last_window_train
check "router_killed_before_router_ckpt_resumes" last_window_router

echo "train: killed and resumed"
for i in $(seq 1 "$kills"); do check "train_kill_$i" train_once "$i"; done
echo "router train: killed and resumed"
for i in $(seq 1 "$kills"); do check "router_kill_$i" router_once "$((100 + i))"; done
echo "oracle: killed and run again"
for i in $(seq 1 "$kills"); do check "oracle_kill_$i" oracle_once "$((200 + i))"; done
finish kill_resume
