#!/bin/bash
# The torch_router_parity test: duocl's routers (router_parity_dump: soft
# forward, router backward, router training steps, alphabets SB and KSB) and
# the PyTorch reference (torch_router.py) on the training parity fixture,
# every tensor compared.
#   run_router_parity.sh ROUTER_PARITY_DUMP FIXTURE.ckpt [dump options...]
# Python is Debian's /usr/bin/python3 with python3-torch (DUOCL_PYTHON
# overrides it); without PyTorch the test fails and says so.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: run_router_parity.sh ROUTER_PARITY_DUMP FIXTURE.ckpt [dump options...]" >&2
    exit 2
fi
python=${DUOCL_PYTHON:-/usr/bin/python3}
if ! "$python" -c 'import torch, numpy' 2>/dev/null; then
    echo "torch_router_parity: FAIL: '$python' cannot import torch and numpy. Install Debian's" \
         "python3-torch (bash scripts/setup.sh installs it), or point DUOCL_PYTHON at a" \
         "Python that has PyTorch." >&2
    exit 1
fi
dump=$1 fixture=$2
shift 2
work=$(mktemp -d "${TMPDIR:-/tmp}/duocl-router-parity.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$dump" "$fixture" "$work/duocl.ckpt" "$@"
"$python" "$(dirname "$0")/torch_router.py" "$fixture" "$work/duocl.ckpt"
