#!/usr/bin/python3
"""`duocl bench` on several devices (or settings of one), interleaved section by
section, then `duocl bench compare` on the results.

    /usr/bin/python3 bench/interleave_devices.py [--duocl build/duocl] [--out-dir DIR]
        [--repeat N] [--sections gemm,ops,train,eval,oracle,startup]
        --run LABEL VAR=VALUE ... --run LABEL VAR=VALUE ...

Each --run is a label and the environment it runs in, for example
    --run "PoCL 1 thread" POCL_MAX_PTHREAD_COUNT=1 --run "PoCL 2 threads" POCL_MAX_PTHREAD_COUNT=2
    --run nvidia DUOCL_DEVICE=nvidia --run pocl DUOCL_DEVICE=pocl

Running one whole `duocl bench` after the other puts minutes between the runs,
and this machine's speed drifts over minutes (other jobs, two VM speeds), so the
runs take turns per section instead: gemm A, gemm B, ops B, ops A, train A, ...
(the order flips each section so a steady drift does not favour one run). Each
run's sections are merged into DIR/LABEL.json (one `duocl bench --json` file),
and `duocl bench compare` prints them side by side.
"""
import argparse
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duocl", default=os.path.join(ROOT, "build", "duocl"))
    ap.add_argument("--config", default=os.path.join(ROOT, "configs", "bench.json"))
    ap.add_argument("--out-dir", default="bench-results")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sections", default="gemm,ops,train,eval,oracle,startup")
    ap.add_argument("--run", nargs="+", action="append", required=True, metavar="LABEL VAR=VALUE",
                    help="a label and the environment of one run (repeat --run for each)")
    args = ap.parse_args()
    runs = []
    for spec in args.run:
        env = dict(os.environ)
        for item in spec[1:]:
            if "=" not in item:
                sys.exit("interleave_devices.py: %r is not VAR=VALUE" % item)
            key, value = item.split("=", 1)
            env[key] = value
        runs.append((spec[0], env))
    os.makedirs(args.out_dir, exist_ok=True)
    merged = {label: None for label, _ in runs}
    for i, section in enumerate(s for s in args.sections.split(",") if s):
        order = runs if i % 2 == 0 else runs[::-1]
        for label, env in order:
            print("%s: %s ..." % (section, label), file=sys.stderr, flush=True)
            cmd = [args.duocl, "bench", "--only", section, "--config", args.config, "--repeat",
                   str(args.repeat), "--label", label, "--json", "-"]
            out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
            if out.returncode != 0:
                sys.exit("interleave_devices.py: %s failed:\n%s" % (" ".join(cmd), out.stderr))
            sys.stderr.write(out.stderr)
            report = json.loads(out.stdout)
            if merged[label] is None:
                merged[label] = report
            else:
                merged[label]["cases"] += report["cases"]
                for key, value in report["derived"].items():
                    if value is not None:
                        merged[label]["derived"][key] = value
    paths = []
    for label, _ in runs:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-") or "run"
        path = os.path.join(args.out_dir, name + ".json")
        with open(path, "w") as f:
            json.dump(merged[label], f, indent=1)
        paths.append(path)
    return subprocess.run([args.duocl, "bench", "compare"] + paths).returncode


if __name__ == "__main__":
    sys.exit(main())
