#!/bin/sh
# duocl report end to end: a tiny run on generated text (train, eval,
# oracle, a router, difficulty), its report loaded in headless Chromium, and
# the dumped DOM checked for every section, chart and passage, for SVG in
# every chart and for nothing fetched from outside the page. Then the report
# without gnuplot (a note in each chart's place, exit 0), of a run that has
# only been trained (each missing section says which command makes it), and
# the errors for a missing or invalid run.
# Skipped (exit 77) when Chromium is not installed; scripts/setup.sh installs
# it (and gnuplot-nox, which this test needs).
# usage: report_check.sh DUOCL_BINARY
set -u
duocl=$(realpath "$1")
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
    echo "report_check: SKIP: chromium is not installed (scripts/setup.sh installs Debian's chromium)"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

# Loads a page in headless Chromium (offline: every host resolves to nothing)
# and writes the DOM it built.
dump_dom() { # html file, output file
    timeout 90 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --host-resolver-rules="MAP * ~NOTFOUND" --user-data-dir="$work/profile" \
        --dump-dom "file://$1" >"$2" 2>"$work/chromium.err"
    rc=$?
    [ "$rc" -eq 0 ] && [ -s "$2" ] || { echo "chromium exit $rc"; tail -5 "$work/chromium.err"; return 1; }
}

# Checks a dumped DOM with Python's HTML parser; MODE says what must be there.
dom() { # dom file, mode
    python3 - "$1" "$2" <<'PY'
import re, sys
from html.parser import HTMLParser

path, mode = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()

class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.figures, self.stack, self.external = {}, {}, [], []
        self.tags = {}
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if "id" in a:
            self.ids[a["id"]] = tag
        if tag == "figure":
            self.figures[a.get("id")] = {"svg": 0, "class": a.get("class", "")}
            self.stack.append(a.get("id"))
        elif tag == "svg" and self.stack:
            self.figures[self.stack[-1]]["svg"] += 1
        for name, value in attrs:
            v = (value or "").strip().lower()
            if name in ("src", "href", "xlink:href", "action", "poster", "data") and not (
                    v.startswith("#") or v.startswith("data:")):
                self.external.append("%s %s=%s" % (tag, name, value))
        if tag in ("script", "link", "iframe", "img", "object", "embed", "base"):
            self.external.append("<%s> element" % tag)
    def handle_endtag(self, tag):
        if tag == "figure" and self.stack:
            self.stack.pop()

page = Page()
page.feed(text)
problems = []
for pattern in (r"url\(\s*['\"]?\s*(?!#|data:)", r"@import"):
    for m in re.finditer(pattern, text):
        problems.append("CSS reference: " + text[m.start():m.start() + 60])
problems += ["external reference: " + e for e in page.external]

sections = ["claims", "config", "training", "budget", "placement", "router", "difficulty"]
for s in sections:
    if page.ids.get(s) != "section":
        problems.append("section #%s missing" % s)

if mode == "full":
    charts = ["chart-train-loss", "chart-val-bpb", "chart-budget-web", "chart-budget-code",
              "chart-oracle-layer-budget", "chart-router-layer-budget", "chart-oracle-position-k1",
              "chart-oracle-position-k2", "chart-oracle-position-k3", "chart-router-ce", "chart-router-pbig"]
    charts += [f for f in page.figures if f and f.startswith("chart-router-position-")]
    if not any(f.startswith("chart-router-position-") for f in page.figures if f):
        problems.append("no router position heat map")
    for c in charts:
        f = page.figures.get(c)
        if f is None:
            problems.append("chart #%s missing" % c)
        elif f["svg"] != 1 or "no-chart" in f["class"]:
            problems.append("chart #%s has %d <svg> (class %s)" % (c, f["svg"], f["class"]))
    for f, info in page.figures.items():
        if info["svg"] != 1:
            problems.append("figure #%s without its chart" % f)
    for d in ("web", "code"):
        if "passage-" + d not in page.ids:
            problems.append("passage for %s missing" % d)
    spans = len(re.findall(r'<span title="pos \d+: small', text))
    if spans < 200:
        problems.append("only %d coloured tokens" % spans)
    claims = re.findall(r'<tr><td>(\w+)</td><td>.*?<span class="status s-[a-z]+">([^<]+)</span>', text)
    if len(claims) != 10:
        problems.append("%d claim rows, expected 10" % len(claims))
    # Every claim has its inputs here but 3c (routers at two budgets).
    undecided = [n for n, status in claims if status == "not run"]
    if undecided != ["3c"]:
        problems.append("claims not run: %s (expected only 3c)" % undecided)
    print("%d figures, %d <svg>, %d coloured tokens, %d ids" % (
        len(page.figures), page.tags.get("svg", 0), spans, len(page.ids)))
elif mode == "no-gnuplot":
    notes = [f for f, info in page.figures.items() if "no-chart" in info["class"]]
    if page.tags.get("svg", 0) != 0 or len(notes) < 10:
        problems.append("%d <svg>, %d chart notes" % (page.tags.get("svg", 0), len(notes)))
    if "gnuplot could not be started" not in text or "gnuplot-nox" not in text:
        problems.append("the note does not say gnuplot could not be started")
    print("%d chart notes" % len(notes))
elif mode == "trained-only":
    for command in ("duocl oracle", "duocl router train", "duocl difficulty", "duocl eval"):
        if command not in text:
            problems.append("no '%s' hint" % command)
    if text.count('class="missing"') < 4:
        problems.append("%d missing-input boxes" % text.count('class="missing"'))
    table = text[text.find('id="claims"'):text.find('id="config"')]
    if table.count(">not run<") != 10:
        problems.append("%d claims 'not run', expected 10" % table.count(">not run<"))
    for c in ("chart-train-loss", "chart-val-bpb"):
        if page.figures.get(c, {}).get("svg") != 1:
            problems.append("chart #%s missing" % c)
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY
}

echo "a tiny run"
make_shards >/dev/null 2>&1
tiny_config '"batch": 4, "steps": 40, "warmup": 4, "eval_every": 10, "eval_tokens": 256,
             "ckpt_every": 0, "seed": 3'
run="$work/run"
ck="$run/router/k1-SB/router.ckpt"
check "train" "$duocl" train "$work/tiny.json" --run-dir "$run"
mkdir -p "$work/trained"
cp "$run/config.json" "$run/log.jsonl" "$work/trained/"
check "eval" sh -c "for r in all-big all-small random:0.5 pattern:SBSB; do \"$duocl\" eval \"$run\" --routes \$r || exit 1; done"
check "oracle" "$duocl" oracle "$run" --tokens 512
check "router" "$duocl" router train "$run" --budget 1 --steps 20 --batch 4
check "eval_router" sh -c "\"$duocl\" eval \"$run\" --routes router:$ck && \"$duocl\" eval \"$run\" --routes router:$ck,exact"
check "difficulty" "$duocl" difficulty "$run" --budget 1 --passage 300

echo "the report in Chromium"
check "gnuplot_installed" sh -c "command -v gnuplot || { echo 'gnuplot is missing: install gnuplot-nox (scripts/setup.sh does)'; exit 1; }"
mkdir -p "$work/tmp"
check "report_written" env TMPDIR="$work/tmp" "$duocl" report "$run"
check "temporary_files_removed" sh -c "ls -A \"$work/tmp\"; [ -z \"\$(ls -A \"$work/tmp\")\" ]"
check "chromium_loads_it" dump_dom "$run/report.html" "$work/full.dom"
check "every_section_chart_and_passage" dom "$work/full.dom" full
check "nothing_external_in_the_file" dom "$run/report.html" full

echo "without gnuplot"
check "report_exits_0_with_a_warning" sh -c "DUOCL_GNUPLOT=$work/no-gnuplot \"$duocl\" report \"$run\" --out \"$work/plain.html\" 2>&1 | tee /dev/stderr | grep -q 'warning: gnuplot could not be started'"
check "chromium_loads_it_too" dump_dom "$work/plain.html" "$work/plain.dom"
check "a_note_in_each_chart_place" dom "$work/plain.dom" no-gnuplot

echo "a run that has only been trained"
check "report_of_a_trained_run" expect 0 "wrote" report "$work/trained"
check "chromium_loads_the_partial_report" dump_dom "$work/trained/report.html" "$work/trained.dom"
check "missing_sections_name_their_command" dom "$work/trained.dom" trained-only

echo "errors"
check "missing_run" expect 1 "not found" report "$work/none"
mkdir -p "$work/empty"
check "not_a_run" expect 1 "no config.json" report "$work/empty"
echo '{"model": {"vocab": 3}}' >"$work/empty/config.json"
check "invalid_config" expect 1 "config" report "$work/empty"
check "help" expect 0 "duocl report RUN" report --help

finish report_check
