#!/bin/bash
# Makes the fuzz targets' seed corpora with duocl itself, from a tiny run
# on generated text: configs, checkpoints (model and router), tokenizer
# files (BPE and byte), shards, oracle_tokens.bin, a bench JSON, the
# report's inputs, and a tuning file in the format `duocl tune` writes.
# The committed seeds/ were made by this script (but for regress_* files:
# inputs that once made a loader crash, kept as they are); run it again
# after a format changes.
# usage: tests/fuzz/make_seeds.sh DUOCL_BINARY [OUT_DIR]   (default tests/fuzz/seeds)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
duocl=$(realpath "$1")
out=$(realpath -m "${2:-$here/seeds}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$here/../lib.sh"
# regress_* files are inputs that once crashed a loader (kept by hand).
for t in config checkpoint tokenizer shard oracle_tokens bench tuning report; do
    mkdir -p "$out/$t"
    find "$out/$t" -type f ! -name 'regress_*' -delete
done

# Small text and shards, a BPE tokenizer and its shards too.
make_corpora "$work/corpora" 8000 1500
"$duocl" prepare --corpora "$work/corpora" --out "$work/shards" --domains web,code >/dev/null
"$duocl" tokenizer train --vocab 300 --sample-mb 0.01 --corpora "$work/corpora" \
    --out "$work/bpe.json" --domains web,code >/dev/null
"$duocl" prepare --tokenizer "$work/bpe.json" --corpora "$work/corpora" --out "$work/bpe" \
    --domains web,code >/dev/null
cp "$work/bpe.json" "$out/tokenizer/bpe.json"
cp "$work/shards/tokenizer.json" "$out/tokenizer/byte.json"
cp "$work/shards/web.val.tok" "$out/shard/byte.tok"
cp "$work/bpe/code.val.tok" "$out/shard/bpe.tok"

# The smallest model: 2 layers of d_model 8.
cat >"$work/seed.json" <<JSON
{
  "model": {"vocab": 257, "d_model": 8, "n_layers": 2, "n_heads": 1, "ctx": 8,
            "ffn_big": 16, "ffn_small": 2},
  "train": {"batch": 2, "steps": 6, "warmup": 2, "eval_every": 3, "eval_tokens": 32,
            "ckpt_every": 3, "seed": 5, "domain_weights": {"web": 1, "code": 1}},
  "data": {"tokenizer": "byte", "shards": "$work/shards"}
}
JSON
run=$work/run
"$duocl" train "$work/seed.json" --run-dir "$run" >/dev/null 2>&1
"$duocl" eval "$run" --routes all-big >/dev/null 2>&1
"$duocl" eval "$run" --routes all-small >/dev/null 2>&1
"$duocl" oracle "$run" --tokens 32 --random 4 >/dev/null 2>&1
"$duocl" router train "$run" --budget 1 --steps 3 --batch 2 >/dev/null 2>&1
"$duocl" eval "$run" --routes "router:$run/router/k1-SB/router.ckpt" >/dev/null 2>&1
"$duocl" difficulty "$run" --budget 1 --top 3 --context 8 --passage 12 >/dev/null 2>&1

cp "$run/config.json" "$out/config/run.json"
for c in "$here"/../../configs/*.json; do cp "$c" "$out/config/"; done
cp "$run/checkpoints/final.ckpt" "$out/checkpoint/model.ckpt"
cp "$run/router/k1-SB/router.ckpt" "$out/checkpoint/router.ckpt"
cp "$run/oracle_tokens.bin" "$out/oracle_tokens/run.bin"

# The report's inputs: eval.json, oracle.json, difficulty.json, log.jsonl and
# a router's log.jsonl, separated by lines "@@@" (fuzz_report.c). The router
# evaluation's path is the one fuzz_report's run folder has.

{
    sed "s|$run/router/k1-SB|RUN/router/k1-SB|g" "$run/eval.json"
    printf '\n@@@\n'; cat "$run/oracle.json"
    printf '\n@@@\n'; cat "$run/difficulty.json"
    printf '\n@@@\n'; cat "$run/log.jsonl"
    printf '\n@@@\n'; cat "$run/router/k1-SB/log.jsonl"
} >"$out/report/run.txt"

{ cat "$run/eval.json"; printf '\n@@@\n'; cat "$run/oracle.json"; } >"$out/report/no_difficulty.txt"
cat "$run/eval.json" >"$out/report/eval_only.txt"
{ printf '\n@@@\n\n@@@\n\n@@@\n'; cat "$run/log.jsonl"; } >"$out/report/log_only.txt"

# A bench JSON of the gemm section on the seed model's shapes.
"$duocl" bench --config "$work/seed.json" --only gemm --quick --json "$out/bench/gemm.json" >/dev/null 2>&1

# A tuning file as `duocl tune` writes it (its format: host/device/tuning.h).
cat >"$out/tuning/tuned.json" <<'JSON'
{
	"format":	"duocl-clblast-tuning",
	"version":	1,
	"device":	"pthread-cpu",
	"driver":	"3.1+debian",
	"platform":	"Portable Computing Language",
	"shape":	[1024, 256, 256],
	"decision":	"tuned parameters kept",
	"comparison":	{"builtin_ms": 12.5, "tuned_ms": 10.25, "gemms": 14, "rounds": 3},
	"kernels":	{
		"Xgemm":	{"time_ms": 3.5, "parameters": {"GEMMK": 0, "KREG": 1, "KWG": 32, "KWI": 2, "MDIMA": 16,
			"MDIMC": 16, "MWG": 64, "NDIMB": 16, "NDIMC": 16, "NWG": 64, "SA": 1, "SB": 1, "STRM": 0,
			"STRN": 0, "VWM": 4, "VWN": 4}},
		"XgemmDirect":	{"time_ms": 4.25, "parameters": {"KWID": 2, "MDIMAD": 16, "MDIMCD": 16, "NDIMBD": 16,
			"NDIMCD": 16, "PADA": 1, "PADB": 1, "VWMD": 2, "VWND": 2, "WGD": 32}},
		"Copy":	{"time_ms": 0.5, "parameters": {"COPY_DIMX": 16, "COPY_DIMY": 16, "COPY_VW": 4, "COPY_WPT": 1}}
	}
}
JSON
cat >"$out/tuning/builtin.json" <<'JSON'
{"format": "duocl-clblast-tuning", "version": 1, "device": "pthread-cpu", "driver": "3.1",
 "platform": "PoCL", "shape": [1024, 256, 256], "decision": "built-in parameters kept",
 "comparison": {"builtin_ms": 10, "tuned_ms": 11, "gemms": 14, "rounds": 1}, "kernels": {}}
JSON
cat >"$out/tuning/clblast_result.json" <<'JSON'
{"kernel_family": "xgemm", "precision": "32", "best_kernel": "Xgemm", "best_time": "3.50",
 "best_parameters": "GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=16 MDIMC=16 MWG=64 NDIMB=16 NDIMC=16 NWG=64 PRECISION=32 SA=1 SB=1 STRM=0 STRN=0 VWM=4 VWN=4"}
JSON
du -sh "$out"/* >&2
