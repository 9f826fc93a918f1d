#!/bin/sh
# duocl train from the command line, on small generated text: the run folder
# it writes, errors for bad configs and missing shards, a run killed with
# SIGKILL from outside and resumed (losses equal to an uninterrupted run's),
# Ctrl-C (SIGINT: checkpoint, exit code 1, then resume), and a resume with a
# changed config.
# usage: cli_train.sh DUOCL_BINARY
set -u
duocl=$(realpath "$1")
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

train_records() {
    n=$(grep -c '"type":"train"' "$1/log.jsonl" 2>/dev/null)
    echo "${n:-0}"
}

# The log without its timing fields: what must be equal bit for bit.
canonical() { sed 's/,"tokens_per_s".*//; s/,"elapsed_s".*//' "$1/log.jsonl"; }

same_log() { # run folder, reference run folder
    canonical "$1" >"$work/a.log"
    canonical "$2" >"$work/b.log"
    echo "$(grep -c train "$work/a.log") train records vs $(grep -c train "$work/b.log")"
    cmp "$work/a.log" "$work/b.log" && cmp "$1/checkpoints/final.ckpt" "$2/checkpoints/final.ckpt"
}

# Starts a run in the background and waits until its log has $2 train records.
start_and_wait() { # run folder, records, then extra arguments
    dir=$1 records=$2
    shift 2
    "$duocl" train "$work/tiny.json" --run-dir "$dir" "$@" >"$dir.out" 2>&1 &
    pid=$!
    i=0
    while [ "$(train_records "$dir")" -lt "$records" ]; do
        kill -0 "$pid" 2>/dev/null || { echo "the run ended before step $records"; return 1; }
        i=$((i + 1))
        [ $i -lt 2000 ] || { echo "no progress"; return 1; }
        sleep 0.02
    done
}

killed_mid_run_and_resumed() {
    start_and_wait "$work/killed" 45 || return 1
    kill -9 "$pid"
    wait "$pid"
    pid=
    done_steps=$(train_records "$work/killed")
    echo "killed after $done_steps logged steps"
    [ "$done_steps" -lt 160 ] || { echo "the run finished before the kill"; return 1; }
    "$duocl" train "$work/tiny.json" --run-dir "$work/killed" --resume || return 1
    same_log "$work/killed" "$work/full"
}

interrupted_and_resumed() {
    start_and_wait "$work/int" 25 || return 1
    kill -INT "$pid"
    wait "$pid"
    rc=$?
    pid=
    cat "$work/int.out"
    [ "$rc" -eq 1 ] || { echo "exit code $rc after SIGINT, expected 1"; return 1; }
    grep -q "interrupted after step" "$work/int.out" || return 1
    [ -f "$work/int/checkpoints/latest.ckpt" ] || return 1
    "$duocl" train "$work/tiny.json" --run-dir "$work/int" --resume || return 1
    same_log "$work/int" "$work/full"
}

echo "data"
check "prepare_shards" make_shards 60000 8000
tiny_config '"batch": 4, "steps": 160, "warmup": 10, "eval_every": 80, "eval_tokens": 256,
             "ckpt_every": 20, "seed": 5'

echo "command line and errors"
check "help_mentions_resume" expect 0 "--resume" train --help
check "missing_config_argument" expect 1 "missing argument" train
check "missing_config_file" expect 1 "no-such.json" train "$work/no-such.json"
check "bad_value_names_the_key" expect 1 "train.p_big" train "$work/tiny.json" --set train.p_big=2
check "unknown_key_names_it" expect 1 "train.lernrate" train "$work/tiny.json" --set train.lernrate=1
check "missing_shards_say_prepare" expect 1 "duocl prepare" train "$work/tiny.json" \
    --run-dir "$work/x" --set "data.shards=$work/none"

echo "training"
check "short_run_prints_the_table" expect 0 "all-big" train "$work/tiny.json" --run-dir "$work/short" \
    --set train.steps=20 --set train.warmup=2 --set train.eval_every=0
check "short_run_writes_the_folder" sh -c "test -f '$work/short/config.json' && \
    test -f '$work/short/checkpoints/latest.ckpt' && test -f '$work/short/checkpoints/final.ckpt' && \
    test \$(grep -c '\"type\":\"train\"' '$work/short/log.jsonl') -eq 20 && \
    grep -q '\"bits_per_byte\"' '$work/short/log.jsonl'"
check "default_run_dir_is_runs_config_name" sh -c "cd '$work' && '$duocl' train tiny.json \
    --set train.steps=2 --set train.warmup=1 && test -f runs/tiny/checkpoints/final.ckpt"
check "existing_run_needs_resume" expect 1 "pass --resume" train "$work/tiny.json" --run-dir "$work/short" \
    --set train.steps=20 --set train.warmup=2 --set train.eval_every=0
check "resume_with_another_lr_names_it" expect 1 "train.lr" train "$work/tiny.json" --run-dir "$work/short" \
    --resume --set train.steps=30 --set train.warmup=2 --set train.eval_every=0 --set train.lr=0.001
check "resume_to_more_steps" expect 0 "resuming at step 20 of 30" train "$work/tiny.json" \
    --run-dir "$work/short" --resume --set train.steps=30 --set train.warmup=2 --set train.eval_every=0

echo "kill and resume"
check "uninterrupted_run" "$duocl" train "$work/tiny.json" --run-dir "$work/full"
check "sigkill_then_resume_gives_the_same_losses" killed_mid_run_and_resumed
check "sigint_checkpoints_exits_1_and_resumes" interrupted_and_resumed

finish cli_train
