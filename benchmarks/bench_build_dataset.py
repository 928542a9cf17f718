"""python benchmarks/bench_build_dataset.py [--sizes 500 2000 8000] [--out CSV]: throughput and peak memory of
python -m ava.build_dataset.

Synthetic ads (ava/build_dataset/synthetic.py) at a few sizes; each size runs the real command in its own
process (so peak RSS is per run). Baseline in the same run: one pass of ava.manifest.iter_manifest over the
same file (parsing only). Prints ratios and appends rows to benchmarks/results/build_dataset.csv. The
run with transsuasion tasks (MiniLM on CPU) is made only at sizes up to 500.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import append_csv, describe  # benchmarks/machine.py: this script's folder is on sys.path

from ava.build_dataset.synthetic import random_ads, write_manifest, write_verbalized
from ava.manifest import iter_manifest

ROOT = Path(__file__).resolve().parents[1]

SIZES = (500, 2000, 8000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "build_dataset.csv")
    args = ap.parse_args()
    machine = describe()
    print(f"machine {machine}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            d = Path(tmp) / str(n)
            d.mkdir()
            ads = random_ads(n, seed=0, pages=max(1, n // 25))
            write_manifest(d / "ads.jsonl", ads)
            write_verbalized(d / "verb", [{"ad_id": a["id"], "media_index": 0, "verbalization": "A photo"}
                                          for a in ads])
            t = time.perf_counter()
            assert sum(1 for _ in iter_manifest(d / "ads.jsonl")) == n
            baseline = time.perf_counter() - t
            for tasks, extra in (("no-TS", ["dataset_tasks.generators.ts.enabled=false"]), ("all", [])):
                if tasks == "all" and n > 500:
                    continue  # MiniLM on CPU: keep the run short
                subprocess.run([sys.executable, "-m", "ava.build_dataset", f"manifest={d / 'ads.jsonl'}",
                                f"verbalized={d / 'verb'}", f"output_dir={d / tasks}", *extra],
                               check=True, capture_output=True)
                s = json.loads((d / tasks / "build_summary.json").read_text())
                row = {**machine, "ads": n, "tasks": tasks,
                       "seconds": s["seconds"], "ads_per_s": round(n / s["seconds"], 1),
                       "baseline_manifest_s": round(baseline, 4),
                       "ratio_to_baseline": round(s["seconds"] / baseline, 1),
                       "samples": sum(s["samples"].values()), "peak_rss_mb": s["peak_rss_mb"]}
                rows.append(row)
                print(row, flush=True)
    append_csv(args.out, rows)


if __name__ == "__main__":
    main()
