#!/bin/sh
# duocl difficulty from the command line on a tiny model trained here (a few
# seconds): the JSON it writes, its statistics recomputed in Python straight
# from oracle_tokens.bin, and the errors for a budget the oracle did not
# search, a missing --budget, a run without an oracle, a truncated token file.
# It makes its own small text and shards; it needs neither the corpora nor
# the network.
# usage: difficulty_cli.sh DUOCL_BINARY SOURCE_DIR
set -u
duocl=$(realpath "$1")
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

make_shards >/dev/null 2>&1
shards=$work/shards

run=$work/tiny
check "train_tiny_run" "$duocl" train "$src/configs/tiny.json" --run-dir "$run" --set "data.shards=$shards" \
    --set 'train.domain_weights={"web": 1, "code": 1}'
check "oracle_budgets_1_2" "$duocl" oracle "$run" --tokens 256 --budgets 1,2
check "difficulty_budget_1" expect 0 "rank correlation with benefit" difficulty "$run" --budget 1 --top 3
check "json_written_no_tmp_left" test -f "$run/difficulty.json" -a ! -e "$run/difficulty.json.tmp"
check "json_has_every_part" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["budget"] == 1 and d["layers"] == 4, d["budget"]
for name, v in d["domains"].items():
    assert set(v["spearman"]) >= {"loss_small_benefit", "loss_big_benefit"}, name
    assert len(v["top_benefit"]) == 3 and len(v["top_loss_small"]) == 3, name
    t = v["top_benefit"][0]
    assert {"context", "token", "loss_small", "loss_oracle", "benefit"} <= set(t), t
    assert abs(t["benefit"] - (t["loss_small"] - t["loss_oracle"])) < 2e-4, t
    p = v["passage"]
    assert len(p["tokens"]) == len(p["benefit"]) == len(p["loss_small"]) == min(400, v["tokens"]), name
' "$run/difficulty.json"
check "statistics_match_python" python3 "$src/tests/difficulty_check.py" "$run" 1
check "budget_2" expect 0 "oracle(2)" difficulty "$run" --budget 2 --top 0 --passage 10
check "skip_first_positions" expect 0 "(window positions 8 to 31)" difficulty "$run" --budget 2 --skip-first 8
check "out_elsewhere" expect 0 "wrote $work/k2.json" difficulty "$run" --budget 2 --out "$work/k2.json"
check "skip_first_statistics_match_python" python3 "$src/tests/difficulty_check.py" "$run" 2
check "skip_first_whole_window" expect 1 "allowed 0 to 31" difficulty "$run" --budget 2 --skip-first 32
check "budget_not_searched_says_how" expect 1 "--budgets 1,2,3" difficulty "$run" --budget 3
check "budget_not_searched_lists_budgets" expect 1 "searched: 1,2" difficulty "$run" --budget 0
check "budget_above_layers" expect 1 "budgets are 0 to 4" difficulty "$run" --budget 7
check "budget_required" expect 1 "--budget K is required" difficulty "$run"
check "budget_not_a_number" expect 1 "--budget allows" difficulty "$run" --budget x
check "help" expect 0 "benefit = loss_small - loss_oracle" difficulty --help

mkdir -p "$work/no-oracle"
check "run_without_oracle" expect 1 "duocl oracle" difficulty "$work/no-oracle" --budget 1
mkdir -p "$work/cut"
cp "$run/config.json" "$work/cut/"
head -c 5000 "$run/oracle_tokens.bin" >"$work/cut/oracle_tokens.bin"
check "truncated_token_file" expect 1 "cut/oracle_tokens.bin' is truncated" difficulty "$work/cut" --budget 1

finish difficulty_cli
