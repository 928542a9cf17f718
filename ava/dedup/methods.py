"""python -m ava.dedup method=embedding|phash: the two ways of linking duplicates, each built from its config
(``conf/method/<name>.yaml`` names the class with ``_target_``).

A method checks its threshold, reads its column from the verbalizer's shards and turns the values into clusters:
``(labels, representatives, similarity to the representative)``, filling the summary's index fields.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import faiss
import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig

from ava.dedup.binary import binary_pairs, build_binary, estimate_binary_recall, hamming_to
from ava.dedup.graph import pick_representatives, summed_cosine, summed_hamming_similarity
from ava.dedup.load import Verbalized, embedding_matrix, phash_codes
from ava.runtime import cuda_driver_devices, loud_warning
from ava.unionfind import UnionFind
from ava.vector_index import IndexChooser, PairSearch, RecallReport, build_index, rescore, tune_and_estimate

log = logging.getLogger(__name__)
Clusters = tuple[np.ndarray, np.ndarray, np.ndarray]


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


def recall_dict(report: RecallReport, exact: bool) -> dict[str, Any]:
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


@dataclass
class Embedding:
    """Cosine of L2-normalised CLIP embeddings at or above the threshold, searched with a FAISS index."""

    name: ClassVar[str] = "embedding"
    threshold: float = 0.95
    embeddings_in_memory_max_gb: float = 4.0
    spill_dir: str | None = None
    knn_k: int = 128
    gpu_shard: bool = True

    def check_threshold(self, threshold: float) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold={threshold}: a cosine similarity in (0, 1] for method=embedding (e.g. 0.95)")

    def spill_path(self, out: Path, name: str) -> Path:
        return Path(self.spill_dir or out) / name

    def read(self, data: Verbalized, batch_rows: int, spill: Path) -> tuple[np.ndarray, np.ndarray]:
        return embedding_matrix(data, spill=spill, batch_rows=batch_rows,
                                in_memory_max_gb=self.embeddings_in_memory_max_gb)

    def cluster(self, x: np.ndarray, cfg: DictConfig, summary: Any) -> Clusters:
        """(labels, representatives, similarity) for unit-norm rows ``x``."""
        n, d = x.shape
        chooser: IndexChooser = instantiate(cfg.dedup_index)
        plan = chooser.plan(n, d)
        gpu = _use_gpu(cfg.device)
        built = build_index(x, plan, gpu=gpu, seed=cfg.seed, gpu_shard=self.gpu_shard)
        search = PairSearch(built, x, float(cfg.threshold), margin=chooser.rescore_margin,
                            block_size=cfg.block_size, knn_k=self.knn_k)
        report = tune_and_estimate(search, target=chooser.target_recall, sample=cfg.recall_sample, seed=cfg.seed)
        union = UnionFind(n)
        for qi, nbr, _ in search.blocks(np.arange(n), desc="dedup: search"):
            union.union(qi, nbr)
        labels = union.labels()
        reps = pick_representatives(labels, summed_cosine(x, labels))
        similarity = rescore(x, np.arange(n), reps[labels])
        summary.index, summary.index_reason = plan.factory, plan.reason
        summary.index_bytes_per_item = plan.bytes_per_item
        mode = "sharded" if self.gpu_shard else "replicated"
        summary.device = f"gpu x{faiss.get_num_gpus()} (faiss-gpu, index {mode})" if gpu else "cpu"
        summary.search = (f"knn k={self.knn_k} + exact CPU range search of saturated queries (faiss GPU has no "
                          "range search)") if gpu else "range_search"
        summary.knn_saturated_queries = search.saturated
        if search.saturated:
            log.info("dedup: %d queries had all knn_k=%d neighbours in range and were searched again exactly on "
                     "the CPU (raise method.knn_k if that is slow)", search.saturated, self.knn_k)
        summary.recall = recall_dict(report, built.exact)
        return labels, reps, similarity


@dataclass
class PHash:
    """Hamming distance of 64-bit pHashes at or below the threshold, searched with FAISS binary indexes."""

    name: ClassVar[str] = "phash"
    threshold: int = 8
    binary_flat_max_items: int = 1_000_000

    def check_threshold(self, threshold: float) -> None:
        if not (float(threshold).is_integer() and 0 <= threshold < 64):
            raise ValueError(
                f"threshold={threshold}: a whole number of Hamming bits in [0, 63] for method=phash (e.g. 8)")

    def spill_path(self, out: Path, name: str) -> Path:
        return out / name  # pHash codes (8 bytes an item) always fit in memory: nothing is spilled there

    def read(self, data: Verbalized, batch_rows: int, spill: Path) -> tuple[np.ndarray, np.ndarray]:
        return phash_codes(data, batch_rows=batch_rows)

    def cluster(self, codes: np.ndarray, cfg: DictConfig, summary: Any) -> Clusters:
        """(labels, representatives, similarity) for (n, 8) uint8 pHash codes."""
        n = len(codes)
        threshold = int(cfg.threshold)
        index, name = build_binary(codes, threshold, self.binary_flat_max_items)
        report = estimate_binary_recall(index, codes, threshold, sample=cfg.recall_sample, seed=cfg.seed,
                                        block_size=cfg.block_size)
        union = UnionFind(n)
        for qi, nbr, _ in binary_pairs(index, codes, np.arange(n), threshold, cfg.block_size, desc="dedup: search"):
            union.union(qi, nbr)
        labels = union.labels()
        bits = np.unpackbits(codes, axis=1).astype(bool)
        reps = pick_representatives(labels, summed_hamming_similarity(bits, labels))
        similarity = 1.0 - hamming_to(codes, np.arange(n), reps[labels]) / 64.0
        summary.index = name
        summary.index_reason = f"n={n} {'<=' if name == 'IndexBinaryFlat' else '>'} binary_flat_max_items"
        summary.index_bytes_per_item = 8.0 if name == "IndexBinaryFlat" else 8.0 + 8 * 4  # codes (+ ids per table)
        summary.device = "cpu (binary indexes)"
        summary.recall = recall_dict(report, name == "IndexBinaryFlat")
        return labels, reps, similarity
