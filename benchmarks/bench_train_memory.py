"""python benchmarks/bench_train_memory.py [--samples 10000 100000 400000] [--steps 3] [--out CSV]: resident
memory of python -m ava.train against the number of samples.

For each size it writes a JSONL training set in the README's contract (short TAP-shaped samples, ~600 bytes a
line, like the 400k-sample set of issue #27) and runs ``python -m ava.train model=tiny trainer.max_steps=STEPS``
on it in a fresh process with a fresh token cache, then reads ``peak_mem_mb`` (the training process's peak RSS)
from ``train_summary.json`` and the tokenising workers' peak RSS (``RUSAGE_CHILDREN``). Rows go to
benchmarks/results/train_memory.csv with the machine and the load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from machine import append_csv, describe  # this script's folder is on sys.path

RESULTS = Path(__file__).parent / "results" / "train_memory.csv"
WORDS = "people shop local fresh bread sale today energy bills solar roof vote city park music night".split()


def write_split(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w") as fh:
        for i in range(n):
            ad = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 90)))
            gender = rng.choice(["male", "female"])
            fh.write(json.dumps({"id": f"s{i}", "task": rng.choice(["TAP-G", "TAP-A"]), "messages": [
                {"role": "system", "content": "You predict who engages with an advertisement."},
                {"role": "user", "content": f"Title: {ad[:40]}\nContent: {ad}\n\nWhich gender saw it most?"},
                {"role": "assistant", "content": f"Mostly {gender}."}], "target": {"gender": gender},
                "meta": {"ad_id": str(i)}}) + "\n")


def run(n: int, steps: int, work: Path) -> dict:
    data = work / f"data{n}"
    data.mkdir()
    write_split(data / "train.jsonl", n, 0)
    write_split(data / "val.jsonl", max(8, n // 100), 1)
    out = work / f"out{n}"
    env = {**os.environ, "AVA_CACHE": str(work / f"cache{n}")}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ava.train", f"dataset={data}", f"output_dir={out}", "model=tiny",
                           f"trainer.max_steps={steps}", "trainer.save_steps=1000", "trainer.eval_steps=0",
                           "trainer.batch_size=8", "device=cpu"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    summary = json.loads((out / "train_summary.json").read_text())
    return {"samples": n, "jsonl_mb": round((data / "train.jsonl").stat().st_size / 2**20, 1),
            "peak_rss_mb": round(summary["peak_mem_mb"], 1), "wall_s": round(wall, 1),
            "tokens": summary["train"]["tokens"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, nargs="+", default=[10_000, 100_000, 400_000])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_train_memory.") as tmp:
        for n in args.samples:  # a row is appended as soon as it is measured (a 400k run takes long)
            load1 = os.getloadavg()[0]
            got = run(n, args.steps, Path(tmp))
            children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            row = {"utc": datetime.now(UTC).isoformat(timespec="seconds"), **describe("torch"),
                   "load1": round(load1, 2), **got, "steps": args.steps,
                   "max_child_rss_mb_so_far": round(children, 1)}
            append_csv(args.out, [row])
            print(row, flush=True)


if __name__ == "__main__":
    main()
