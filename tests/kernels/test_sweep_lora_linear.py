"""benchmarks/sweep_lora_linear.py: a Hydra multirun over LoRA linear shapes appends its rows to one CSV;
without a GPU it refuses before timing anything."""

import csv
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPT = BENCHMARKS / "sweep_lora_linear.py"


def _append_many(path: str, worker: int, start) -> None:
    import sweep_lora_linear

    start.wait()
    # 1,000 rows (~420 kB) a call: more than one write() each, so unlocked appends would interleave mid-row.
    for i in range(5):
        rows = [{"kernel": f"w{worker}", "provider": str(i), "gpu": "x" * 400}] * 1000
        sweep_lora_linear.append_locked(rows, Path(path))


def test_appends_from_parallel_processes_keep_one_header_and_whole_rows(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the forked writers import sweep_lora_linear from there
    path = tmp_path / "rows.csv"
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(4)
    procs = [ctx.Process(target=_append_many, args=(str(path), w, start)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    lines = path.read_text().splitlines()
    assert lines[0] == "kernel,provider,gpu" and lines.count(lines[0]) == 1
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 4 * 5 * 1000 and all(r["gpu"] == "x" * 400 and None not in r for r in rows)
    assert {r["kernel"] for r in rows} == {"w0", "w1", "w2", "w3"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_sweep_refuses_on_cpu_without_writing_rows(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "-m", "d=64,96", "tokens=128", "r=8",
                          f"csv={tmp_path / 'x.csv'}", f"output_dir={tmp_path / 'out'}"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "no CUDA GPU" in out.stderr, out.stderr
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.gpu
def test_sweep_appends_every_shape_to_one_csv(tmp_path):
    path = tmp_path / "lora_linear.csv"
    out = subprocess.run([sys.executable, str(SCRIPT), "-m", "d=256,512", "tokens=512", "r=8,16",
                          "modes=[forward,full]", f"csv={path}", f"output_dir={tmp_path / 'out'}"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(path.open()))
    shapes = {(r["d"], r["tokens"], r["r"]) for r in rows}
    assert shapes == {(d, "512", r) for d in ("256", "512") for r in ("8", "16")}
    assert len(rows) == 4 * 3 * 2  # shapes x providers x modes
    assert all(float(r["ms"]) > 0 and r["gpu"] == torch.cuda.get_device_name() for r in rows)
    (sweep,) = (tmp_path / "out" / "multirun").iterdir()
    assert (sweep / "sweep_summary.md").read_text().count("| ok |") == 4
