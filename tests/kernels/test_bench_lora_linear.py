"""benchmarks/bench_lora_linear.py: refuses without a GPU; its three providers compute one LoRA linear."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_lora_linear.py"


def _bench(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # as when run as a script: it imports benchmarks/machine.py
    spec = importlib.util.spec_from_file_location("bench_lora_linear", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_refuses_on_cpu_without_writing_numbers(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "--d", "64", "--csv", str(tmp_path / "x.csv")],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "no CUDA GPU" in out.stderr
    assert not (tmp_path / "x.csv").exists()


def test_providers_agree_on_output_and_grads(monkeypatch):
    bench = _bench(monkeypatch)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    providers = bench.make_providers(96, 8, torch.float32, device)
    x = torch.randn(70, 96, device=device)
    dy = torch.randn(70, 96, device=device)
    results = {}
    for name, (f, params) in providers.items():
        xl = x.clone().requires_grad_()
        f(xl).backward(dy)
        results[name] = [f(x).detach(), xl.grad, *(p.grad.clone() for p in params)]
        for p in params:
            p.grad = None
    for name in ("torch-unfused", "fused"):
        for got, want in zip(results[name], results["peft"], strict=True):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_flop_and_byte_counts_by_hand(monkeypatch):
    bench = _bench(monkeypatch)
    # d=2, tokens=3, r=1: forward 2·3·2·2 + 2·3·2·1 + 2·3·1·2 = 24 + 12 + 12; bytes 2·(6 + 4 + 6)
    assert bench.flops_and_bytes(2, 3, 1, "forward") == (48, 32)
    fwd, bwd, full = (bench.flops_and_bytes(4096, 8192, 16, m) for m in ("forward", "backward", "full"))
    assert full == (fwd[0] + bwd[0], fwd[1] + bwd[1])
