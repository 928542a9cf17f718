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

import numpy as np
import pyarrow as pa
from hydra.utils import instantiate
from omegaconf import DictConfig

from ava.dedup.load import DedupInputError, read_verbalized
from ava.dedup.methods import Embedding, PHash
from ava.runtime import check_output_dir, loud_warning, peak_rss_mb, terminate_as_exit, write_json, write_table

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


@terminate_as_exit()  # a SIGTERM ends the run through its finally blocks: the spilled embeddings are deleted
def dedup(cfg: DictConfig) -> Summary:
    """Run the stage; returns (and writes) the summary."""
    start = time.perf_counter()
    m = instantiate(cfg.method)
    if not isinstance(m, Embedding | PHash):
        raise ValueError(f"method._target_={cfg.method.get('_target_')!r}: use method=embedding (CLIP cosine) or "
                         "method=phash (Hamming)")
    method = m.name
    m.check_threshold(float(cfg.threshold))
    out = Path(cfg.output_dir)
    check_output_dir(out)
    summary = Summary(str(cfg.input), str(out), method, float(cfg.threshold))
    data = read_verbalized(cfg.input, method)
    keys = data.keys
    spill = m.spill_path(out, SPILL_NAME)
    try:
        values, present = m.read(data, cfg.read_batch_rows, spill)
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
        labels, reps, similarity = m.cluster(values, cfg, summary)
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
