"""python -m ava.train: tokenise a split once, in parallel, into a memory-mapped cache; read it without holding it.

A split (``DIR/SPLIT.jsonl`` or its shards, :mod:`ava.sample_files`) is streamed through :func:`encode_counted`
in chunks of :data:`CHUNK` samples by ``num_proc`` worker processes (at most two chunks a worker in flight, so
the reader never runs ahead of them), and written as flat files under
``CACHE/<key>/SPLIT/``: ``ids.i32`` (every token), ``mask.u8`` (1 where the token is learnt), ``offsets.i64``,
``lengths.i32`` and ``tasks.i16`` (per sample), ``meta.json`` (task names, counts). The key hashes the
tokenizer (its whole ``tokenizer.json``), the chat template, ``max_length``, the split's
:func:`ava.sample_files.fingerprint` and :data:`VERSION`, so any change builds a new cache and a rerun, a resume
or another sweep job reuses it. The folder is built under a temp name and renamed when complete: a killed
build leaves no cache that looks whole.

:class:`TokenCache` maps those files (``numpy.memmap``): resident memory is the pages in use, not the number
of samples. :meth:`TokenCache.by_task` gives per-task views (per-task validation). :class:`EpochLengthSampler`
groups by length like transformers' ``LengthGroupedSampler`` (same megabatch rule) from the cached lengths,
with a generator seeded by (seed, epoch): every rank draws the same order (each then takes its own batches),
and a run resumed in a later epoch draws that epoch's order exactly as the uninterrupted run did.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import shutil
import tempfile
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ava.runtime import loud_warning
from ava.sample import DatasetError, iter_samples
from ava.sample_files import fingerprint
from ava.train.data import IGNORE_INDEX, EncodeStats, encode_counted, no_target_left

VERSION = 1
CHUNK = 512  # samples a task: ~0.1-0.3 s of tokenising, so pickling a chunk costs little beside it
FILES = {"ids": ("ids.i32", np.int32), "mask": ("mask.u8", np.uint8), "offsets": ("offsets.i64", np.int64),
         "lengths": ("lengths.i32", np.int32), "tasks": ("tasks.i16", np.int16)}


def cache_key(tokenizer, max_length: int, split_path: Path) -> str:
    h = hashlib.blake2b(digest_size=12)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    h.update((backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))).encode())
    h.update(json.dumps([tokenizer.chat_template, int(max_length), fingerprint(split_path), VERSION]).encode())
    return h.hexdigest()


_WORKER: dict[str, Any] = {}


def _init_worker(tokenizer, max_length: int) -> None:
    torch.set_num_threads(1)
    _WORKER.update(tokenizer=tokenizer, max_length=max_length)


def _encode_chunk(samples: list[dict[str, Any]]) -> tuple[list[tuple[str, list[int], list[int]]], EncodeStats]:
    stats = EncodeStats()
    rows = []
    for sample in samples:
        got = encode_counted(sample, _WORKER["tokenizer"], _WORKER["max_length"], stats)
        if got is not None:
            rows.append((sample["task"], *got))
    return rows, stats


def _chunks(path: Path) -> Any:
    chunk: list[dict[str, Any]] = []
    for sample in iter_samples(path):
        chunk.append({"task": sample["task"], "messages": sample["messages"]})
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _build(path: Path, tokenizer, max_length: int, dest: Path, num_proc: int, desc: str) -> None:
    """Encode the split into the files of ``dest`` (a fresh folder) and its ``meta.json``."""
    stats, tasks = EncodeStats(), {}
    handles = {name: (dest / fname).open("wb") for name, (fname, _) in FILES.items()}
    offset = 0
    handles["offsets"].write(np.zeros(1, np.int64).tobytes())
    bar = tqdm(desc=desc, unit="sample", mininterval=2.0)

    def write(result: tuple[list[tuple[str, list[int], list[int]]], EncodeStats]) -> None:
        nonlocal offset
        rows, chunk_stats = result
        for task, ids, labels in rows:
            k = tasks.setdefault(task, len(tasks))
            ids_a = np.asarray(ids, np.int32)
            handles["ids"].write(ids_a.tobytes())
            handles["mask"].write((np.asarray(labels) != IGNORE_INDEX).astype(np.uint8).tobytes())
            offset += len(ids_a)
            handles["offsets"].write(np.int64(offset).tobytes())
            handles["lengths"].write(np.int32(len(ids_a)).tobytes())
            handles["tasks"].write(np.int16(k).tobytes())
        stats.add(chunk_stats)
        bar.update(chunk_stats.samples + chunk_stats.dropped_no_target)

    if num_proc > 1 and (why := _no_workers()):
        loud_warning(f"{desc}: tokenising in this process, not {num_proc} workers: {why}")
        num_proc = 1
    try:
        if num_proc <= 1:
            _init_worker(tokenizer, max_length)
            for chunk in _chunks(path):
                write(_encode_chunk(chunk))
        else:
            # spawn: torch (and its OpenMP pool) is loaded here; forking it is not safe
            with ProcessPoolExecutor(num_proc, mp_context=get_context("spawn"), initializer=_init_worker,
                                     initargs=(tokenizer, max_length)) as pool:
                pending: collections.deque[Future] = collections.deque()
                for chunk in _chunks(path):
                    pending.append(pool.submit(_encode_chunk, chunk))
                    if len(pending) >= 2 * num_proc:
                        write(pending.popleft().result())
                while pending:
                    write(pending.popleft().result())
    finally:
        bar.close()
        for fh in handles.values():
            fh.close()
    if not stats.samples:
        raise DatasetError(no_target_left(desc, max_length))
    meta = {"tasks": sorted(tasks, key=tasks.get), "stats": stats.as_dict(), "max_length": int(max_length),
            "source": str(path), "version": VERSION}
    (dest / "meta.json").write_text(json.dumps(meta, indent=1))


def cache_dir_for(configured: str | None) -> Path:
    """``data.token_cache``, else ``$AVA_CACHE/tokens`` (``~/.cache/ava/tokens``): shared by reruns and sweeps."""
    from ava.models.cache import cache_root

    return Path(configured).expanduser() if configured else cache_root().parent / "tokens"


def _no_workers() -> str | None:
    """Why worker processes cannot be started from here (a sweep launcher's worker), or None."""
    import multiprocessing

    if multiprocessing.current_process().daemon:
        return "this process is a daemonic worker, which may not start processes"
    method = multiprocessing.get_start_method(allow_none=True)
    if method not in (None, "fork", "spawn", "forkserver"):  # joblib's loky sets "loky": spawn cannot follow it
        return f"the process start method is {method!r} (a launcher's worker)"
    return None


def token_cache(path: Path, tokenizer, max_length: int, cache_dir: Path, num_proc: int, desc: str) -> TokenCache:
    """The cache of split ``path`` for this tokenizer/template/max_length, built first when missing."""
    path = Path(path)
    final = Path(cache_dir) / cache_key(tokenizer, max_length, path) / path.name.removesuffix(".jsonl")
    if not (final / "meta.json").is_file():
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
        try:
            _build(path, tokenizer, max_length, tmp, num_proc, desc)
            mask = os.umask(0o022)
            os.umask(mask)
            os.chmod(tmp, 0o777 & ~mask)  # mkdtemp makes 0700; a shared cache gets what mkdir would give it
            try:
                os.replace(tmp, final)
            except OSError:  # another job finished the same cache first: theirs is as good
                if not (final / "meta.json").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return TokenCache(final)


class TokenCache(torch.utils.data.Dataset):
    """One split's cached tokens, memory-mapped; items are ``{"input_ids", "labels"}`` for the pad collator."""

    def __init__(self, folder: Path, index: np.ndarray | None = None):
        self.folder = Path(folder)
        self.meta = json.loads((self.folder / "meta.json").read_text())
        self.arrays = {name: _map(self.folder / fname, dtype) for name, (fname, dtype) in FILES.items()}
        self.index = index

    def __len__(self) -> int:
        return len(self.index) if self.index is not None else len(self.arrays["lengths"])

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        j = int(self.index[i]) if self.index is not None else int(i)
        start, end = int(self.arrays["offsets"][j]), int(self.arrays["offsets"][j + 1])
        ids = np.asarray(self.arrays["ids"][start:end], np.int64)
        labels = np.where(self.arrays["mask"][start:end] == 1, ids, IGNORE_INDEX)
        return {"input_ids": ids.tolist(), "labels": labels.tolist()}

    @property
    def lengths(self) -> np.ndarray:
        lengths = self.arrays["lengths"]
        return np.asarray(lengths[self.index]) if self.index is not None else lengths

    @property
    def stats(self) -> EncodeStats:
        return EncodeStats.from_dict(self.meta["stats"])

    def by_task(self) -> dict[str, TokenCache]:
        """``{task: view}`` for every task (index arrays into the same mapped files)."""
        tasks = np.asarray(self.arrays["tasks"])
        return {name: TokenCache(self.folder, np.flatnonzero(tasks == k))
                for k, name in sorted(enumerate(self.meta["tasks"]), key=lambda kv: kv[1])}


def _map(path: Path, dtype: Any) -> np.ndarray:
    if path.stat().st_size == 0:
        return np.zeros(0, dtype)
    return np.memmap(path, dtype=dtype, mode="r")


def length_grouped_indices(lengths: np.ndarray, batch_size: int, generator: torch.Generator) -> np.ndarray:
    """transformers' ``get_length_grouped_indices`` in numpy: a random permutation cut into megabatches of
    ``50 * batch_size``, each sorted by length (longest first), the longest sample's megabatch first."""
    indices = torch.randperm(len(lengths), generator=generator).numpy()
    size = 50 * batch_size
    lens = np.asarray(lengths)
    megabatches = [m[np.argsort(-lens[m], kind="stable")] for m in np.split(indices, range(size, len(indices), size))]
    if not megabatches:
        return indices
    firsts = [int(lens[m[0]]) for m in megabatches]
    top = int(np.argmax(firsts))
    megabatches[0][[0]], megabatches[top][[0]] = megabatches[top][[0]], megabatches[0][[0]]
    return np.concatenate(megabatches)


class EpochLengthSampler(torch.utils.data.Sampler):
    """Length-grouped order from cached lengths, seeded by ``(seed, epoch)`` (the Trainer calls ``set_epoch``)."""

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed, self.epoch = lengths, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return map(int, length_grouped_indices(self.lengths, self.batch_size, g))  # no list of N ints
