"""Shared by tests/dedup: verbalized/ folders made in tmp_path, planted data and independent references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hydra import compose, initialize_config_module
from omegaconf import DictConfig
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ava.verbalize.schema import SCHEMA


def write_verbalized(root: Path, rows: list[dict], shards: int = 1, schema: pa.Schema | None = None) -> Path:
    """Write rows (dicts of verbalizer columns) as ``root/verbalized/part-*.parquet``; returns root."""
    folder = root / "verbalized"
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(shards):
        part = rows[k::shards]
        table = pa.Table.from_pylist(part, schema=schema) if schema else pa.Table.from_pylist(part)
        pq.write_table(table, folder / f"part-{k:05d}.parquet")
    return root


def rows_for(
    embeddings: np.ndarray | None = None,
    phashes: list[str | None] | None = None,
    status: list[str] | None = None,
) -> list[dict]:
    n = len(embeddings) if embeddings is not None else len(phashes)
    rows = []
    for i in range(n):
        rows.append(
            {
                "ad_id": f"ad{i}",
                "media_index": 0,
                "media_path": f"media/{i}.jpg",
                "media_type": "image",
                "status": status[i] if status else "ok",
                "error": None,
                "verbalization": "",
                "embedding": None
                if embeddings is None or embeddings[i] is None
                else [float(v) for v in embeddings[i]],
                "phash": phashes[i] if phashes else None,
            }
        )
    return rows


# The verbalizer's own column types, for the columns these tests fill.
EMBEDDING_SCHEMA = pa.schema(
    [SCHEMA.field(name) for name in ("ad_id", "media_index", "media_path", "media_type", "status", "error",
                                     "verbalization", "embedding", "phash")]
)


def cfg_for(input_dir: Path, output_dir: Path, *overrides: str) -> DictConfig:
    with initialize_config_module("ava_conf", version_base="1.3"):
        return compose("dedup", overrides=[f"input={input_dir}", f"output_dir={output_dir}", *overrides])


def planted(n_groups: int, n_single: int, d: int, seed: int, sigma: tuple[float, float] = (0.05, 0.2)):
    """Unit vectors: n_groups originals with 1-3 noisy copies each, plus n_single distinct items.

    Returns (x, group) with group[i] the planted group (singletons their own), rows shuffled.
    """
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n_groups + n_single, d)).astype(np.float32)
    copies_of = np.repeat(np.arange(n_groups), rng.integers(1, 4, n_groups))
    noise = rng.uniform(*sigma, copies_of.size)[:, None] / np.sqrt(d)
    copies = base[copies_of] / np.linalg.norm(base[copies_of], axis=1, keepdims=True)
    copies = copies + (noise * rng.standard_normal((copies_of.size, d))).astype(np.float32)
    x = np.concatenate([base, copies])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    group = np.concatenate([np.arange(n_groups + n_single), copies_of])
    order = rng.permutation(len(x))
    return np.ascontiguousarray(x[order], dtype=np.float32), group[order]


def brute_force_labels(sims_ge_threshold_pairs: tuple[np.ndarray, np.ndarray], n: int) -> np.ndarray:
    i, j = sims_ge_threshold_pairs
    graph = coo_matrix((np.ones(i.size, dtype=np.int8), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def cosine_reference(x: np.ndarray, threshold: float) -> np.ndarray:
    """Clusters by brute force: full NumPy similarity matrix, SciPy connected components."""
    i, j = np.nonzero(x @ x.T >= threshold)
    return brute_force_labels((i, j), len(x))


def hamming_reference(codes: np.ndarray, threshold: int) -> np.ndarray:
    bits = np.unpackbits(codes, axis=1).astype(np.int32)
    dist = bits @ (1 - bits).T + (1 - bits) @ bits.T  # differing bits, by matrix product
    i, j = np.nonzero(dist <= threshold)
    return brute_force_labels((i, j), len(codes))


def canonical(labels: np.ndarray) -> np.ndarray:
    """Each row's cluster named by its first row, so equal partitions give equal arrays."""
    first = {}
    return np.array([first.setdefault(int(lab), i) for i, lab in enumerate(labels)])


def pair_counts(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(recall, precision) of same-cluster pairs of ``pred`` against those of ``truth``."""

    def pairs(c: np.ndarray) -> float:
        return float((c * (c - 1) // 2).sum())

    _, both = np.unique(pred.astype(np.int64) * (truth.max() + 1) + truth, return_counts=True)
    tp, t, p = pairs(both), pairs(np.bincount(truth)), pairs(np.bincount(pred))
    return (tp / t if t else 1.0), (tp / p if p else 1.0)
