"""python -m ava.build_dataset writes them, python -m ava.train and python -m ava.evaluate read them: the files
that hold instruction samples (the sample itself is defined in ``ava.sample``; this is only its files).

A split ``SPLIT`` of a dataset folder ``DIR`` is either

- ``DIR/SPLIT.jsonl``: one JSON sample a line (the README's contract; hand-made data), or
- shards ``DIR/SPLIT-00000.jsonl.zst``, ``DIR/SPLIT-00001.jsonl.zst``, ...: the same lines, each shard a run of
  zstd frames (:data:`FRAME_BYTES` of lines each, so a shard streams in bounded memory), what build_dataset
  writes by default (``samples.format``). ``zstd -dc DIR/train-*.jsonl.zst`` gives the JSONL back.

Readers ask for ``DIR/SPLIT.jsonl``; :func:`split_files` resolves it to the plain file when it exists, else to
its shards in order; a split held both ways is refused (:class:`DatasetError`: which one is current cannot be
told), :func:`missing_split` words the error for a split held neither way and :func:`split_label` names a
split in reports. :func:`iter_sample_lines` yields ``(file, 1-based line number, object | LineError)`` over all
of them with the rules of :mod:`ava.jsonl` (line numbers count within each shard). :func:`fingerprint` names a
split's content cheaply (file names, sizes and the first and last MiB of each), so a resumed training run or a
token cache notices a different dataset.
:class:`ShardWriter` and :class:`JsonlWriter` write atomically: temp files, renamed into place only when
``commit`` (``finish`` + ``publish``) is called, which then removes every earlier file of the split, plain and
sharded. A publish renames several files; while it does, a marker ``DIR/.SPLIT.publishing`` exists, so a split
whose publish was killed part way (new shards beside old ones) is refused by readers until it is written again.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ava.jsonl import LineError, iter_jsonl_stream
from ava.runtime import atomic_write_bytes, temp_beside

SHARD_SUFFIX = ".jsonl.zst"
# One zstd frame per 8 MiB of lines: the compressor sees a whole advertiser's samples at once (their repeated
# ad text is what compresses), and a reader holds one frame's window, not the shard.
FRAME_BYTES = 8 << 20
_SHARD = re.compile(r"-(\d{5})\.jsonl\.zst$")
FINGERPRINT_BYTES = 1 << 20


class DatasetError(ValueError):
    """A missing, empty, ambiguous or malformed sample file (the message names the file, the line and the fix)."""


def split_files(path: str | Path) -> list[Path]:
    """The files holding ``DIR/SPLIT.jsonl``: itself when it is a file, else its shards in order ([] if none).
    Both at once raise :class:`DatasetError` (a build that stopped while replacing one with the other, or a
    hand-made file beside a build's shards)."""
    path = Path(path)
    if (marker := _publishing(path)).exists():
        raise DatasetError(f"{path.parent} holds a half-replaced split {path.name.removesuffix('.jsonl')!r}: a "
                           f"python -m ava.build_dataset run stopped while renaming its new files into place "
                           f"({marker.name} is left), so its files may mix two builds; rerun build_dataset")
    shards = _shards(path)
    if path.is_file() and shards:
        raise DatasetError(f"{path} and its shards {_shard_pattern(path)} ({len(shards)}) both exist, so which one "
                           "holds the split cannot be told; remove the stale one (python -m ava.build_dataset "
                           "replaces both)")
    return [path] if path.is_file() else shards


def missing_split(path: str | Path) -> str:
    """The error's words for a split held neither way."""
    path = Path(path)
    return (f"neither {path} nor its shards {_shard_pattern(path)} exist; give the output_dir of python -m "
            f"ava.build_dataset (or a folder with a hand-made {path.name})")


def split_label(path: str | Path) -> str:
    """The split as a report names what it read: its one file, or ``DIR/SPLIT-NNNNN.jsonl.zst (K shards)``."""
    files = split_files(path)
    return str(files[0]) if len(files) == 1 else f"{_shard_pattern(Path(path))} ({len(files)} shards)"


def _publishing(path: Path) -> Path:
    """The marker a writer's publish leaves while it renames a split's files into place (gone once done)."""
    return path.parent / f".{path.name.removesuffix('.jsonl')}.publishing"


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[None]:
    """Rename a split's new files into place inside this block: a kill part way leaves the marker, which
    readers refuse (:func:`split_files`) until a writer publishes the split whole."""
    marker = _publishing(path)
    atomic_write_bytes(marker, b"")
    yield
    marker.unlink(missing_ok=True)


def publish_together(writers: dict[str, JsonlWriter | ShardWriter]) -> dict[str, list[Path]]:
    """Publish finished writers of one dataset, ``{split: writer}``: every split's marker is left first, so a
    kill after one split is published leaves the later ones refused, not an earlier build's beside a new one."""
    for writer in writers.values():
        atomic_write_bytes(_publishing(writer.out / f"{writer.split}.jsonl"), b"")
    return {split: writer.publish() for split, writer in writers.items()}


def _shard_pattern(path: Path) -> Path:
    return path.parent / f"{path.name.removesuffix('.jsonl')}-NNNNN{SHARD_SUFFIX}"


def _shards(path: Path) -> list[Path]:
    stem = path.name.removesuffix(".jsonl")
    return sorted(p for p in path.parent.glob(f"{glob_escape(stem)}-*{SHARD_SUFFIX}")
                  if p.name[: -len("-00000" + SHARD_SUFFIX)] == stem and _SHARD.search(p.name))


def _earlier_files(path: Path) -> list[Path]:
    """Every file a writer's commit replaces: ``DIR/SPLIT.jsonl`` and all its shards, whichever exist."""
    return ([path] if path.is_file() else []) + _shards(path)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _open(path: Path) -> io.BufferedReader:
    if path.name.endswith(".zst"):
        import pyarrow as pa

        return io.BufferedReader(pa.input_stream(str(path), compression="zstd"))
    return path.open("rb")


def iter_sample_lines(path: str | Path, allow_nan: bool = False
                      ) -> Iterator[tuple[Path, int, Any | LineError]]:
    """``(file, line number, object | LineError)`` for every non-blank line of the split ``path`` names."""
    for file in split_files(path):
        line_no = 0
        try:
            with _open(file) as fh:
                for line_no, obj in iter_jsonl_stream(fh, allow_nan):
                    yield file, line_no, obj
        except OSError as exc:  # a shard cut short (a partial copy) or corrupt: zstd's error names no file
            if not file.name.endswith(".zst"):
                raise
            raise DatasetError(f"{file}: cannot be decompressed after line {line_no} ({exc}): the shard is cut "
                               "short or corrupt; copy it again or rebuild the dataset") from None


def fingerprint(path: str | Path) -> str:
    """A digest of the split's files: names, sizes, and the first and last MiB of each (not a full read, so a
    50M-sample set is named in milliseconds; an edit inside a file that keeps its size and both ends is missed)."""
    h = hashlib.blake2b(digest_size=16)
    for file in split_files(path):
        size = file.stat().st_size
        h.update(json.dumps([file.name, size]).encode())
        with file.open("rb") as fh:
            h.update(fh.read(FINGERPRINT_BYTES))
            if size > FINGERPRINT_BYTES:
                fh.seek(max(FINGERPRINT_BYTES, size - FINGERPRINT_BYTES))
                h.update(fh.read())
    return h.hexdigest()


class _SplitWriter(abc.ABC):
    """What both writers share: ``with`` aborts on an exception, ``commit`` = ``finish`` + ``publish``."""

    out: Path
    split: str

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()

    def commit(self) -> list[Path]:
        self.finish()
        return self.publish()

    @abc.abstractmethod
    def finish(self) -> None: ...

    @abc.abstractmethod
    def publish(self) -> list[Path]: ...

    @abc.abstractmethod
    def abort(self) -> None: ...


class JsonlWriter(_SplitWriter):
    """Write one split as ``DIR/SPLIT.jsonl`` (the plain contract), with :class:`ShardWriter`'s interface."""

    def __init__(self, out: str | Path, split: str):
        self.out, self.split = Path(out), split
        fd, tmp = temp_beside(self.out / f"{split}.jsonl")  # made exclusively: a planted link is not followed
        self.tmp: Path | None = tmp
        self._fh = os.fdopen(fd, "wb")
        self.samples = self.bytes_in = 0

    def write(self, line: str) -> None:
        data = line.encode("utf-8") + b"\n"
        self._fh.write(data)
        self.samples += 1
        self.bytes_in += len(data)

    def finish(self) -> None:
        """Put the written lines on disk; a failure (a full disk) removes the temp file and raises."""
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        except BaseException:
            self.abort()
            raise

    def publish(self) -> list[Path]:
        """Rename the finished temp file into place; remove the split's earlier shards."""
        dst = self.out / f"{self.split}.jsonl"
        old = _earlier_files(dst)
        with _replacing(dst):
            os.replace(self.tmp, dst)
            self.tmp = None
            for stale in old:
                if stale != dst:
                    stale.unlink(missing_ok=True)
        return [dst]

    def abort(self) -> None:
        with contextlib.suppress(OSError):  # closing flushes: on a full disk that fails again, the file goes anyway
            self._fh.close()
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None


FORMATS = ("jsonl", "jsonl.zst")


def open_writer(out: str | Path, split: str, fmt: str, shard_samples: int, level: int) -> JsonlWriter | ShardWriter:
    """The writer for ``samples.format`` (conf/build_dataset.yaml): ``jsonl`` or ``jsonl.zst`` shards."""
    if fmt == "jsonl":
        return JsonlWriter(out, split)
    if fmt == "jsonl.zst":
        return ShardWriter(out, split, shard_samples, level)
    raise ValueError(f"samples.format={fmt!r} is not one of {', '.join(FORMATS)}")


class ShardWriter(_SplitWriter):
    """Write one split as ``DIR/SPLIT-NNNNN.jsonl.zst`` shards of ``shard_samples`` lines each.

    Lines go to temp files in ``DIR``; :meth:`commit` renames them into place and removes the split's earlier
    files (``SPLIT.jsonl`` and shards); :meth:`abort` (or an exception inside ``with``) removes the temp files and
    leaves the earlier files as they were.
    """

    def __init__(self, out: str | Path, split: str, shard_samples: int, level: int = 9):
        if shard_samples < 1:
            raise ValueError(f"shard_samples={shard_samples}: must be >= 1")
        import pyarrow as pa

        self.out, self.split, self.shard_samples = Path(out), split, int(shard_samples)
        self.codec = pa.Codec("zstd", compression_level=int(level))
        self.temps: list[Path] = []
        self.samples = self.bytes_in = 0
        self._fh: Any = None
        self._buf: list[bytes] = []
        self._buf_bytes = 0
        self._in_shard = 0

    def write(self, line: str) -> None:
        """One sample, already serialised as one JSON line (no newline)."""
        if self._fh is None or self._in_shard >= self.shard_samples:
            self._next_shard()
        data = line.encode("utf-8") + b"\n"
        self._buf.append(data)
        self._buf_bytes += len(data)
        self._in_shard += 1
        self.samples += 1
        self.bytes_in += len(data)
        if self._buf_bytes >= FRAME_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            self._fh.write(self.codec.compress(b"".join(self._buf), asbytes=True))
            self._buf, self._buf_bytes = [], 0

    def _next_shard(self) -> None:
        self._close_shard()
        fd, tmp = temp_beside(self.out / f"{self.split}-{len(self.temps):05d}{SHARD_SUFFIX}")
        self.temps.append(tmp)
        self._fh = os.fdopen(fd, "wb")
        self._in_shard = 0

    def _close_shard(self) -> None:
        if self._fh is not None:
            self._flush()
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def finish(self) -> None:
        """Put the last shard on disk (an empty split gets one empty shard); a failure (a full disk) removes every
        temp shard and raises."""
        try:
            if not self.temps:
                self._next_shard()
            self._close_shard()
        except BaseException:
            self.abort()
            raise

    def publish(self) -> list[Path]:
        """Rename the finished shards into place; remove the split's earlier ``SPLIT.jsonl`` and surplus shards;
        return them."""
        old = _earlier_files(self.out / f"{self.split}.jsonl")
        final = [self.out / f"{self.split}-{i:05d}{SHARD_SUFFIX}" for i in range(len(self.temps))]
        with _replacing(self.out / f"{self.split}.jsonl"):
            for tmp, dst in zip(self.temps, final, strict=True):
                os.replace(tmp, dst)
            for stale in old:
                if stale not in final:
                    stale.unlink(missing_ok=True)
        self.temps = []
        return final

    def abort(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):  # as JsonlWriter.abort
                self._fh.close()
            self._fh = None
        for tmp in self.temps:
            tmp.unlink(missing_ok=True)
        self.temps = []
