"""python -m ava.verbalize executor=local|ray: where the shards of a verbalize run are processed.

``local`` (default): this machine. With ``workers`` > 1 a process pool (spawned, one shard per task) runs
shards side by side, each worker loading the encoders once and capping its encoders' threads at
cores ÷ workers so the pool does not oversubscribe the CPU. ``workers: auto`` = one per core on a CPU run
and 1 on CUDA (the encoders then share one GPU better in one process). ``ray``: see ray_executor.py.
Every worker writes its own shards atomically, so a worker that dies loses at most its unfinished shards,
which the next run redoes.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from omegaconf import DictConfig
from tqdm import tqdm

from ava.verbalize.pipeline import ShardJob
from ava.verbalize.rows import Encoders, decode_item, describe_items, load_encoders


def run_shard(job: ShardJob, root: Path, cfg: DictConfig, enc: Encoders, bar: tqdm | None = None) -> int:
    """Process one shard in this process and write it; returns the number of items processed."""
    items, ads = [], {}
    for ad, indices in job.items:
        ads[ad.line] = ad
        for index in indices:
            items.append(decode_item(ad, index, root, cfg.media))
            if bar is not None:
                bar.update()
    job.finish(describe_items(items, ads, enc))
    return job.size


def resolve_workers(workers: int | str, device: str, n_jobs: int) -> int:
    if workers == "auto":
        workers = 1 if device.startswith("cuda") else (os.cpu_count() or 1)
    return max(1, min(int(workers), n_jobs))


_WORKER: dict = {}


def _init_worker(cfg: DictConfig, device: str, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    _WORKER["cfg"], _WORKER["enc"] = cfg, load_encoders(cfg, device, threads)


def _run_in_worker(job: ShardJob, root: Path) -> tuple[int, dict[str, str]]:
    return run_shard(job, root, _WORKER["cfg"], _WORKER["enc"]), _WORKER["enc"].describe()


def run_local(jobs: list[ShardJob], root: Path, cfg: DictConfig, device: str) -> dict[str, str]:
    workers = resolve_workers(cfg.executor.workers, device, len(jobs))
    total = sum(j.size for j in jobs)
    with tqdm(total=total, desc=f"verbalize ({workers} worker{'s' if workers > 1 else ''})", unit="item",
              disable=not cfg.progress) as bar:
        if workers == 1:
            enc = load_encoders(cfg, device)
            for job in jobs:
                run_shard(job, root, cfg, enc, bar)
            return enc.describe()
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                 initargs=(cfg, device, threads)) as pool:
            futures = [pool.submit(_run_in_worker, job, root) for job in jobs]
            for future in as_completed(futures):
                n, names = future.result()
                bar.update(n)
    return names


def run_jobs(jobs: list[ShardJob], root: Path, cfg: DictConfig, device: str) -> dict[str, str]:
    """Run ``jobs`` on the configured executor; returns the encoders used (name → weights)."""
    kind = cfg.executor.kind
    if kind == "local":
        return run_local(jobs, root, cfg, device)
    if kind == "ray":
        from ava.verbalize.ray_executor import run_ray

        return run_ray(jobs, root, cfg, device)
    raise ValueError(f"unknown executor.kind={kind!r}; use executor=local or executor=ray")
