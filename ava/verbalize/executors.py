"""python -m ava.verbalize executor=local: process the shards of a verbalize run on this machine.

Executors are classes named by ``_target_`` in conf/executor/ (this one, and ray_executor.RayExecutor); each
takes the stream of :class:`~ava.verbalize.shards.ShardJob` and a :class:`Work` (what every shard needs) and
writes the shards. ``LocalExecutor(workers=1)`` runs them in this process; with ``workers`` > 1 a process pool
(spawned, one shard per task, at most two tasks per worker queued so the manifest keeps streaming) runs them
side by side, each worker loading the encoders once and capping their threads at cores ÷ workers so the pool
does not oversubscribe the CPU. ``workers: auto`` = one per core on a CPU run and 1 on CUDA (the encoders
then share one GPU better in one process). Every worker writes its own shards atomically, so a worker that
dies loses at most its unfinished shards, which the next run redoes. Workers end when the driver dies (even by
``kill -9``; :func:`exit_with_parent`), and with them the pool's resource tracker.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path

from omegaconf import DictConfig
from tqdm import tqdm

from ava.encoders.base import Encoder, Resolved, load_encoders
from ava.verbalize.rows import decode_item, describe_items
from ava.verbalize.shards import ShardJob


@dataclass(frozen=True)
class Work:
    """What processing any shard needs: the data root, media settings, the resolved encoders, the device."""

    root: Path
    media: DictConfig  # the ``media`` section of conf/verbalize.yaml
    encoders: list[Resolved]
    device: str
    progress: bool = True
    shards: int | None = None  # shards in the manifest (its non-blank lines / shard_size): the progress bar's total


class Progress:
    """The progress bar of a run, in shards of the manifest with the items processed beside them. A shard an
    earlier run finished is never handed to the executor: it counts when a later shard arrives, or at the end."""

    def __init__(self, desc: str, work: Work):
        self.bar = tqdm(desc=desc, total=work.shards, unit="shard", disable=not work.progress)
        self.next = 0  # the shard index expected next
        self.items = 0

    def arrived(self, job: ShardJob) -> None:
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


def run_shard(job: ShardJob, work: Work, encoders: list[Encoder]) -> int:
    """Process one shard in this process and write it; returns the number of items processed."""
    items, records = [], {}
    for ad, indices in job.items:
        records[ad.line] = ad.record
        for index in indices:
            items.append(decode_item(ad, index, work.root, work.media))
    job.finish(describe_items(items, records, encoders))
    return job.size


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


def _run_in_worker(job: ShardJob) -> int:
    return run_shard(job, _WORKER["work"], _WORKER["enc"])


class LocalExecutor:
    def __init__(self, workers: int | str = "auto"):
        self.workers = workers

    def resolve_workers(self, device: str) -> int:
        workers = self.workers
        if workers == "auto":
            workers = 1 if device.startswith("cuda") else (os.cpu_count() or 1)
        return max(1, int(workers))

    def run(self, jobs: Iterator[ShardJob], work: Work) -> int:
        """Write every shard of ``jobs``; returns the number of items processed."""
        workers = self.resolve_workers(work.device)
        head = list(islice(jobs, workers))  # fewer shards than workers: start only as many
        workers = max(1, min(workers, len(head)))
        jobs = chain(head, jobs)
        done = 0
        with Progress(f"verbalize ({workers} worker{'s' if workers > 1 else ''})", work) as bar:
            if workers == 1:
                encoders = None  # loaded with the first shard: a run with nothing to do loads nothing
                for job in jobs:
                    bar.arrived(job)
                    encoders = encoders if encoders is not None else load_encoders(work.encoders, work.device)
                    n = run_shard(job, work, encoders)
                    bar.finished(n)
                    done += n
                return done
            threads = max(1, (os.cpu_count() or 1) // workers)
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                     initargs=(work, threads, os.getpid())) as pool:
                pending: set[Future] = set()
                for job in jobs:
                    if len(pending) >= 2 * workers:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        done += _collect(finished, bar)
                    bar.arrived(job)
                    pending.add(pool.submit(_run_in_worker, job))
                done += _collect(wait(pending).done, bar)
        return done


def _collect(finished: set[Future], bar: Progress) -> int:
    n = sum(f.result() for f in finished)
    bar.finished(n, len(finished))
    return n
