# Shared pieces of the shell tests: source it after setting $duocl and $work.
# check NAME COMMAND...   counts a pass if COMMAND succeeds, else a failure
#                         with the tail of its output
# expect CODE PATTERN ARGS...  runs duocl ARGS; succeeds if it exits CODE and
#                         its output contains PATTERN
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
# (<domain>.{train,val}.txt, documents separated by 0x00).
make_corpora() {
    mkdir -p "$1"
    python3 - "$1" <<'PY'
import random, sys
words = "the a cat dog bird tree river house child sees likes finds paints red old quiet".split()
for domain, seed in (("web", 1), ("code", 2)):
    for split, size in (("train", 40000), ("val", 6000)):
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

finish() {
    echo "$1: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
