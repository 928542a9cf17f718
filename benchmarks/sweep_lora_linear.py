"""python benchmarks/sweep_lora_linear.py -m d=2048,4096 tokens=2048,8192 r=8,16,64: the LoRA bench swept.

A Hydra entry (benchmarks/conf/bench_lora_linear.yaml) over the shapes of benchmarks/bench_lora_linear.py: each
job times one (d, tokens, r) with that script's ``bench_linear`` (PEFT, the unfused cuBLAS baseline and the fused kernel
in the same job), prints the ratios and appends its rows to one CSV under a file lock, so jobs running side by
side (``hydra/launcher=slurm``) add whole rows. A shape that fails (e.g. out of memory) is recorded in the
sweep summary and the other shapes go on. Needs a CUDA GPU: without one it exits with status 2.
"""

from __future__ import annotations

import fcntl
import sys
from pathlib import Path

import bench_lora_linear as bench  # this script's folder is on sys.path
import hydra
from machine import append_csv
from omegaconf import DictConfig

from ava.sweep import run_job


def append_locked(rows: list[dict], path: Path) -> None:
    """``machine.append_csv`` while holding an exclusive lock on ``PATH.lock`` (one header, whole rows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        append_csv(path, rows)


def bench_shape(cfg: DictConfig) -> dict:
    import torch

    if not torch.cuda.is_available():
        print(bench.NO_GPU, file=sys.stderr)
        raise SystemExit(2)  # not a job failure: no shape can run here, so the sweep stops
    argv = ["--providers", *cfg.providers, "--modes", *cfg.modes]
    if cfg.peak_tflops is not None and cfg.peak_tbps is not None:
        argv += ["--peak-tflops", str(cfg.peak_tflops), "--peak-tbps", str(cfg.peak_tbps)]
    args = bench.parse_args(argv)
    rows = bench.bench_linear(int(cfg.d), int(cfg.tokens), int(cfg.r), args, bench.run_meta())
    bench.print_table(rows)
    path = Path(cfg.csv) if cfg.csv is not None else bench.RESULTS
    append_locked(rows, path)
    print(f"appended {len(rows)} rows to {path}")
    return {"rows": len(rows)}


@hydra.main(config_path="conf", config_name="bench_lora_linear", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_job(bench_shape, cfg, objective=lambda result: None)


if __name__ == "__main__":
    main()
