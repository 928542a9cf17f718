#!/usr/bin/env bash
# benchmarks/gpu_check.sh OUT_DIR: every check that needs a CUDA GPU, in one command (written to fit in 8 minutes on an
# H100/H200; not yet run on a GPU, so that time is a target, not a measurement).
#
# Runs, on a machine with torch, triton, transformers and peft (no hydra, faiss, open_clip or whisper needed):
#   1. the `gpu`-marked tests of tests/kernels (compiled Triton kernels vs the fp64 reference), junit XML;
#   2. benchmarks/bench_lora_linear.py at d=4096, r=16, 8192 tokens, bf16: forward, backward and full step of the
#      fused kernel against PEFT and against cuBLAS + addmm, and the end-to-end LoRA training step (~1.1B Llama);
# writing OUT_DIR/lora_linear.csv (the rows, with the GPU named), OUT_DIR/gpu_tests.xml and one log per part.
# Copy lora_linear.csv's rows into benchmarks/results/lora_linear.csv and the ratios into the README.
#
# Nothing is installed from the network. The package is put on PYTHONPATH by symlink (ava/, kernels/ as
# ava_kernels), not installed. pytest, when missing, comes from wheels carried in .gpu-wheels/ (ignored by git):
#   python -m pip download -d .gpu-wheels --only-binary=:all: --python-version 3.12 pytest
# then run with that folder carried along (the device tool's carry=[".gpu-wheels"]).
# Exit status: 0 all passed; 1 a part failed (see its log); 2 no CUDA GPU here (nothing is run).
# Not covered: faiss-gpu (the dedup GPU path): faiss-gpu-cu12's wheel is larger than what travels to the machine.
set -uo pipefail

out=${1:?usage: benchmarks/gpu_check.sh OUT_DIR}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=${PYTHON:-python3}
mkdir -p "$out"
out=$(cd "$out" && pwd)

if ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>"$out/torch.log"; then
    echo "gpu_check: no CUDA GPU visible to $py (torch.cuda.is_available() is false or torch is missing;" \
         "see $out/torch.log): nothing run. This script is for a GPU machine." >&2
    exit 2
fi

site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
ln -s "$root/ava" "$site/ava"
ln -s "$root/kernels" "$site/ava_kernels"
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"

if ! "$py" -c 'import pytest' 2>/dev/null; then
    if [ -d "$root/.gpu-wheels" ]; then
        "$py" -m pip install --quiet --no-index --find-links "$root/.gpu-wheels" --target "$site" pytest
    else
        echo "gpu_check: pytest is missing and $root/.gpu-wheels is absent (see this script's header)" >&2
        exit 1
    fi
fi

status=0
"$py" -c 'import torch; print("GPU:", torch.cuda.get_device_name(), "| torch", torch.__version__)' | tee "$out/gpu.log"

echo "== gpu tests"
(cd "$root" && "$py" -m pytest -q -p no:cacheprovider -m gpu tests/kernels/test_lora_linear.py \
    --junitxml="$out/gpu_tests.xml") 2>&1 | tee "$out/gpu_tests.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "== LoRA linear microbenchmark + end-to-end step"
"$py" "$root/benchmarks/bench_lora_linear.py" --d 4096 --tokens 8192 --r 16 --csv "$out/lora_linear.csv" \
    2>&1 | tee "$out/bench_lora_linear.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "gpu_check: done (status $status); results in $out"
exit "$status"
