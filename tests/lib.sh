# Shared pieces of the shell tests: source it after setting $duocl and $work.
# check NAME COMMAND...   counts a pass if COMMAND succeeds, else a failure
#                         with the tail of its output
# expect CODE PATTERN ARGS...  runs duocl ARGS; succeeds if it exits CODE and
#                         its output contains PATTERN
# make_corpora, make_shards, tiny_config  a tiny run's text, shards and config
# same_log A B           two log.jsonl files equal but for their timing fields
# finish SUITE            prints "SUITE: N passed, M failed" and exits 0 only
#                         if nothing failed
passed=0
failed=0

check() {
    name=$1
    shift
    if "$@" >"$work/out" 2>&1; then
        passed=$((passed + 1))
        echo "  ok    $name"
    else
        failed=$((failed + 1))
        echo "  FAIL  $name"
        sed 's/^/        /' "$work/out" | tail -20
    fi
}

expect() {
    code=$1 pattern=$2
    shift 2
    "$duocl" "$@" >"$work/expect.out" 2>&1
    rc=$?
    cat "$work/expect.out"
    [ "$rc" -eq "$code" ] || { echo "exit code $rc, expected $code"; return 1; }
    grep -q -- "$pattern" "$work/expect.out" || { echo "output lacks '$pattern'"; return 1; }
}

# Writes small generated text for the domains web and code into $1
# (<domain>.{train,val}.txt, documents separated by 0x00): $2 bytes of
# training text (default 40000) and $3 of validation text (default 6000).
make_corpora() {
    mkdir -p "$1"
    python3 - "$1" "${2:-40000}" "${3:-6000}" <<'PY'
import random, sys
words = "the a cat dog bird tree river house child sees likes finds paints red old quiet".split()
for domain, seed in (("web", 1), ("code", 2)):
    for split, size in (("train", int(sys.argv[2])), ("val", int(sys.argv[3]))):
        rng = random.Random(seed * 10 + len(split))
        out, n = [], 0
        while n < size:
            if domain == "web":
                s = " ".join(rng.choice(words) for _ in range(6)).capitalize() + ". "
            else:
                s = "x%d = f(x%d) + %d\n" % (rng.randrange(10), rng.randrange(10), rng.randrange(100))
            out.append(s)
            n += len(s)
        open("%s/%s.%s.txt" % (sys.argv[1], domain, split), "w").write("\0".join(out))
PY
}

# A tiny run's data: make_corpora's text in $work/corpora (sizes $1 and $2,
# as make_corpora's $2 and $3) prepared as byte-level shards in $work/shards.
make_shards() {
    make_corpora "$work/corpora" "$@" &&
        "$duocl" prepare --corpora "$work/corpora" --out "$work/shards" --domains web,code
}

# Writes $work/tiny.json: the tiny model (byte vocabulary, 4 layers of d_model
# 32) on $work/shards, web and code weighted 1:1; $1 is the rest of its
# "train" block ('"batch": 4, "steps": 40, ...').
tiny_config() {
    cat >"$work/tiny.json" <<EOF
{
  "model": {"vocab": 257, "d_model": 32, "n_layers": 4, "n_heads": 2, "ctx": 32,
            "ffn_big": 64, "ffn_small": 8},
  "train": {$1, "domain_weights": {"web": 1, "code": 1}},
  "data": {"tokenizer": "byte", "shards": "$work/shards"}
}
EOF
}

finish() {
    echo "$1: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# Two log.jsonl files equal record for record, leaving out the timing fields
# (tokens_per_s, elapsed_s): what must be equal across runs.
log_without_timing() {
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    for k in ("tokens_per_s", "elapsed_s"):
        o.pop(k, None)
    print(json.dumps(o, sort_keys=True))' "$1"
}
same_log() {
    log_without_timing "$1" >"$work/a.log" && log_without_timing "$2" >"$work/b.log" &&
        cmp "$work/a.log" "$work/b.log"
}
