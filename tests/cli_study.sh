#!/bin/sh
# duocl study on a tiny config and generated text: the whole study runs and
# writes the report; a study interrupted during training (Ctrl-C) and another
# killed during the oracle (SIGKILL) finish when run again, without redoing
# the stages that were done; a changed oracle setting reruns the oracle and
# what reads it, nothing else. Issue 16's routers (seed 2, oracle-taught,
# signal) are evaluated and difficulty.json has the signals.
# usage: cli_study.sh DUOCL_BINARY
set -u
duocl=$(realpath "$1")
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

make_shards >/dev/null 2>&1
tiny_config '"batch": 4, "steps": 400, "warmup": 5, "eval_every": 0, "eval_tokens": 256,
             "ckpt_every": 10, "seed": 3'
study() { "$duocl" study "$work/tiny.json" --run-dir "$1" --oracle-tokens 256 --router-steps 10 --teacher-windows 8 --no-tune; }

# Starts a study in the background and waits until file $2 exists.
start_and_wait_for() { # run folder, file
    # duocl itself in the background (not a shell function), so signals reach it.
    "$duocl" study "$work/tiny.json" --run-dir "$1" --oracle-tokens 256 --router-steps 10 --teacher-windows 8 --no-tune \
        >"$1.out" 2>&1 &
    pid=$!
    i=0
    while [ ! -e "$2" ]; do
        kill -0 "$pid" 2>/dev/null || { echo "the study ended before $2 appeared"; cat "$1.out"; return 1; }
        i=$((i + 1))
        [ $i -lt 6000 ] || { echo "no progress"; return 1; }
        sleep 0.02
    done
}

interrupted_in_training_then_finished() {
    start_and_wait_for "$work/a" "$work/a/checkpoints/latest.ckpt" || return 1
    kill -INT "$pid"
    wait "$pid"
    rc=$?
    pid=
    [ "$rc" -ne 0 ] || { echo "an interrupted study exited 0"; return 1; }
    [ ! -e "$work/a/study/train.done" ] || { echo "training marked done after Ctrl-C"; return 1; }
    study "$work/a" >"$work/a.second" 2>&1 || { cat "$work/a.second"; return 1; }
    cat "$work/a.second"
    grep -q "data: done before, skipped" "$work/a.second" &&
        grep -q "train: running" "$work/a.second" && [ -s "$work/a/report.html" ] &&
        [ "$(grep -c '"type":"train"' "$work/a/log.jsonl")" -eq 400 ]
}

killed_in_oracle_then_finished() {
    start_and_wait_for "$work/b" "$work/b/study/eval.done" || return 1
    kill -9 "$pid"
    wait "$pid"
    pid=
    study "$work/b" >"$work/b.second" 2>&1 || { cat "$work/b.second"; return 1; }
    cat "$work/b.second"
    for stage in data train eval; do
        grep -q "$stage: done before, skipped" "$work/b.second" || return 1
    done
    grep -q "oracle: running" "$work/b.second" && [ -s "$work/b/report.html" ] || return 1
    # Issue 16's routers, their evaluations and the signals.
    for f in k2-SB-s2/router.ckpt k2-SB-oracle/router.ckpt k2-SB-oracle-s2/router.ckpt \
             k2-SB-signal/signal.json; do
        [ -s "$work/b/router/$f" ] || { echo "no router/$f"; return 1; }
    done
    grep -q '"router:[^"]*/router/k2-SB-oracle-s2/router.ckpt,exact"' "$work/b/eval.json" &&
        grep -q '"signal:[^"]*/router/k3-SB-signal/signal.json"' "$work/b/eval.json" &&
        grep -q '"entropy_small"' "$work/b/difficulty.json" &&
        grep -q 'id="signals"' "$work/b/report.html"
}

changed_setting_reruns_only_what_depends_on_it() {
    "$duocl" study "$work/tiny.json" --run-dir "$work/b" --oracle-tokens 512 --router-steps 10 --teacher-windows 8 --no-tune \
        >"$work/b.third" 2>&1 || return 1
    cat "$work/b.third"
    ! grep -q "train: running" "$work/b.third" && ! grep -q "router-k2: running" "$work/b.third" &&
        ! grep -q "oracle-router-k2: running" "$work/b.third" &&
        ! grep -q "signal-router-k2: running" "$work/b.third" &&
        grep -q "oracle: running" "$work/b.third" && grep -q "difficulty: running" "$work/b.third" &&
        grep -q "report: running" "$work/b.third"
}

echo "duocl study"
check "help_lists_the_stages" expect 0 "router-kK" study --help
check "interrupted_in_training_then_finished" interrupted_in_training_then_finished
check "killed_in_oracle_then_finished" killed_in_oracle_then_finished
check "finished_study_skips_everything" sh -c \
    "'$duocl' study '$work/tiny.json' --run-dir '$work/b' --oracle-tokens 256 --router-steps 10 --teacher-windows 8 --no-tune 2>&1 | grep -c 'skipped' | grep -qx 21"
check "changed_setting_reruns_only_what_depends_on_it" changed_setting_reruns_only_what_depends_on_it
check "bad_config_is_a_clear_error" expect 1 "no-such.json" study "$work/no-such.json"
finish cli_study
