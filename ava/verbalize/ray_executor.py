"""python -m ava.verbalize executor=ray: the verbalizer's stages as a Ray Data pipeline.

    items ──map (CPU tasks)──▶ decode_item ──map_batches (actor pool)──▶ describe_items ──▶ driver writes shards

Decoding (file checks, ffmpeg, scene cuts) runs as stateless CPU tasks; the encoders (CLIP, OCR, Whisper)
live in stateful actors that load them once (``num_gpus`` per actor when the cluster has GPUs). The driver
collects finished rows and writes each shard atomically, with the same fingerprint as the local executor,
as soon as all its items are back (rows keyed by manifest line and media index), so resume works the same way.
A worker that dies mid-shard loses no item: Ray retries a decode task whose worker died
(``executor.decode_retries``), and restarts a dead encoder actor and retries its batches (Ray Data's default
for actor pools). A test kills one of each mid-shard and gets a local run's rows, none lost or doubled.
``executor.address``: null starts a local Ray, ``auto`` joins the running cluster, ``ray://host:10001`` a
remote one. Decoded media travels between stages pickled: our own objects, never user data.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from ava.manifest import Ad
from ava.verbalize.pipeline import ShardJob
from ava.verbalize.rows import decode_item, describe_items, load_encoders

log = logging.getLogger(__name__)


def _decode(item: dict[str, Any], root: str, media_cfg: DictConfig) -> dict[str, Any]:
    ad = Ad(int(item["line"]), json.loads(item["record"]))
    decoded = decode_item(ad, int(item["index"]), Path(root), media_cfg)
    return {"shard": item["shard"], "record": item["record"], "payload": pickle.dumps(decoded)}


class _Encode:
    """Actor: holds the encoders; finishes a batch of decoded items into rows."""

    def __init__(self, cfg: DictConfig, device: str):
        self.enc = load_encoders(cfg, device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        items = [pickle.loads(p) for p in batch["payload"]]
        ads = {row["manifest_line"]: Ad(row["manifest_line"], json.loads(rec))
               for (row, _), rec in zip(items, batch["record"], strict=True)}
        rows = describe_items(items, ads, self.enc)
        names = json.dumps(self.enc.describe())
        return {"shard": list(batch["shard"]), "row": [pickle.dumps(r) for r in rows], "encoders": [names] * len(rows)}


def omp_threads(ex: DictConfig) -> int:
    """OpenMP threads for the encoder actors. Ray would set OMP_NUM_THREADS to the actor's CPUs (1), and
    Whisper's int8 transcripts depend on it (measured: one sample ad reads "at being there. Open from 7."
    with 2 threads and "has been there, open from heaven." with 1), so ``auto`` gives the actors what a
    local run has: the driver's OMP_NUM_THREADS, or this machine's core count."""
    if ex.encoder_omp_threads != "auto":
        return int(ex.encoder_omp_threads)
    return int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)


def run_ray(jobs: list[ShardJob], root: Path, cfg: DictConfig, device: str) -> dict[str, str]:
    import ray

    ex = cfg.executor
    started = not ray.is_initialized()
    if started:
        ray.init(address=ex.address, num_cpus=ex.num_cpus if ex.address is None else None,
                 include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        gpus = ex.gpus_per_actor
        if gpus == "auto":
            gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
        data_ctx = ray.data.DataContext.get_current()
        data_ctx.enable_progress_bars = False
        items = [{"shard": job.index, "line": ad.line, "index": i, "record": json.dumps(ad.record)}
                 for job in jobs for ad, indices in job.items for i in indices]
        ds = (ray.data.from_items(items)
              .map(_decode, fn_kwargs={"root": str(root), "media_cfg": cfg.media}, num_cpus=ex.decode_cpus,
                   max_retries=ex.decode_retries)  # own retry policy: also keeps decoding out of the actors
              # An actor that dies is restarted and its batches retried: Ray Data 2.60 defaults actor pools to
              # max_restarts=-1, max_task_retries=-1 (ActorPoolMapOperator._apply_default_remote_args).
              .map_batches(_Encode, fn_constructor_args=(cfg, "cuda" if gpus else "cpu"),
                           batch_size=ex.batch_size, compute=ray.data.ActorPoolStrategy(size=ex.encoder_actors),
                           num_gpus=gpus, num_cpus=ex.encoder_cpus,
                           runtime_env={"env_vars": {"OMP_NUM_THREADS": str(omp_threads(ex))}}))
        pending = {job.index: job for job in jobs}
        rows: dict[int, dict[tuple[int, int], dict[str, Any]]] = {k: {} for k in pending}
        names: dict[str, str] = {}
        with tqdm(total=len(items), desc="verbalize (ray)", unit="item", disable=not cfg.progress) as bar:
            for out in ds.iter_rows():
                row = pickle.loads(out["row"])
                shard = int(out["shard"])
                rows[shard][(row["manifest_line"], row["media_index"])] = row
                names = json.loads(out["encoders"])
                bar.update()
                job = pending.get(shard)
                if job is not None and len(rows[shard]) == job.size:
                    job.finish(list(rows.pop(shard).values()))
                    del pending[shard]
        if pending:
            raise RuntimeError(f"Ray returned no rows for shards {sorted(pending)}; rerun to redo them")
        return names
    finally:
        if started:
            ray.shutdown()
