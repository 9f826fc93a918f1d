#!/bin/bash
# Every bad input on the command line exits 1 with a message that names what
# is wrong; none exits 2 (an internal error), crashes or hangs. A table of
# rows: the word the message must contain, then the command line. Files of
# every kind stand where a file is expected: missing, empty, garbage, cut
# short, a folder, a FIFO (which must never block), a file too large for
# the device; and options out of range, of the wrong type or unknown.
# Each row runs under a time limit (a hang fails the row).
# usage: cli_bad_inputs.sh DUOCL_BINARY
set -u
duocl=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"
limit=60 # seconds a row may take

rows=0 bad_rows=() env_shown=""
# bad WORD ARGS...: duocl ARGS must exit 1 within $limit s, with WORD in its output.
bad() {
    word=$1
    shift
    rows=$((rows + 1))
    timeout -k 5 "$limit" "$duocl" "$@" </dev/null >"$work/row.out" 2>&1
    rc=$?
    if [ "$rc" -eq 1 ] && grep -qF -- "$word" "$work/row.out"; then
        printf '  ok    %s%s\n' "$env_shown" "$*" | cut -c1-150
        return
    fi
    case $rc in
    124 | 137) why="hung (killed after $limit s)" ;;
    1) why="exit 1 but the message lacks '$word'" ;;
    *) why="exit $rc, expected 1" ;;
    esac
    bad_rows+=("$env_shown$*")
    printf '  FAIL  %s%s\n        %s; output:\n' "$env_shown" "$*" "$why"
    tail -3 "$work/row.out" | cut -c1-300 | sed 's/^/        /'
}
# bad_env VAR=VALUE WORD ARGS...: as bad, with one variable set.
bad_env() {
    variable=${1%%=*}
    export "${1?}"
    env_shown="$1 "
    shift
    bad "$@"
    unset "$variable"
    env_shown=""
}

# ---- fixtures: a tiny trained run, its copies with one file damaged, odd files
make_shards 20000 3000 >/dev/null 2>&1 || { echo "cannot make shards"; exit 1; }
tiny_config '"batch": 2, "steps": 6, "warmup": 2, "eval_every": 6, "eval_tokens": 64, "ckpt_every": 3, "seed": 3'
cfg=$work/tiny.json
run=$work/run
"$duocl" train "$cfg" --run-dir "$run" >/dev/null 2>&1 || { echo "cannot train the fixture run"; exit 1; }
cp -r "$run" "$work/no_oracle"
"$duocl" eval "$run" --routes all-big >/dev/null 2>&1 || { echo "cannot evaluate the fixture run"; exit 1; }
"$duocl" oracle "$run" --tokens 64 --budgets 1 >/dev/null 2>&1 || { echo "cannot run the oracle"; exit 1; }

mkdir "$work/dir"
mkfifo "$work/fifo"
: >"$work/empty.json"
printf 'not json at all \001\002' >"$work/garbage.json"
head -c 200 "$run/checkpoints/final.ckpt" >"$work/cut.ckpt"
echo '{"model": {"vocab": 257}}' >"$work/partial.json"
# A bench report whose case claims 100000 samples (64 at most).
python3 - "$work/bench_n.json" <<'PY'
import json, sys
case = {"section": "gemm", "name": "q", "shape": "m=1", "work": 1, "unit": "GFLOP/s",
        "rate": 1, "seconds": {"n": 100000, "median": 1, "min": 1, "max": 1, "q1": 1, "q3": 1},
        "device_median": None, "cores": 1, "samples": [1]}
doc = {"format": "duocl-bench", "version": 1, "label": "x",
       "device": {"name": "d", "platform": "p", "driver": "v", "profile": "pocl", "compute_units": 1},
       "environment": "", "gemm_tuning": "untuned", "date": "today", "load_start": 0, "load_end": 0,
       "config": "c", "repeat": 1, "warmup": 0,
       "model": {k: 8 for k in ("vocab", "d_model", "n_layers", "n_heads", "ctx", "ffn_big", "ffn_small")},
       "batch": 1, "derived": {k: None for k in ("ffn_forward_outside_gemm", "ffn_backward_outside_gemm",
                                                 "ffn_forward_compaction", "ffn_backward_compaction")},
       "cases": [case]}
json.dump(doc, open(sys.argv[1], "w"))
PY
# Runs with oracle_tokens.bin a folder, a FIFO, cut short; eval.json cut short.
for kind in dir fifo cut; do
    cp -r "$run" "$work/tokens_$kind"
    t=$work/tokens_$kind/oracle_tokens.bin
    case $kind in
    dir) rm "$t" && mkdir "$t" ;;
    fifo) rm "$t" && mkfifo "$t" ;;
    cut) head -c 100 "$run/oracle_tokens.bin" >"$t" ;;
    esac
done
cp -r "$run" "$work/eval_cut"
size=$(stat -c %s "$run/eval.json")
head -c $((size - 3)) "$run/eval.json" >"$work/eval_cut/eval.json"
# Shard folders with web.train.tok a FIFO, cut short.
for kind in fifo cut; do
    cp -r "$work/shards" "$work/shards_$kind"
    s=$work/shards_$kind/web.train.tok
    case $kind in
    fifo) rm "$s" && mkfifo "$s" ;;
    cut) head -c 100 "$work/shards/web.train.tok" >"$s" ;;
    esac
    sed "s|$work/shards\"|$work/shards_$kind\"|" "$cfg" >"$work/tiny_$kind.json"
done
# A tuning file for this device, in a cache folder of its own: as a folder, a FIFO.
# Valid but for one thing: version 1.5, KWG 3 (not a power of 2), an unknown kernel.
"$duocl" devices --json >"$work/devices.json"
tuning_name=$(python3 - "$work/devices.json" "$work" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1])); dev = d["devices"][d["selected"]]
clean = lambda s: re.sub(r"[^A-Za-z0-9._-]", "_", s)
name = clean(dev["device"]) + "__" + clean(dev["driver"]) + ".json"
xgemm = {"GEMMK": 0, "KREG": 1, "KWG": 32, "KWI": 2, "MDIMA": 16, "MDIMC": 16, "MWG": 64,
         "NDIMB": 16, "NDIMC": 16, "NWG": 64, "SA": 1, "SB": 1, "STRM": 0, "STRN": 0, "VWM": 4, "VWN": 4}
def tuning(version=1, kernels=None):
    return {"format": "duocl-clblast-tuning", "version": version, "device": dev["device"],
            "driver": dev["driver"], "platform": dev["platform"], "shape": [1024, 256, 256],
            "kernels": kernels or {"Xgemm": {"time_ms": 1.0, "parameters": xgemm}}}
files = {"version": tuning(version=1.5),
         "kwg": tuning(kernels={"Xgemm": {"time_ms": 1.0, "parameters": dict(xgemm, KWG=3)}}),
         "kernel": tuning(kernels={"Nosuch": {"time_ms": 1.0, "parameters": {"X": 1}}})}
for kind, doc in files.items():
    path = "%s/cache_%s/duocl/tuning/%s" % (sys.argv[2], kind, name)
    __import__("os").makedirs(path.rsplit("/", 1)[0])
    json.dump(doc, open(path, "w"))
print(name)
PY
)
export POCL_CACHE_DIR=${POCL_CACHE_DIR:-$HOME/.cache/duocl/pocl} # keep compiled kernels
for kind in dir fifo; do
    mkdir -p "$work/cache_$kind/duocl/tuning"
    t=$work/cache_$kind/duocl/tuning/$tuning_name
    case $kind in
    dir) mkdir "$t" ;;
    fifo) mkfifo "$t" ;;
    esac
done

# ---- the table: the word the message must contain, then the command line
echo "commands and options"
bad "usage"                 # no command at all
bad "unknown command"       nosuch
bad "did you mean 'train'"  trian
bad "unknown option"        train "$cfg" --nosuch
bad "did you mean '--resume'" train "$cfg" --resum
bad "takes no value"        train "$cfg" --resume=yes
bad "needs a value"         train "$cfg" --run-dir
bad "missing argument"      eval
bad "unexpected argument"   eval "$run" "$run" --routes all-big
bad "unknown subcommand"    router nosuch "$run" --budget 1

echo "config files"
bad "none.json"             train "$work/none.json"
bad "dir"                   train "$work/dir"
bad "fifo"                  train "$work/fifo"
bad "empty.json"            train "$work/empty.json"
bad "garbage.json"          train "$work/garbage.json"
bad "partial.json"          train "$work/partial.json"
bad "train.p_big"           train "$cfg" --set train.p_big=2
bad "nosuch"                train "$cfg" --set nosuch.key=1
bad "train.lr"              train "$cfg" --set train.lr=1e999
bad "train.batch"           train "$cfg" --set train.batch=abc
bad "train.steps"           train "$cfg" --set train.steps=-5
bad "train.grad_shards"     train "$cfg" --set train.grad_shards=3
bad "train.grad_shards"     train "$cfg" --set train.grad_shards=-1
bad "n_layers"              train "$cfg" --set model.n_layers=64
bad "use a smaller model"   train "$cfg" --run-dir "$work/huge" --set model.d_model=32768 \
                                  --set model.ffn_big=131072 --set model.ffn_small=8192
bad "none.json"             study "$work/none.json"
bad "--oracle-tokens"       study "$cfg" --oracle-tokens 0
bad "--router-batch"        study "$cfg" --router-batch x

echo "shards and tokenizers"
bad "noshards"              train "$cfg" --run-dir "$work/r1" --set data.shards="$work/noshards"
bad "web.train.tok"         train "$work/tiny_fifo.json" --run-dir "$work/r2"
bad "web.train.tok"         train "$work/tiny_cut.json" --run-dir "$work/r3"
bad "dir"                   prepare --tokenizer "$work/dir" --corpora "$work/corpora" --out "$work/p1" --domains web
bad "fifo"                  prepare --tokenizer "$work/fifo" --corpora "$work/corpora" --out "$work/p2" --domains web
bad "garbage.json"          prepare --tokenizer "$work/garbage.json" --corpora "$work/corpora" --out "$work/p3" --domains web
bad "nocorpora"             prepare --corpora "$work/nocorpora" --out "$work/p4" --domains web
bad "--domains"             prepare --corpora "$work/corpora" --out "$work/p5" --domains ,,
bad "--vocab"               tokenizer train --vocab 10 --corpora "$work/corpora" --out "$work/t.json"
bad "--sample-mb"           tokenizer train --sample-mb 0 --corpora "$work/corpora" --out "$work/t.json"

echo "runs and checkpoints"
bad "--resume"              train "$cfg" --run-dir "$work/fresh" --resume
bad "nosuchrun"             eval "$work/nosuchrun" --routes all-big
bad "--routes"              eval "$run"
bad "nosuch"                eval "$run" --routes nosuch
bad "pattern"               eval "$run" --routes pattern:SBX
bad "none.ckpt"             eval "$run" --routes all-big --checkpoint "$work/none.ckpt"
bad "cut.ckpt"              eval "$run" --routes all-big --checkpoint "$work/cut.ckpt"
bad "dir"                   eval "$run" --routes all-big --checkpoint "$work/dir"
bad "fifo"                  eval "$run" --routes all-big --checkpoint "$work/fifo"
bad "garbage.json"          eval "$run" --routes all-big --checkpoint "$work/garbage.json"
bad "none.ckpt"             eval "$run" --routes "router:$work/none.ckpt"
bad "nosuch"                eval "$run" --routes all-big --domains nosuch
bad "eval.json"             eval "$work/eval_cut" --routes all-small
bad "config.json"           report "$work/shards"
bad "nosuchrun"             report "$work/nosuchrun"

echo "numbers"
bad "--batch"               eval "$run" --routes all-big --batch abc
bad "--batch"               eval "$run" --routes all-big --batch -1
bad "--batch"               eval "$run" --routes all-big --batch 1e8
bad "--batch"               eval "$run" --routes all-big --batch 0
bad "--batch"               eval "$run" --routes all-big --batch 1x
bad "--tokens"              eval "$run" --routes all-big --tokens x
bad "--batch"               oracle "$run" --batch -1
bad "--batch"               oracle "$run" --batch 1e8
bad "--random"              oracle "$run" --random 0
bad "--tokens"              oracle "$run" --tokens 0
bad "--alphabet"            oracle "$run" --alphabet XY
bad "--budgets"             oracle "$run" --budgets 99
bad "--vary"                oracle "$run" --vary 3:x
bad "budget"                oracle "$run" --budgets 9 --tokens 64
bad "--budget"              router train "$run"
bad "--budget"              router train "$run" --budget 99
bad "--steps"               router train "$run" --budget 1 --steps 0
bad "--steps"               router train "$run" --budget 1 --steps nan
bad "--lr"                  router train "$run" --budget 1 --lr nan
bad "--batch"               router train "$run" --budget 1 --batch 1e300
bad "--seed"                router train "$run" --budget 1 --seed -1
bad "--alphabet"            router train "$run" --budget 1 --alphabet KB
bad "--resume"              router train "$run" --budget 1 --resume
bad "--budget"              difficulty "$run"
bad "--budget"              difficulty "$run" --budget x
bad "--repeat"              bench --config "$cfg" --repeat 0
bad "--repeat"              bench --config "$cfg" --repeat 1e9
bad "nosuch"                bench --config "$cfg" --only nosuch
bad "--fraction"            tune --config "$cfg" --fraction 0
bad "--shape"               tune --config "$cfg" --shape 1,2
bad "--rounds"              tune --config "$cfg" --rounds x
bad "--seconds"             tune --config "$cfg" --seconds -1

echo "device memory"
bad "try --batch"           eval "$run" --routes all-big --batch 10000000
bad "try --batch"           oracle "$run" --tokens 64 --budgets 1 --batch 10000000

echo "oracle_tokens.bin, bench and tuning files"
bad "oracle"                difficulty "$work/no_oracle" --budget 1
bad "budget 2"              difficulty "$run" --budget 2
bad "oracle_tokens.bin"     difficulty "$work/tokens_dir" --budget 1
bad "oracle_tokens.bin"     difficulty "$work/tokens_fifo" --budget 1
bad "oracle_tokens.bin"     difficulty "$work/tokens_cut" --budget 1
bad "none.json"             bench --config "$work/none.json"
bad "none.json"             bench compare "$work/none.json"
bad "dir"                   bench compare "$work/dir"
bad "fifo"                  bench compare "$work/fifo"
bad "garbage.json"          bench compare "$work/garbage.json"
bad "'n'"                   bench compare "$work/bench_n.json"
bad_env XDG_CACHE_HOME="$work/cache_dir" "$tuning_name" selftest
bad_env XDG_CACHE_HOME="$work/cache_fifo" "$tuning_name" selftest
bad_env XDG_CACHE_HOME="$work/cache_version" "version" selftest
bad_env XDG_CACHE_HOME="$work/cache_kwg" "KWG" selftest
bad_env XDG_CACHE_HOME="$work/cache_kernel" "Nosuch" selftest

echo "devices"
bad "past the last device"  devices --device 99
bad "matches no device"     selftest --device nosuchvendor
bad "matches no device"     train "$cfg" --run-dir "$work/r4" --device nosuchvendor
bad "past the last device"  eval "$run" --routes all-big --device 42

echo "cli_bad_inputs: $rows rows, $((rows - ${#bad_rows[@]})) passed, ${#bad_rows[@]} failed"
for r in "${bad_rows[@]}"; do
    echo "  failed: $r"
done
[ ${#bad_rows[@]} -eq 0 ]
