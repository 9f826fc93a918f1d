#!/bin/sh
# The analysis commands end to end on a tiny model trained on generated
# text: duocl eval under every kind of routing, duocl oracle (its invariants,
# and its all-big pattern equal to 'duocl eval --routes all-big'), duocl
# router train and evaluation with the router (argmax and exact budget), and
# the errors for bad routing specs.
# usage: cli_analysis.sh DUOCL_BINARY
set -u
duocl=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

json() { # python expression over run = the run folder's JSON files; prints it and fails if falsy
    python3 - "$work/run1" "$1" <<'PY'
import json, os, sys
folder, expression = sys.argv[1], sys.argv[2]
def load(name):
    with open(os.path.join(folder, name)) as f:
        return json.load(f)
value = eval(expression)
print(expression, "->", value)
sys.exit(0 if value else 1)
PY
}

make_shards >/dev/null 2>&1
tiny_config '"batch": 4, "steps": 80, "warmup": 5, "eval_every": 0, "eval_tokens": 256,
             "ckpt_every": 0, "seed": 3'
check "train_tiny_model" "$duocl" train "$work/tiny.json" --run-dir "$work/run1"

echo "duocl eval"
check "eval_all_big" expect 0 "bits/byte" eval "$work/run1" --routes all-big
check "eval_all_small" expect 0 "web" eval "$work/run1" --routes all-small
check "eval_pattern" expect 0 "code" eval "$work/run1" --routes pattern:SBKB
check "eval_random" expect 0 "web" eval "$work/run1" --routes random:0.5,0.25
check "eval_json_has_every_spec" json \
    "sorted(load('eval.json')) == ['all-big', 'all-small', 'pattern:SBKB', 'random:0.5,0.25']"
check "all_big_uses_every_big_layer" json "load('eval.json')['all-big']['web']['budget'] == 4"
check "pattern_budget_and_flops" json \
    "(lambda e: e['budget'] == 2 and e['skip'] == 1 and abs(e['flop_fraction'] - (2*64+8)/(4*64)) < 1e-12)(load('eval.json')['pattern:SBKB']['web'])"
check "small_is_worse_than_big" json \
    "load('eval.json')['all-small']['web']['loss'] > load('eval.json')['all-big']['web']['loss']"
check "bad_spec_lists_what_is_allowed" expect 1 "router:PATH" eval "$work/run1" --routes bogus
check "pattern_of_wrong_length" expect 1 "one letter per layer" eval "$work/run1" --routes pattern:SB
check "missing_run" expect 1 "no checkpoint" eval "$work/none" --routes all-big

echo "duocl oracle"
check "oracle_runs" expect 0 "prefix sharing" oracle "$work/run1" --tokens 256 --random 3
check "oracle_le_fixed_le_random" json \
    "all(b['oracle']['loss'] <= b['fixed']['loss'] <= b['random']['loss'] for d in load('oracle.json')['domains'].values() for b in d['budgets'])"
check "oracle_all_big_equals_eval_all_big" json \
    "all(abs(load('oracle.json')['domains'][d]['budgets'][4]['fixed']['loss'] - load('eval.json')['all-big'][d]['loss']) < 1e-5 for d in ('web', 'code'))"
check "oracle_all_small_equals_eval_all_small" json \
    "all(abs(load('oracle.json')['domains'][d]['all_small']['loss'] - load('eval.json')['all-small'][d]['loss']) < 1e-5 for d in ('web', 'code'))"
check "prefix_sharing_counts" json \
    "load('oracle.json')['layer_evals'] < load('oracle.json')['naive_layer_evals']"
check "per_token_file_written" test -s "$work/run1/oracle_tokens.bin"
check "oracle_bad_alphabet" expect 1 "SB, KB, KSB" oracle "$work/run1" --alphabet XY

echo "duocl router"
check "router_train" expect 0 "router.ckpt" router train "$work/run1" --budget 2 --steps 20 --batch 4
ck="$work/run1/router/k2-SB/router.ckpt"
check "eval_router_argmax" expect 0 "web" eval "$work/run1" --routes "router:$ck"
check "eval_router_exact" expect 0 "web" eval "$work/run1" --routes "router:$ck,exact"
check "exact_router_holds_the_budget" json \
    "all(load('eval.json')['router:$ck,exact'][d]['budget'] == 2 for d in ('web', 'code'))"
check "router_allocation_reported" json \
    "abs(sum(load('eval.json')['router:$ck']['web']['big_per_layer']) - load('eval.json')['router:$ck']['web']['budget']) < 1e-9"
check "router_bad_budget" expect 1 "layers" router train "$work/run1" --budget 9 --steps 2
check "router_needs_budget" expect 1 "--budget K is required" router train "$work/run1"

finish cli_analysis
