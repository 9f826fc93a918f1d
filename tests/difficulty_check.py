#!/usr/bin/env python3
"""Recomputes difficulty.json's statistics from oracle_tokens.bin on its own
(struct parsing of the layout written by 'duocl oracle', average ranks in
plain Python) and compares them. usage: difficulty_check.py RUN K"""
import json
import math
import struct
import sys


def read_tokens(path):
    b = open(path, "rb").read()
    assert b[:8] == b"DUOCLPTL", "magic"
    version, L, n_domains, T = struct.unpack_from("<4I", b, 8)
    at, domains = 24, {}
    for _ in range(n_domains):
        name = b[at:at + 32].split(b"\0")[0].decode()
        n_windows, tokens, searched = struct.unpack_from("<QQI", b, at + 32)
        at += 52
        def take(fmt, n):
            nonlocal at
            v = list(struct.unpack_from("<%d%s" % (n, fmt), b, at))
            at += 4 * n
            return v
        d = {"windows": take("i", n_windows * (T + 1)), "small": take("f", tokens), "big": take("f", tokens)}
        for k in range(L + 1):
            if searched >> k & 1:
                d["oracle%d" % k] = take("f", tokens)
                d["mask%d" % k] = take("I", tokens)
        domains[name] = d
    assert at == len(b), "trailing bytes"
    return L, T, domains


def ranks(x):
    order = sorted(range(len(x)), key=lambda i: x[i])
    r = [0.0] * len(x)
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for m in range(i, j + 1):
            r[order[m]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman(x, y):
    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy)


def top(x, n):
    return sorted(range(len(x)), key=lambda i: (-x[i], i))[:n]


def main():
    run, k = sys.argv[1], int(sys.argv[2])
    L, T, domains = read_tokens(run + "/oracle_tokens.bin")
    report = json.load(open(run + "/difficulty.json"))
    assert report["budget"] == k and report["layers"] == L and report["ctx"] == T
    bad = 0
    for name, d in domains.items():
        got = report["domains"][name]
        keep = [i for i in range(len(d["small"])) if i % T >= report["skip_first"]]
        small = [d["small"][i] for i in keep]
        big = [d["big"][i] for i in keep]
        oracle = [d["oracle%d" % k][i] for i in keep]
        # float32 subtraction, as the C code does
        benefit = [struct.unpack("<f", struct.pack("<f", s - o))[0] for s, o in zip(small, oracle)]
        n = len(small)
        ntop = max(1, (n + 9) // 10)
        want = {
            ("mean", "loss_small"): sum(small) / n,
            ("mean", "loss_oracle"): sum(oracle) / n,
            ("mean", "benefit"): sum(benefit) / n,
            ("spearman", "loss_small_benefit"): spearman(small, benefit),
            ("spearman", "loss_big_benefit"): spearman(big, benefit),
            ("top10_overlap", "shared"): len(set(top(small, ntop)) & set(top(benefit, ntop))),
        }
        for (a, b), w in want.items():
            g = got[a][b]
            ok = abs(g - w) <= 1e-6 * (1 + abs(w))
            bad += not ok
            print("  %-5s %s %s.%s: json %.9f, python %.9f" % ("ok" if ok else "FAIL", name, a, b, g, w))
        first = got["top_benefit"][0]["index"] if got["top_benefit"] else None
        i = keep[top(benefit, 1)[0]]
        ok = first is None or first == i
        bad += not ok
        print("  %-5s %s top_benefit[0] is token %s" % ("ok" if ok else "FAIL", name, first))
        target = d["windows"][(i // T) * (T + 1) + i % T + 1]
        ok = first is None or got["top_benefit"][0]["token_id"] == target
        bad += not ok
        print("  %-5s %s top_benefit[0] predicts id %d" % ("ok" if ok else "FAIL", name, target))
    sys.exit(1 if bad else 0)


main()
