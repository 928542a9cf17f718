"""benchmarks/gpu_check.sh: on a machine without CUDA it runs nothing, says why and exits 2."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present: the script would run for real")
def test_refuses_without_a_gpu(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable}
    out = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out")], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 2, out.stderr
    assert "no CUDA GPU" in out.stderr
    assert not (tmp_path / "out" / "lora_linear.csv").exists()


def test_needs_an_output_folder():
    out = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "usage: benchmarks/gpu_check.sh OUT_DIR" in out.stderr
