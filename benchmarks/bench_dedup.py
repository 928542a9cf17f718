"""python benchmarks/bench_dedup.py [--n 10000 100000] [--d 512]: dedup index choices vs NumPy brute force.

Synthetic CLIP-like data with planted near-duplicates: items drawn around 100 topic centres (unrelated items
of a topic have cosine ~0.5, like CLIP embeddings of one product category), and 20% of items in planted groups
of 2-5: an original plus noisy copies at cosine 0.93-0.995 to it (copies of one original may sit below the
threshold to each other; the group is still one connected component). Threshold 0.9.

For each N, every index choice runs the real dedup code path (``ava.dedup.methods.Embedding.cluster``: build,
tune nprobe for 0.99 recall on a sample, blocked range search, union-find) in a fresh process, so its peak
RSS is its own; the baseline is a blocked NumPy matrix product + SciPy connected components. Reported: wall
time, peak RSS, planted-pair recall/precision (pairs put in one cluster vs pairs planted in one group), the
run's own recall estimate, and speed-up over the baseline. Rows are appended to benchmarks/results/dedup.csv.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from machine import append_csv, describe  # this script's folder is on sys.path

RESULTS = Path(__file__).parent / "results" / "dedup.csv"
THRESHOLD = 0.9
TOPICS = 100
DUP_FRACTION = 0.2


def make_data(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(unit-norm float32 (n, d) embeddings, planted group id per row; rows not planted get their own id)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((TOPICS, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    sizes = []
    planted = 0
    while planted < DUP_FRACTION * n:
        sizes.append(int(rng.integers(2, 6)))
        planted += sizes[-1]
    originals = n - planted + len(sizes)
    base = centres[rng.integers(0, TOPICS, originals)] + rng.standard_normal((originals, d)).astype(
        np.float32
    ) / np.sqrt(d)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    group = np.arange(originals)
    copy_of = np.repeat(np.arange(len(sizes)), np.array(sizes) - 1)  # originals 0..len(sizes)-1 get copies
    sigma = rng.uniform(0.1, 0.4, copy_of.size).astype(np.float32)[:, None]
    copies = base[copy_of] + sigma * rng.standard_normal((copy_of.size, d)).astype(np.float32) / np.sqrt(d)
    copies /= np.linalg.norm(copies, axis=1, keepdims=True)
    x = np.concatenate([base, copies])
    labels = np.concatenate([group, copy_of])
    order = rng.permutation(n)
    return np.ascontiguousarray(x[order]), labels[order]


def pair_scores(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(recall, precision) of same-cluster pairs against same-group pairs, by pair counting."""

    def pairs(counts: np.ndarray) -> float:
        return float((counts * (counts - 1) // 2).sum())

    _, both = np.unique(pred.astype(np.int64) * (truth.max() + 1) + truth, return_counts=True)
    tp = pairs(both)
    true_pairs = pairs(np.bincount(truth))
    pred_pairs = pairs(np.bincount(pred))
    return tp / true_pairs if true_pairs else 1.0, tp / pred_pairs if pred_pairs else 1.0


def brute_force(x: np.ndarray, threshold: float) -> np.ndarray:
    """Baseline: blocked NumPy X @ X.T, threshold, SciPy connected components."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(x)
    step = max(1, 256 * 2**20 // (4 * n))
    rows, cols = [], []
    for s in range(0, n, step):
        i, j = np.nonzero(x[s : s + step] @ x.T >= threshold)
        rows.append(i + s)
        cols.append(j)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def run_one(path: str, method: str, factory: str) -> dict:
    """One measurement in a fresh process: returns wall time, peak RSS, labels and the recall estimate."""
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate
    from scipy.sparse.csgraph import connected_components  # noqa: F401  (import before the clock starts)

    from ava.dedup.run import Summary
    from ava.runtime import peak_rss_mb

    x = np.load(path)
    with initialize_config_module("ava_conf", version_base="1.3"):
        cfg = compose(
            "dedup",
            overrides=[
                "input=x",
                "output_dir=x",
                f"threshold={THRESHOLD}",
                f"dedup_index.factory='{factory}'",
            ],
        )
    start = time.perf_counter()
    info: dict = {}
    if method == "numpy-brute-force":
        labels = brute_force(x, THRESHOLD)
    else:
        summary = Summary("synthetic", "-", "embedding", THRESHOLD)
        labels, _, _ = instantiate(cfg.method).cluster(x, cfg, summary)
        info = {
            "index": summary.index,
            "recall_estimate": summary.recall.get("estimate"),
            "search_param": f"{summary.recall.get('param')}={summary.recall.get('value')}"
            if summary.recall.get("param")
            else "",
            "device": summary.device,
        }
    wall = time.perf_counter() - start
    return {"wall_s": wall, "peak_rss_mb": peak_rss_mb(), "labels": labels, **info}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument(
        "--baseline-max-n",
        type=int,
        default=100_000,
        help="run the quadratic baselines (NumPy, faiss Flat) only up to this N",
    )
    parser.add_argument("--methods", nargs="+", default=["auto", "Flat", "IVF-Flat", "IVF-PQ64"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from ava.vector_index import nlist_for

    machine = describe("faiss")
    print(f"machine {machine}")
    tmp = Path("/tmp") / f"bench_dedup_{int(time.time())}.npy"
    for n in args.n:
        x, truth = make_data(n, args.d)
        np.save(tmp, x)
        nlist = nlist_for(n)
        factories = {
            "auto": "auto",
            "Flat": "Flat",
            "IVF-Flat": f"IVF{nlist},Flat",
            "IVF-PQ64": f"IVF{nlist},PQ64",
            "HNSW32": "HNSW32",
        }
        runs = (["numpy-brute-force"] if n <= args.baseline_max_n else []) + [
            m for m in args.methods if not (m == "Flat" and n > args.baseline_max_n)
        ]
        base_wall = None
        for method in runs:
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                res = pool.submit(run_one, str(tmp), method, factories.get(method, "")).result()
            recall, precision = pair_scores(res["labels"], truth)
            if method == "numpy-brute-force":
                base_wall = res["wall_s"]
            row = {
                "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
                **machine,
                "n": n,
                "d": args.d,
                "method": method,
                "index": res.get("index", "numpy"),
                "search_param": res.get("search_param", ""),
                "device": res.get("device", "cpu"),
                "wall_s": f"{res['wall_s']:.2f}",
                "peak_rss_mb": f"{res['peak_rss_mb']:.0f}",
                "pair_recall": f"{recall:.4f}",
                "pair_precision": f"{precision:.4f}",
                "recall_estimate": res.get("recall_estimate") or "",
                "speedup_vs_numpy": f"{base_wall / res['wall_s']:.2f}" if base_wall else "",
            }
            append_csv(args.out, [row])  # row by row: a long run keeps what it measured if a later method fails
            print(
                f"n={n:>8} {method:>18} {row['index']:>16} {row['search_param']:>10} wall {row['wall_s']:>7}s "
                f"rss {row['peak_rss_mb']:>6}MB recall {row['pair_recall']} precision {row['pair_precision']} "
                f"est {row['recall_estimate'] or '-':>6} x{row['speedup_vs_numpy'] or '-'}"
            )
    tmp.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
