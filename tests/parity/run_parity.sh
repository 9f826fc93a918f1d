#!/bin/bash
# The torch_parity test: duocl (parity_dump) and the PyTorch reference
# (torch_duo.py) on the same fixture, every tensor compared.
#   run_parity.sh PARITY_DUMP FIXTURE.ckpt
# Python is Debian's /usr/bin/python3 with python3-torch (DUOCL_PYTHON
# overrides it); without PyTorch the test fails and says so.
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: run_parity.sh PARITY_DUMP FIXTURE.ckpt" >&2
    exit 2
fi
python=${DUOCL_PYTHON:-/usr/bin/python3}
if ! "$python" -c 'import torch, numpy' 2>/dev/null; then
    echo "torch_parity: FAIL: '$python' cannot import torch and numpy. Install Debian's" \
         "python3-torch (bash scripts/setup.sh installs it), or point DUOCL_PYTHON at a" \
         "Python that has PyTorch." >&2
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/duocl-parity.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$1" "$2" "$work/duocl.ckpt"
"$python" "$(dirname "$0")/torch_duo.py" "$2" "$work/duocl.ckpt"
