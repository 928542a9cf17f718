"""python -m ava.verbalize executor=local: process the shards of a verbalize run on this machine.

Executors are classes named by ``_target_`` in conf/executor/ (this one, and ray_executor.RayExecutor); each
takes the stream of :class:`~ava.verbalize.shards.ShardJob` and a :class:`Work` (what every shard needs) and
writes the shards. ``LocalExecutor(workers=N)``, N >= 1, runs them in a pool of N worker processes (spawned, one
shard per task, at most two tasks per worker queued so the manifest keeps streaming), each worker loading the
encoders once and, when N > 1, capping their threads at cores ÷ N so the pool does not oversubscribe the CPU.
``workers: auto`` = one per core on a CPU run and 1 on CUDA (the encoders then share one GPU better in one
process). ``workers: 0`` runs the shards in this process, like a DataLoader's ``num_workers=0``: for debugging
and tests, with no protection from an item that gets the process killed (below). Every worker writes its own
shards atomically, so a worker that dies loses at most its unfinished shards, which the next run redoes.
Workers end when the driver dies (even by ``kill -9``; :func:`exit_with_parent`), and with them the pool's
resource tracker. A file shared by many ads is made into a row once for the whole run, whichever worker meets
it first (ava/verbalize/shared.py).

A worker killed mid-shard (the out-of-memory killer's SIGKILL) breaks the whole pool: the shards it had not
started are requeued in a fresh pool, and each shard that had started is rerun alone in a fresh worker; when
that one dies too, the item it held (written to the shard's in-flight file before each item) becomes one
``worker_died`` error row naming it, and the rest of the shard is redone (:meth:`LocalExecutor._isolated`). So
one item that kills its worker costs one row, not the run, with one worker as with many.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path

from omegaconf import DictConfig
from tqdm import tqdm

from ava.encoders.base import Encoder, Resolved, load_encoders
from ava.verbalize.rows import decode_item, describe_items, died_row
from ava.verbalize.shards import ShardJob
from ava.verbalize.shared import Dedup, SharedFiles

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Work:
    """What processing any shard needs: the data root, media settings, the resolved encoders, the device."""

    root: Path
    media: DictConfig  # the ``media`` section of conf/verbalize.yaml
    encoders: list[Resolved]
    device: str
    progress: bool = True
    shards: int | None = None  # shards in the manifest (its non-blank lines / shard_size): the progress bar's total
    shared_files: Path | None = None  # the run's shared rows (ava/verbalize/shared.py); None: each file decoded
    shared_rows: int = 0  # at most this many rows in it (``shared_cache_rows``)
    settings: str = ""  # what rows depend on besides the record (shards.settings_key): part of the shared key


class Progress:
    """The progress bar of a run, in shards of the manifest with the items processed beside them. A shard an
    earlier run finished is never handed to the executor: it counts when a later shard arrives, or at the end."""

    def __init__(self, desc: str, work: Work):
        self.bar = tqdm(desc=desc, total=work.shards, unit="shard", disable=not work.progress)
        self.next = 0  # the shard index expected next
        self.items = 0

    def arrived(self, job: ShardJob) -> None:
        if job.index >= self.next:  # a shard requeued after a worker died arrives again: nothing to add
            self.bar.update(job.index - self.next)  # the shards skipped before it
            self.next = job.index + 1

    def finished(self, items: int, shards: int = 1) -> None:
        self.items += items
        self.bar.set_postfix(items=self.items, refresh=False)
        self.bar.update(shards)

    def close(self) -> None:
        if self.bar.total is not None:
            self.bar.update(self.bar.total - self.bar.n)  # the skipped shards after the last one handed over
        self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_shard(job: ShardJob, work: Work, encoders: list[Encoder], shared: SharedFiles,
              isolate: bool = False) -> int:
    """Process one shard in this process and write it; returns the number of items processed.

    A file already made into a row in this run (by any worker: ``shared``, by content) is not decoded again:
    its row is copied (ava/verbalize/shared.py). Before each item's decoding its key is written to the shard's
    in-flight file (:meth:`ShardJob.inflight`), so that when the process is killed the driver can tell which item
    it held. ``isolate``: the encoders run item by item too (slower), so a death while encoding is pinned on one
    item. Items in ``job.died`` are not decoded again: they become ``worker_died`` error rows.
    """
    records, rows, items = {}, [], []
    dedup = Dedup(shared, work.root)
    for ad, indices in job.items:
        records[ad.line] = ad.record
        for index in indices:
            copy, make = dedup.route(ad, index)
            if copy is not None:
                rows.append(copy)
            elif make and (ad.line, index) in job.died:
                rows += dedup.made(died_row(ad, index, job.died[(ad.line, index)]))
            elif make:
                job.mark(ad.line, index)
                items.append(decode_item(ad, index, work.root, work.media))
                if isolate:
                    rows += dedup.made(describe_items(items[-1:], records, encoders)[0])
    if not isolate:
        job.mark("encoders")
        for row in describe_items(items, records, encoders):
            rows += dedup.made(row)
    job.finish(rows)
    return job.size


def open_shared(work: Work) -> SharedFiles:
    """This process's connection to the run's shared rows (ava/verbalize/shared.py)."""
    return SharedFiles(work.shared_files, work.settings, work.shared_rows)


_WORKER: dict = {}
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_POLL_S = 1.0  # where there is no prctl: how often a worker checks that its driver is still there


def exit_with_parent(parent: int) -> None:
    """End this worker when the driver ``parent`` dies (a ``kill -9`` of the driver left ~1 GB workers and
    the resource tracker running forever): the kernel's parent-death signal on Linux, else a thread that
    polls the parent id."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent:  # the driver died before the signal was armed
                os._exit(1)
            return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _init_worker(work: Work, threads: int, parent: int) -> None:
    exit_with_parent(parent)
    _WORKER["work"], _WORKER["enc"] = work, load_encoders(work.encoders, work.device, threads)
    _WORKER["shared"] = open_shared(work)


def _run_in_worker(job: ShardJob, isolate: bool = False) -> int:
    return run_shard(job, _WORKER["work"], _WORKER["enc"], _WORKER["shared"], isolate=isolate)


class LocalExecutor:
    def __init__(self, workers: int | str = "auto"):
        self.workers = workers

    def resolve_workers(self, device: str) -> int:
        workers = self.workers
        if workers == "auto":
            workers = 1 if device.startswith("cuda") else (os.cpu_count() or 1)
        if int(workers) < 0:
            raise ValueError(f"executor.workers={workers}: use auto, 0 (in this process) or a number of workers")
        return int(workers)

    def run(self, jobs: Iterator[ShardJob], work: Work) -> int:
        """Write every shard of ``jobs``; returns the number of items processed."""
        workers = self.resolve_workers(work.device)
        head = list(islice(jobs, workers))  # fewer shards than workers: start only as many
        jobs = chain(head, jobs)
        workers = min(workers, max(1, len(head)))
        desc = f"verbalize ({workers} worker{'s' if workers > 1 else ''})" if workers else "verbalize (in process)"
        with Progress(desc, work) as bar:
            if workers == 0:
                return self._in_process(jobs, work, bar)
            if not head:  # nothing to do: no worker is started
                return 0
            # one worker has the machine to itself: the libraries' own thread counts, as in this process
            threads = max(1, (os.cpu_count() or 1) // workers) if workers > 1 else 0
            done = 0
            while True:
                n, broken = self._pool(jobs, work, workers, threads, bar)
                done += n
                if not broken:
                    return done
                started = [j for j in broken if j.held() is not None]
                if not started:  # no item to blame: requeueing would die the same way forever
                    raise RuntimeError("verbalize worker processes died before processing any item (while "
                                       "loading the encoders?); check the machine's memory or use fewer workers")
                # a shard that never started goes back in the queue; one that did is rerun alone (below)
                jobs = chain([j for j in broken if j.held() is None], jobs)
                for job in started:
                    done += self._isolated(job, work, threads, bar)

    @staticmethod
    def _in_process(jobs: Iterator[ShardJob], work: Work, bar: Progress) -> int:
        """``workers: 0``: every shard in this process (for debugging and tests). No dead-worker protection: an
        item that gets the process killed ends the run."""
        encoders = None  # loaded with the first shard: a run with nothing to do loads nothing
        shared = open_shared(work)
        done = 0
        try:
            for job in jobs:
                bar.arrived(job)
                encoders = encoders if encoders is not None else load_encoders(work.encoders, work.device)
                n = run_shard(job, work, encoders, shared)
                bar.finished(n)
                done += n
        finally:
            shared.close()
        return done

    def _pool(self, jobs: Iterator[ShardJob], work: Work, workers: int, threads: int,
              bar: Progress) -> tuple[int, list[ShardJob]]:
        """Run ``jobs`` in a pool until they run out (returns ``(items, [])``) or a worker dies: then the pool
        is broken, nothing more is submitted, and the shards it did not finish are returned."""
        done, broken = 0, []
        with self._new_pool(workers, work, threads) as pool:
            pending: dict[Future, ShardJob] = {}
            for job in jobs:
                if len(pending) >= 2 * workers:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    n, lost = _collect({f: pending.pop(f) for f in finished}, bar)
                    done, broken = done + n, broken + lost
                try:
                    if broken:
                        raise BrokenProcessPool
                    bar.arrived(job)
                    pending[pool.submit(_run_in_worker, job)] = job
                except BrokenProcessPool:  # this job was taken from the stream but never ran: requeued
                    broken.append(job)
                    break
            wait(pending)
            n, lost = _collect(pending, bar)
        return done + n, broken + lost

    def _isolated(self, job: ShardJob, work: Work, threads: int, bar: Progress) -> int:
        """Rerun a shard whose worker died, alone in a fresh worker with the encoders item by item; each time
        that worker dies too, the item it held becomes a ``worker_died`` row and the rest is redone again."""
        while True:
            job.mark(None)  # a death before the first item is then not blamed on the last run's item
            with self._new_pool(1, work, threads) as pool:
                future = pool.submit(_run_in_worker, job, True)
                try:
                    n = future.result()
                    bar.finished(n)
                    return n
                except BrokenProcessPool:
                    held = job.held()
            if not isinstance(held, tuple) or held in job.died:  # died loading the encoders: not an item's doing
                raise RuntimeError(f"a verbalize worker died before processing shard {job.path.name} (while "
                                   "loading the encoders?); check the machine's memory") from None
            line, index = held
            log.warning("a worker died (killed: out of memory?) on item %d of manifest line %d; it becomes a "
                        "worker_died error row and the rest of %s is redone in a fresh worker", index, line,
                        job.path.name)
            job.died[held] = ("the worker process died while processing this item (killed by a signal, e.g. by "
                              "the out-of-memory killer); the rest of its shard was redone in a fresh worker")

    @staticmethod
    def _new_pool(workers: int, work: Work, threads: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                   initargs=(work, threads, os.getpid()))


def _collect(finished: dict[Future, ShardJob], bar: Progress) -> tuple[int, list[ShardJob]]:
    """Items done by the ``finished`` futures, and the shards lost to a dead worker (the pool is then broken)."""
    n, lost = 0, []
    for future, job in finished.items():
        try:
            n += future.result()
        except BrokenProcessPool:
            lost.append(job)
    bar.finished(n, len(finished) - len(lost))
    return n, lost
