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
remote one. The manifest keeps streaming: shards go to Ray ``window_shards`` at a time (one Ray Data pipeline
per window, encoders loaded once per window). Decoded media travels between stages pickled: our own objects,
never user data.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from ava.encoders.base import Resolved, load_encoders
from ava.manifest import Ad
from ava.verbalize.executors import Progress, Work
from ava.verbalize.rows import decode_item, describe_items
from ava.verbalize.shards import ShardJob

log = logging.getLogger(__name__)


def _decode(item: dict[str, Any], root: str, media_cfg: DictConfig) -> dict[str, Any]:
    ad = Ad(int(item["line"]), json.loads(item["record"]))
    decoded = decode_item(ad, int(item["index"]), Path(root), media_cfg)
    return {"shard": item["shard"], "record": item["record"], "payload": pickle.dumps(decoded)}


class _Encode:
    """Actor: holds the encoders; finishes a batch of decoded items into rows."""

    def __init__(self, encoders: list[Resolved], device: str):
        self.enc = load_encoders(encoders, device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        items = [pickle.loads(p) for p in batch["payload"]]
        records = {row["manifest_line"]: json.loads(rec) for (row, _), rec in zip(items, batch["record"], strict=True)}
        rows = describe_items(items, records, self.enc)
        return {"shard": list(batch["shard"]), "row": [pickle.dumps(r) for r in rows]}


class RayExecutor:
    def __init__(self, address: str | None = None, num_cpus: int | None = None, decode_cpus: float = 1,
                 decode_retries: int = 3, encoder_actors: int = 1, encoder_cpus: float = 1,
                 encoder_omp_threads: int | str = "auto", gpus_per_actor: int | str = "auto", batch_size: int = 16,
                 window_shards: int = 1024):
        self.address, self.num_cpus = address, num_cpus
        self.decode_cpus, self.decode_retries = decode_cpus, decode_retries
        self.encoder_actors, self.encoder_cpus = encoder_actors, encoder_cpus
        self.encoder_omp_threads, self.gpus_per_actor = encoder_omp_threads, gpus_per_actor
        self.batch_size, self.window_shards = batch_size, window_shards

    def omp_threads(self) -> int:
        """OpenMP threads for the encoder actors. Ray would set OMP_NUM_THREADS to the actor's CPUs (1), and
        Whisper's int8 transcripts depend on it (measured: one sample ad reads "at being there. Open from 7."
        with 2 threads and "has been there, open from heaven." with 1), so ``auto`` gives the actors what a
        local run has: the driver's OMP_NUM_THREADS, or this machine's core count."""
        if self.encoder_omp_threads != "auto":
            return int(self.encoder_omp_threads)
        return int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)

    def run(self, jobs: Iterator[ShardJob], work: Work) -> int:
        """Write every shard of ``jobs`` through Ray; returns the number of items processed."""
        head = list(islice(jobs, self.window_shards))
        if not head:  # nothing to do: start no Ray
            return 0
        import ray

        started = not ray.is_initialized()
        if started:
            ray.init(address=self.address, num_cpus=self.num_cpus if self.address is None else None,
                     include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            gpus = self.gpus_per_actor
            if gpus == "auto":
                gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
            ray.data.DataContext.get_current().enable_progress_bars = False
            done = 0
            with Progress("verbalize (ray)", work) as bar:
                window = head
                while window:
                    done += self._window(ray, window, work, gpus, bar)
                    window = list(islice(jobs, self.window_shards))
            return done
        finally:
            if started:
                ray.shutdown()

    def _window(self, ray, jobs: list[ShardJob], work: Work, gpus: int, bar: Progress) -> int:
        items = [{"shard": job.index, "line": ad.line, "index": i, "record": json.dumps(ad.record)}
                 for job in jobs for ad, indices in job.items for i in indices]
        for job in jobs:
            bar.arrived(job)
            if job.size == 0:  # a shard of ads without media (or only manifest errors): nothing for Ray
                job.finish([])
                bar.finished(0)
        if not items:
            return 0
        ds = (ray.data.from_items(items)
              .map(_decode, fn_kwargs={"root": str(work.root), "media_cfg": work.media}, num_cpus=self.decode_cpus,
                   max_retries=self.decode_retries)  # own retry policy: also keeps decoding out of the actors
              # An actor that dies is restarted and its batches retried: Ray Data 2.60 defaults actor pools to
              # max_restarts=-1, max_task_retries=-1 (ActorPoolMapOperator._apply_default_remote_args).
              .map_batches(_Encode, fn_constructor_args=(work.encoders, "cuda" if gpus else "cpu"),
                           batch_size=self.batch_size, compute=ray.data.ActorPoolStrategy(size=self.encoder_actors),
                           num_gpus=gpus, num_cpus=self.encoder_cpus,
                           runtime_env={"env_vars": {"OMP_NUM_THREADS": str(self.omp_threads())}}))
        pending = {job.index: job for job in jobs if job.size}
        rows: dict[int, dict[tuple[int, int], dict[str, Any]]] = {k: {} for k in pending}
        for out in ds.iter_rows():
            row = pickle.loads(out["row"])
            shard = int(out["shard"])
            rows[shard][(row["manifest_line"], row["media_index"])] = row
            job = pending.get(shard)
            if job is not None and len(rows[shard]) == job.size:
                job.finish(list(rows.pop(shard).values()))
                bar.finished(job.size)
                del pending[shard]
        if pending:
            raise RuntimeError(f"Ray returned no rows for shards {sorted(pending)}; rerun to redo them")
        return len(items)
