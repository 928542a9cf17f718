"""python -m ava.dedup input=VERBALIZE_DIR output_dir=DIR [method=embedding|phash] [threshold=...]: the stage.

Reads the verbalizer's ok rows, links duplicates (cosine >= threshold on CLIP embeddings, or Hamming
distance <= threshold bits on 64-bit pHashes), clusters them (union-find) and writes
``DIR/dedup.parquet`` (ad_id, media_path, cluster_id, is_representative, similarity to the representative)
and ``DIR/dedup_summary.json``. Rows without the method's column (null embedding or pHash) are not compared:
each becomes its own cluster, and the summary counts them as ``skipped``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pyarrow as pa
from hydra.utils import instantiate
from omegaconf import DictConfig

from ava.dedup.binary import binary_pairs, build_binary, estimate_binary_recall, hamming_to
from ava.dedup.graph import UnionFind, pick_representatives, summed_cosine, summed_hamming_similarity
from ava.dedup.index import IndexChooser, PairSearch, RecallReport, build_index, rescore, tune_and_estimate
from ava.dedup.load import DedupInputError, embedding_matrix, phash_codes, read_verbalized
from ava.runtime import (
    check_output_dir,
    cuda_driver_devices,
    loud_warning,
    peak_rss_mb,
    terminate_as_exit,
    write_json,
    write_table,
)

log = logging.getLogger(__name__)
# in method.spill_dir: the embeddings when above method.embeddings_in_memory_max_gb; deleted after
SPILL_NAME = ".ava-dedup-embeddings.npy"

OUTPUT_SCHEMA = pa.schema(
    [
        ("ad_id", pa.string()),
        ("media_path", pa.string()),
        ("cluster_id", pa.int64()),
        ("is_representative", pa.bool_()),
        ("similarity", pa.float32()),
    ]
)


@dataclass
class Summary:
    input: str
    output_dir: str
    method: str
    threshold: float
    items: int = 0  # ok rows = output rows
    skipped: int = 0  # ok rows without an embedding / pHash: not compared, each its own cluster
    rows_not_ok: int = 0  # verbalizer rows with status != ok: not in the output
    clusters: int = 0
    duplicate_clusters: int = 0  # clusters with 2+ members
    largest_cluster: int = 0
    items_removed: int = 0  # items - clusters: what keeping one representative per cluster drops
    index: str = ""
    index_reason: str = ""
    index_bytes_per_item: float | None = None
    device: str = "cpu"
    search: str = "range_search"
    knn_saturated_queries: int = 0
    recall: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float = 0.0
    peak_rss_mb: float = 0.0


def _use_gpu(device: str) -> bool:
    gpus = faiss.get_num_gpus()
    if device == "cpu":
        return False
    if device not in ("auto", "cuda"):
        raise ValueError(f"device={device!r}: use auto, cpu or cuda")
    if device == "cuda" and gpus == 0:
        raise RuntimeError("device=cuda but faiss sees no GPU: install faiss-gpu (pip install 'ava[gpu]')")
    if gpus == 0 and cuda_driver_devices() > 0:
        loud_warning(
            "a CUDA GPU is present but faiss has no GPU support: dedup searches on the CPU; "
            "install faiss-gpu (pip install 'ava[gpu]') to use the GPU"
        )
    return gpus > 0


def _recall_dict(report: RecallReport, exact: bool) -> dict[str, Any]:
    if exact:
        return {"exact": True, "estimate": None, "note": "exact search: every pair at the threshold is found"}
    return {
        "exact": False,
        "estimate": report.recall,
        "sample_items": report.sample_items,
        "sample_pairs": report.sample_pairs,
        "param": report.param,
        "value": report.value,
        "margin": report.margin,
        "tuning": {str(k): v for k, v in report.tuning.items()},
    }


def cluster_embeddings(x: np.ndarray, cfg: DictConfig, summary: Summary) -> tuple[np.ndarray, ...]:
    """(labels, is_representative, similarity) for unit-norm rows ``x``; fills the summary's index fields."""
    n, d = x.shape
    chooser: IndexChooser = instantiate(cfg.dedup_index)
    plan = chooser.plan(n, d)
    gpu = _use_gpu(cfg.device)
    built = build_index(x, plan, gpu=gpu, seed=cfg.seed, gpu_shard=cfg.method.gpu_shard)
    search = PairSearch(
        built,
        x,
        float(cfg.threshold),
        margin=chooser.rescore_margin,
        block_size=cfg.block_size,
        knn_k=cfg.method.knn_k,
    )
    report = tune_and_estimate(search, target=chooser.target_recall, sample=cfg.recall_sample, seed=cfg.seed)
    union = UnionFind(n)
    for qi, nbr, _ in search.blocks(np.arange(n), desc="dedup: search"):
        union.union(qi, nbr)
    labels = union.labels()
    reps = pick_representatives(labels, summed_cosine(x, labels))
    similarity = rescore(x, np.arange(n), reps[labels])
    summary.index, summary.index_reason, summary.index_bytes_per_item = (
        plan.factory,
        plan.reason,
        plan.bytes_per_item,
    )
    mode = "sharded" if cfg.method.gpu_shard else "replicated"
    summary.device = f"gpu x{faiss.get_num_gpus()} (faiss-gpu, index {mode})" if gpu else "cpu"
    summary.search = (f"knn k={cfg.method.knn_k} + exact CPU range search of saturated queries (faiss GPU has no "
                      "range search)") if gpu else "range_search"
    summary.knn_saturated_queries = search.saturated
    if search.saturated:
        log.info("dedup: %d queries had all knn_k=%d neighbours in range and were searched again exactly on the "
                 "CPU (raise method.knn_k if that is slow)", search.saturated, cfg.method.knn_k)
    summary.recall = _recall_dict(report, built.exact)
    return labels, reps, similarity


def cluster_phash(codes: np.ndarray, cfg: DictConfig, summary: Summary) -> tuple[np.ndarray, ...]:
    """(labels, representatives, similarity) for (n, 8) uint8 pHash codes."""
    n = len(codes)
    threshold = int(cfg.threshold)
    index, name = build_binary(codes, threshold, cfg.method.binary_flat_max_items)
    report = estimate_binary_recall(
        index, codes, threshold, sample=cfg.recall_sample, seed=cfg.seed, block_size=cfg.block_size
    )
    union = UnionFind(n)
    for qi, nbr, _ in binary_pairs(
        index, codes, np.arange(n), threshold, cfg.block_size, desc="dedup: search"
    ):
        union.union(qi, nbr)
    labels = union.labels()
    bits = np.unpackbits(codes, axis=1).astype(bool)
    reps = pick_representatives(labels, summed_hamming_similarity(bits, labels))
    similarity = 1.0 - hamming_to(codes, np.arange(n), reps[labels]) / 64.0
    summary.index = name
    summary.index_reason = f"n={n} {'<=' if name == 'IndexBinaryFlat' else '>'} binary_flat_max_items"
    summary.index_bytes_per_item = (
        8.0 if name == "IndexBinaryFlat" else 8.0 + 8 * 4
    )  # codes (+ ids per table)
    summary.device = "cpu (binary indexes)"
    summary.recall = _recall_dict(report, name == "IndexBinaryFlat")
    return labels, reps, similarity


def _check_threshold(method: str, threshold: float) -> None:
    if method == "embedding" and not 0 < threshold <= 1:
        raise ValueError(
            f"threshold={threshold}: a cosine similarity in (0, 1] for method=embedding (e.g. 0.95)"
        )
    if method == "phash" and not (float(threshold).is_integer() and 0 <= threshold < 64):
        raise ValueError(
            f"threshold={threshold}: a whole number of Hamming bits in [0, 63] for method=phash (e.g. 8)"
        )


@terminate_as_exit()  # a SIGTERM ends the run through its finally blocks: the spilled embeddings are deleted
def dedup(cfg: DictConfig) -> Summary:
    """Run the stage; returns (and writes) the summary."""
    start = time.perf_counter()
    method = str(cfg.method.name)
    if method not in ("embedding", "phash"):
        raise ValueError(f"method={method!r}: use method=embedding (CLIP cosine) or method=phash (Hamming)")
    _check_threshold(method, float(cfg.threshold))
    out = Path(cfg.output_dir)
    check_output_dir(out)
    summary = Summary(str(cfg.input), str(out), method, float(cfg.threshold))
    data = read_verbalized(cfg.input, method)
    keys = data.keys
    spill = Path(cfg.method.get("spill_dir") or out) / SPILL_NAME
    try:
        if method == "embedding":
            values, present = embedding_matrix(data, spill=spill, batch_rows=cfg.read_batch_rows,
                                               in_memory_max_gb=cfg.method.embeddings_in_memory_max_gb)
        else:
            values, present = phash_codes(data, batch_rows=cfg.read_batch_rows)
        skipped = int((~present).sum())
        if skipped:
            loud_warning(
                f"{skipped} of {keys.num_rows} ok rows have no {method}: each is kept as its own "
                "cluster without comparison (summary: skipped)"
            )
        log.info(
            "dedup: %d items (%d skipped), method=%s threshold=%s",
            keys.num_rows,
            skipped,
            method,
            cfg.threshold,
        )
        cluster = cluster_embeddings if method == "embedding" else cluster_phash
        labels, reps, similarity = cluster(values, cfg, summary)
    finally:
        spill.unlink(missing_ok=True)  # an open memmap keeps its pages until it is dropped (POSIX unlink)

    n_found = int(labels.max()) + 1
    cluster_id = np.empty(keys.num_rows, dtype=np.int64)
    cluster_id[present] = labels
    cluster_id[~present] = n_found + np.arange(skipped)
    is_rep = np.ones(keys.num_rows, dtype=bool)
    is_rep[present] = False
    is_rep[np.flatnonzero(present)[reps]] = True
    sim = np.ones(keys.num_rows, dtype=np.float32)
    sim[present] = similarity
    sim[is_rep] = 1.0
    result = pa.table(
        [
            keys["ad_id"].cast(pa.string()),
            keys["media_path"].cast(pa.string()),
            pa.array(cluster_id),
            pa.array(is_rep),
            pa.array(sim),
        ],
        schema=OUTPUT_SCHEMA,
    )
    write_table(out / "dedup.parquet", result)

    sizes = np.bincount(cluster_id)
    summary.items, summary.skipped, summary.rows_not_ok = keys.num_rows, skipped, data.rows_not_ok
    summary.clusters = int(sizes.size)
    summary.duplicate_clusters = int((sizes > 1).sum())
    summary.largest_cluster = int(sizes.max())
    summary.items_removed = keys.num_rows - summary.clusters
    summary.wall_time_s = round(time.perf_counter() - start, 3)
    summary.peak_rss_mb = round(peak_rss_mb(), 1)
    write_json(out / "dedup_summary.json", asdict(summary))
    log.info(
        "dedup: %d items -> %d clusters (%d removed), index %s, recall %s; wrote %s",
        summary.items,
        summary.clusters,
        summary.items_removed,
        summary.index,
        summary.recall.get("estimate"),
        out,
    )
    return summary


__all__ = ["DedupInputError", "Summary", "dedup"]
