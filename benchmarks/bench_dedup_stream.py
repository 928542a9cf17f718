"""python benchmarks/bench_dedup_stream.py [--n 200000] [--d 512]: the dedup stage from Parquet shards, embeddings
in RAM (baseline) vs spilled to a disk-backed memmap (``method.embeddings_in_memory_max_gb=0``).

The data are bench_dedup.py's synthetic CLIP-like embeddings with planted near-duplicates, written as verbalizer
shards of ``--shard-rows`` rows. Each mode runs ``python -m ava.dedup``'s code (``ava.dedup.run.dedup``) in a fresh
process; a thread samples the process's anonymous resident memory (RssAnon: heap, not page cache) every 10 ms.
Reported: wall time, peak RssAnon, peak RSS (VmHWM, which counts the memmap's cached pages too), whether the
clusters equal the baseline's, and the ratios to the baseline. Rows are appended to
benchmarks/results/dedup_stream.csv.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from bench_dedup import THRESHOLD, make_data
from machine import append_csv, describe

RESULTS = Path(__file__).parent / "results" / "dedup_stream.csv"
MODES = {"in-memory": [], "spilled": ["method.embeddings_in_memory_max_gb=0"]}


def write_shards(x: np.ndarray, folder: Path, shard_rows: int) -> None:
    """``folder/verbalized/shard-*.parquet`` with the columns dedup reads, one row group a shard."""
    out = folder / "verbalized"
    out.mkdir(parents=True)
    for k, start in enumerate(range(0, len(x), shard_rows)):
        part = x[start : start + shard_rows]
        offsets = pa.array(np.arange(len(part) + 1, dtype=np.int32) * x.shape[1])
        ids = [f"ad{start + i}" for i in range(len(part))]
        table = pa.table({
            "ad_id": ids,
            "media_path": [f"media/{i}.jpg" for i in ids],
            "status": ["ok"] * len(part),
            "embedding": pa.ListArray.from_arrays(offsets, pa.array(part.ravel())),
        })
        pq.write_table(table, out / f"shard-{k:05d}.parquet")


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def run_mode(src: str, out: str, overrides: list[str]) -> dict:
    """One dedup run in this (fresh) process: wall time, peak RssAnon / VmHWM in MiB, cluster ids."""
    from hydra import compose, initialize_config_module

    from ava.dedup.run import dedup

    with initialize_config_module("ava_conf", version_base="1.3"):
        cfg = compose("dedup", overrides=[f"input={src}", f"output_dir={out}", f"threshold={THRESHOLD}", *overrides])
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], _rss_kb("RssAnon"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    summary = dedup(cfg)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    labels = pq.read_table(Path(out) / "dedup.parquet", columns=["cluster_id"])["cluster_id"].to_numpy()
    return {"wall_s": wall, "anon_mb": peak[0] / 1024, "hwm_mb": _rss_kb("VmHWM") / 1024, "labels": labels,
            "index": summary.index}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--shard-rows", type=int, default=4096)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    machine = describe()
    print(f"machine {machine}")
    x, _ = make_data(args.n, args.d)
    rows, base = [], None
    with tempfile.TemporaryDirectory() as tmp:
        write_shards(x, Path(tmp) / "in", args.shard_rows)
        del x
        for mode, overrides in MODES.items():
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                res = pool.submit(run_mode, str(Path(tmp) / "in"), str(Path(tmp) / mode), overrides).result()
            base = base or res
            row = {
                "timestamp": datetime.now(UTC).isoformat(timespec="seconds"), **machine, "n": args.n, "d": args.d,
                "mode": mode, "index": res["index"], "wall_s": round(res["wall_s"], 2),
                "peak_anon_rss_mb": round(res["anon_mb"], 1), "peak_rss_mb": round(res["hwm_mb"], 1),
                "same_clusters_as_baseline": bool(np.array_equal(res["labels"], base["labels"])),
                "wall_vs_baseline": round(res["wall_s"] / base["wall_s"], 2),
                "anon_rss_vs_baseline": round(res["anon_mb"] / base["anon_mb"], 2),
            }
            print(row)
            rows.append(row)
    append_csv(args.out, rows)


if __name__ == "__main__":
    main()
