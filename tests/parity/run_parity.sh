#!/bin/bash
# The PyTorch parity tests: a duocl dump program (parity_dump: the whole model
# and three training steps; router_parity_dump: routers) and its PyTorch
# reference (torch_duo.py, torch_router.py) on the same fixture, every tensor
# compared.
#   run_parity.sh NAME DUMP REFERENCE.py FIXTURE.ckpt [dump options...]
# Python is Debian's /usr/bin/python3 with python3-torch (DUOCL_PYTHON
# overrides it); without PyTorch the test fails and says so.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: run_parity.sh NAME DUMP REFERENCE.py FIXTURE.ckpt [dump options...]" >&2
    exit 2
fi
name=$1 dump=$2 reference=$3 fixture=$4
shift 4
python=${DUOCL_PYTHON:-/usr/bin/python3}
if ! "$python" -c 'import torch, numpy' 2>/dev/null; then
    echo "$name: FAIL: '$python' cannot import torch and numpy. Install Debian's" \
         "python3-torch (bash scripts/setup.sh installs it), or point DUOCL_PYTHON at a" \
         "Python that has PyTorch." >&2
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/duocl-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$dump" "$fixture" "$work/duocl.ckpt" "$@"
"$python" "$(dirname "$0")/$reference" "$fixture" "$work/duocl.ckpt"
