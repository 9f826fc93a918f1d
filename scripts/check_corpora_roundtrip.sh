#!/bin/sh
# Round-trip check over the real corpora: every domain's train and validation
# text is encoded, decoded and compared byte for byte, with the byte-level
# tokenizer and with a BPE trained on the spot (vocab 4096, 1 MiB sample).
# Needs data/corpora (scripts/fetch_corpora.py); skips cleanly without it.
# usage: scripts/check_corpora_roundtrip.sh [BUILD_DIR]   (default: build)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
corpora=$root/data/corpora
if [ ! -f "$corpora/web.val.txt" ]; then
    echo "check_corpora_roundtrip: no corpora in $corpora (run scripts/fetch_corpora.py); skipped"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
duocl=$build/duocl
"$duocl" prepare --tokenizer byte --corpora "$corpora" --out "$tmp/byte" --check
"$duocl" tokenizer train --vocab 4096 --sample-mb 1 --corpora "$corpora" --out "$tmp/bpe.json"
"$duocl" prepare --tokenizer "$tmp/bpe.json" --corpora "$corpora" --out "$tmp/bpe" --check
echo "check_corpora_roundtrip: every domain and split round-trips exactly"
