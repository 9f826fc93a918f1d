#!/usr/bin/env python3
"""usage: compare_runs.py RUN_A RUN_B

Compares two study run folders: every JSON/JSONL result with timing fields
dropped, and every binary file (checkpoints, oracle_tokens.bin) byte for byte."""
import json, os, sys, hashlib
TIMING = {'seconds', 'tokens_per_s', 'elapsed_s', 'written', 'time', 'train_tokens_per_s'}
a, b = sys.argv[1].rstrip('/'), sys.argv[2].rstrip('/')
def strip(x, run):
    """Drops timing fields and spells the run folder as RUN."""
    if isinstance(x, dict):
        return {k.replace(run, "RUN"): strip(v, run) for k, v in x.items() if k not in TIMING}
    if isinstance(x, list):
        return [strip(v, run) for v in x]
    if isinstance(x, str):
        return x.replace(run, 'RUN')
    return x
bad = 0; n = 0
for root, _, files in os.walk(a):
    for f in sorted(files):
        pa = os.path.join(root, f); rel = os.path.relpath(pa, a); pb = os.path.join(b, rel)
        if f.endswith('.html') or rel.startswith('study/'):
            continue
        n += 1
        if not os.path.exists(pb):
            print('MISSING', rel); bad += 1; continue
        if f.endswith('.json'):
            same = strip(json.load(open(pa)), a) == strip(json.load(open(pb)), b)
        elif f.endswith('.jsonl'):
            la = [strip(json.loads(l), a) for l in open(pa)]; lb = [strip(json.loads(l), b) for l in open(pb)]
            same = la == lb
        else:
            same = open(pa, 'rb').read() == open(pb, 'rb').read()
        print('same' if same else 'DIFFERENT', rel)
        bad += not same
print('%d files compared, %d different' % (n, bad))
sys.exit(1 if bad else 0)
