"""python -m ava.verbalize executor=ray: the verbalizer's stages as a Ray Data pipeline.

    items ──map (CPU tasks)──▶ decode_item ──map_batches (actor pool)──▶ describe_items ──▶ driver writes shards

Decoding (file checks, ffmpeg, scene cuts) runs as stateless CPU tasks; the encoders (CLIP, OCR, Whisper)
live in stateful actors that load them once (``num_gpus`` per actor when the cluster has GPUs). The driver
collects finished rows and writes each shard atomically, with the same fingerprint as the local executor,
as soon as all its items are back (rows keyed by manifest line and media index), so resume works the same way.
A worker that dies mid-shard loses no item: Ray retries a decode task whose worker died
(``executor.decode_retries``), and restarts a dead encoder actor and retries its batch
(``executor.encoder_retries``; Ray Data's own default retries forever). A block still failing after that is
dropped, not the run (``DataContext.max_errored_blocks``), and its items are redone one at a time, each decoded
and described alone in an encoder actor that is not restarted (:meth:`RayExecutor._redo`): an item whose actor
dies then becomes one ``worker_died`` error row naming it, the next item gets a fresh actor, and the run goes on.
So an item that kills its worker every time (out of memory) costs one row, as with the local executor. A test
kills one decode worker and one actor mid-shard and gets a local run's rows, none lost or doubled; another has an
item that kills every actor it meets. A file shared by many ads is made into a row once per run: the driver hashes
each item's file and sends Ray only the first of each (ava/verbalize/shared.py), copying its row for the rest.
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
from ava.verbalize.executors import Progress, Work, open_shared
from ava.verbalize.rows import decode_item, describe_items, died_row
from ava.verbalize.shards import ShardJob
from ava.verbalize.shared import Dedup, SharedFiles

log = logging.getLogger(__name__)
DIED = ("the worker process died while processing this item, in its batch and again alone in a fresh worker "
        "(killed by a signal, e.g. by the out-of-memory killer); the other items were kept")


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

    def one(self, item: dict[str, Any], root: str, media_cfg: DictConfig) -> dict[str, Any]:
        """One item decoded and described alone, in this actor (an item lost with a dead worker)."""
        out = self({k: [v] for k, v in _decode(item, root, media_cfg).items()})
        return pickle.loads(out["row"][0])


class RayExecutor:
    def __init__(self, address: str | None = None, num_cpus: int | None = None, decode_cpus: float = 1,
                 decode_retries: int = 3, encoder_actors: int = 1, encoder_cpus: float = 1,
                 encoder_retries: int = 1, encoder_omp_threads: int | str = "auto", gpus_per_actor: int | str = "auto",
                 batch_size: int = 16, window_shards: int = 1024):
        self.address, self.num_cpus = address, num_cpus
        self.decode_cpus, self.decode_retries = decode_cpus, decode_retries
        self.encoder_actors, self.encoder_cpus, self.encoder_retries = encoder_actors, encoder_cpus, encoder_retries
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
        ctx = ray.data.DataContext.get_current()
        saved = ctx.enable_progress_bars, ctx.max_errored_blocks
        # a block whose task or actor died past its retries is dropped, not the run: its items are redone alone
        ctx.enable_progress_bars, ctx.max_errored_blocks = False, -1
        shared = open_shared(work)
        try:
            gpus = self.gpus_per_actor
            if gpus == "auto":
                gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
            done = 0
            with Progress("verbalize (ray)", work) as bar:
                window = head
                while window:
                    done += self._window(ray, window, work, gpus, bar, shared)
                    window = list(islice(jobs, self.window_shards))
            return done
        finally:
            shared.close()
            ctx.enable_progress_bars, ctx.max_errored_blocks = saved
            if started:
                ray.shutdown()

    def _window(self, ray, jobs: list[ShardJob], work: Work, gpus: int, bar: Progress, shared: SharedFiles) -> int:
        """Write the shards of one window. Items of a file made into a row earlier in the run (or earlier in this
        window) get copies of its row and never reach Ray (the driver hashes each file: one extra read of it)."""
        pending = {job.index: job for job in jobs if job.size}
        rows: dict[int, dict[tuple[int, int], dict[str, Any]]] = {k: {} for k in pending}
        shard_of: dict[tuple[int, int], int] = {}

        def keep(row: dict[str, Any]) -> None:
            shard = shard_of[(row["manifest_line"], row["media_index"])]
            if shard not in pending:  # a retried task's second copy of a row already written: the first stays
                return
            rows[shard][(row["manifest_line"], row["media_index"])] = row
            job = pending[shard]
            if len(rows[shard]) == job.size:
                job.finish(list(rows.pop(shard).values()))
                bar.finished(job.size)
                del pending[shard]

        dedup, items = Dedup(shared, work.root), []
        for job in jobs:
            bar.arrived(job)
            if job.size == 0:  # a shard of ads without media (or only manifest errors): nothing for Ray
                job.finish([])
                bar.finished(0)
            for ad, indices in job.items:
                for i in indices:
                    shard_of[(ad.line, i)] = job.index
                    copy, make = dedup.route(ad, i)
                    if copy is not None:
                        keep(copy)
                    elif make:
                        items.append({"shard": job.index, "line": ad.line, "index": i, "record": json.dumps(ad.record)})
        got = set()
        for out in self._dataset(ray, items, work, gpus).iter_rows() if items else ():
            row = pickle.loads(out["row"])
            got.add((row["manifest_line"], row["media_index"]))
            for r in dedup.made(row):
                keep(r)
        lost = [item for item in items if (item["line"], item["index"]) not in got]
        for row in self._redo(ray, lost, work, gpus) if lost else ():
            for r in dedup.made(row):
                keep(r)
        return sum(job.size for job in jobs)

    def _dataset(self, ray, items: list[dict[str, Any]], work: Work, gpus: int):
        """The window's Ray Data pipeline: decode tasks, then the encoder actor pool."""
        return (ray.data.from_items(items)
                .map(_decode, fn_kwargs={"root": str(work.root), "media_cfg": work.media}, num_cpus=self.decode_cpus,
                     max_retries=self.decode_retries)  # own retry policy: also keeps decoding out of the actors
                # A dead actor is restarted (Ray Data's default for actor pools, max_restarts=-1) and its batch
                # retried encoder_retries times (Ray Data's default is forever: an item that kills the actor every
                # time would loop); then the batch is dropped and its items redone alone (_redo).
                .map_batches(_Encode, fn_constructor_args=(work.encoders, "cuda" if gpus else "cpu"),
                             batch_size=self.batch_size, compute=ray.data.ActorPoolStrategy(size=self.encoder_actors),
                             num_gpus=gpus, num_cpus=self.encoder_cpus, runtime_env=self._env(),
                             max_restarts=-1, max_task_retries=self.encoder_retries))

    def _env(self) -> dict[str, Any]:
        return {"env_vars": {"OMP_NUM_THREADS": str(self.omp_threads())}}

    def _redo(self, ray, items: list[dict[str, Any]], work: Work, gpus: int) -> Iterator[dict[str, Any]]:
        """The rows of items lost with a worker that died past its retries, each item decoded and described
        alone in an encoder actor; an item whose actor dies then becomes a ``worker_died`` row, and the next item
        gets a fresh actor."""
        from ray.exceptions import OutOfMemoryError, RayActorError, WorkerCrashedError

        log.warning("%d items were lost with Ray workers that died; redoing them one at a time", len(items))
        actor = None
        try:
            for item in items:
                actor = actor or self._actor(ray, work, gpus)
                try:
                    yield ray.get(actor.one.remote(item, str(work.root), work.media))
                except (RayActorError, WorkerCrashedError, OutOfMemoryError) as exc:
                    ray.kill(actor)
                    actor = None
                    ad = Ad(int(item["line"]), json.loads(item["record"]))
                    log.warning("a Ray worker died (killed: out of memory?) on item %d of manifest line %d (%s): "
                                "it becomes a worker_died error row (%s)", item["index"], ad.line,
                                ad.media[item["index"]], type(exc).__name__)
                    yield died_row(ad, int(item["index"]), DIED)
        finally:
            if actor is not None:
                ray.kill(actor)

    def _actor(self, ray, work: Work, gpus: int):
        """A fresh encoder actor that is not restarted: its death is the item's."""
        from ray.exceptions import RayActorError

        actor = (ray.remote(_Encode)
                 .options(num_cpus=self.encoder_cpus, num_gpus=gpus, runtime_env=self._env(), max_restarts=0)
                 .remote(work.encoders, "cuda" if gpus else "cpu"))
        try:
            ray.get(actor.__ray_ready__.remote())
        except RayActorError as exc:
            raise RuntimeError("a Ray encoder actor died while loading the encoders (not an item's doing); check "
                               "the machine's memory") from exc
        return actor
