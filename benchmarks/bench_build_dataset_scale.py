"""python benchmarks/bench_build_dataset_scale.py [--one 1000 4000 16000 64000] [--many 100000] [--ts-max N]:
wall time and peak memory of python -m ava.build_dataset as one advertiser grows, and on many advertisers.

Synthetic ads (ava/build_dataset/synthetic.py: 30 words drawn from 16, so most pairs of one advertiser are
similar: the worst case for transsuasion's neighbour lists). ``--one``: every ad from one advertiser
(``pages=1``), the case that was quadratic; ``--many``: ``pages = n / 25``. Each run is the real command in
its own process (peak RSS is per run), without transsuasion (``no-TS``: TC pairs still built) and with all
tasks. ``all-minilm``: the configured MiniLM embedder on CPU (up to ``--minilm-max`` ads: on the loaded 2-core
VM it embeds ~10 ads/s, so 64k ads would take hours of embedding alone, a cost linear in the ads);
``all-hashed``: every task, with :class:`HashedWordEmbedder` (this file, benchmarks only: a bag of seeded
random word vectors, ~10^5 texts/s) in MiniLM's place, which times what this benchmark is about: neighbour
search, pair selection and edit distances as one advertiser grows. Appends rows to
benchmarks/results/build_dataset_scale.csv; the ``note`` column says when the VM was loaded by other work.

Peak RSS and CPU seconds (user + system, ``cpu_s``: on a VM shared with other work it tracks the work done
better than wall time) are the child's own, from GNU time (``%M %U %S``, what wait4 returns for the process
``time`` forked): the summary's ``peak_rss_mb`` (getrusage of the command itself) also counts this script's
memory, since Linux carries the parent's high-water mark across the vfork + exec that starts the command.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from machine import append_csv, describe  # benchmarks/machine.py: this script's folder is on sys.path

from ava.build_dataset.synthetic import random_ads, write_manifest

ROOT = Path(__file__).resolve().parents[1]


class HashedWordEmbedder:
    """Benchmark stand-in for MiniLM: the L2-normalised sum of one seeded random vector per word."""

    def __init__(self, dim: int = 384, **_: object) -> None:
        self.dim, self.vectors = dim, {}

    def _word(self, w: str) -> np.ndarray:
        if w not in self.vectors:
            self.vectors[w] = np.random.default_rng(zlib.crc32(w.encode())).standard_normal(self.dim)
        return self.vectors[w]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i] += self._word(w)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def run(manifest: Path, out: Path, extra: list[str]) -> tuple[dict, float, float]:
    """The command's summary, its peak RSS in MiB and its CPU seconds."""
    proc = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", sys.executable, "-m", "ava.build_dataset",
                           f"manifest={manifest}", "verbalized=null", f"output_dir={out}", *extra],
                          check=True, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "benchmarks")})
    rss, user, system = proc.stderr.split()[-3:]
    return json.loads((out / "build_summary.json").read_text()), int(rss) / 1024, float(user) + float(system)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", type=int, nargs="*", default=[1000, 4000, 16000, 64000])
    ap.add_argument("--many", type=int, nargs="*", default=[100000])
    ap.add_argument("--no-ts-max", type=int, default=10**9, help="largest size run without transsuasion")
    ap.add_argument("--hashed-only", action="store_true", help="only the all-hashed runs")
    ap.add_argument("--minilm-max", type=int, default=1000, help="largest size run with the MiniLM embedder")
    ap.add_argument("--note", default=f"load {os.getloadavg()[0]:.1f} at start (2 cores shared with other work)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "build_dataset_scale.csv")
    args = ap.parse_args()
    machine = describe("faiss", "rapidfuzz")
    print(f"machine {machine}", flush=True)
    cases = [(n, 1) for n in args.one] + [(n, max(1, n // 25)) for n in args.many]
    with tempfile.TemporaryDirectory() as tmp:
        for n, pages in cases:
            d = Path(tmp) / f"{n}-{pages}"
            d.mkdir()
            write_manifest(d / "ads.jsonl", random_ads(n, seed=0, pages=pages))
            hashed = "text_embedder._target_=bench_build_dataset_scale.HashedWordEmbedder"
            for tasks, extra in (("no-TS", ["dataset_tasks.generators.ts.enabled=false"]),
                                 ("all-hashed", [hashed]), ("all-minilm", [])):
                if ((tasks == "all-minilm" and n > args.minilm_max) or (tasks == "no-TS" and n > args.no_ts_max)
                        or (args.hashed_only and tasks != "all-hashed")):
                    continue
                s, rss, cpu = run(d / "ads.jsonl", d / tasks, extra)
                per_task = s["samples_per_task"]
                row = {**machine, "ads": n, "advertisers": pages, "tasks": tasks, "seconds": s["seconds"],
                       "cpu_s": round(cpu, 1),
                       "ads_per_s": round(n / s["seconds"], 1), "peak_rss_mb": round(rss, 1),
                       "samples": sum(s["samples"].values()),
                       "pair_samples": sum(sum(v.values()) for t, v in per_task.items() if t[:2] in ("TS", "TC")),
                       "note": args.note}
                append_csv(args.out, [row])  # row by row: a long run that is stopped keeps what it measured
                print(row, flush=True)


if __name__ == "__main__":
    main()
