"""python -m ava.verbalize: cutting the manifest into shards, fingerprinting them, and writing them atomically.

The manifest is read as a stream and cut into shards of ``shard_size`` consecutive non-blank lines, so memory
holds one shard's records at a time, however many ads there are. Each shard is written atomically (temp file
+ rename) with a fingerprint in its Parquet metadata: a hash of its lines, of the ``media`` settings and of the
encoders *as resolved* (their config, names and weights: ava/encoders/base.py), not as requested. A rerun
skips every shard whose fingerprint matches and whose pages all decode (a corrupted data page under an intact
footer is redone, not trusted), and redoes the others, so a shard written while CLIP weights were missing is
redone once they are supplied, and a rerun with nothing new processes nothing. Shards numbered beyond the
manifest's last shard are removed by their number (a killed run can leave gaps).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ava.encoders.base import Resolved
from ava.manifest import Ad, ManifestError
from ava.runtime import write_table
from ava.verbalize.schema import SCHEMA

log = logging.getLogger(__name__)
FINGERPRINT_KEY = b"ava.fingerprint"
_SHARD_NAME = re.compile(r"shard-(\d+)\.parquet")
Entry = Ad | ManifestError


@dataclass
class ShardJob:
    """One shard to (re)write: the (ad, media indices) to process and the rows kept from before."""

    index: int
    path: Path
    fingerprint: str
    items: list[tuple[Ad, list[int]]]
    kept: list[dict[str, Any]] = field(default_factory=list)
    died: dict[tuple[int, int], str] = field(default_factory=dict)  # (line, index) -> why: worker_died rows

    @property
    def inflight(self) -> Path:
        """Names the item a worker is processing (ava/verbalize/executors.py), so a dead worker's item is known."""
        return self.path.with_name(f".inflight-{self.index:05d}")

    def mark(self, *key: Any) -> None:
        """Record what is being processed: ``(line, index)``, ``"encoders"``, or ``None`` to clear."""
        if key == (None,):
            self.inflight.unlink(missing_ok=True)
        else:
            self.inflight.write_text(" ".join(map(str, key)))

    def held(self) -> tuple[int, int] | str | None:
        """What :meth:`mark` last recorded: ``(line, index)``, ``"encoders"``, or None."""
        try:
            parts = self.inflight.read_text().split()
        except OSError:
            return None
        return (int(parts[0]), int(parts[1])) if len(parts) == 2 else " ".join(parts) or None

    @property
    def size(self) -> int:
        return sum(len(idx) for _, idx in self.items)

    def finish(self, new_rows: list[dict[str, Any]]) -> None:
        """Merge ``new_rows`` over the kept rows, in manifest order, and write the shard atomically."""
        by_key = {(r["manifest_line"], r["media_index"]): r for r in new_rows}
        rows = [by_key.pop((r["manifest_line"], r["media_index"]), r) for r in self.kept] + list(by_key.values())
        rows.sort(key=lambda r: (r["manifest_line"], r["media_index"]))
        table = pa.Table.from_pylist(rows, schema=SCHEMA)
        write_table(self.path, table.replace_schema_metadata({FINGERPRINT_KEY: self.fingerprint.encode()}))
        self.mark(None)


def settings_key(media: dict[str, Any], encoders: list[Resolved]) -> str:
    """What the rows depend on besides the manifest lines: media settings and the resolved encoders."""
    return json.dumps({"media": media, "encoders": [asdict(r) for r in encoders]}, sort_keys=True, default=str)


def fingerprint(entries: list[Entry], settings: str) -> str:
    h = hashlib.sha256(settings.encode())
    for e in entries:
        h.update(json.dumps(e.record if isinstance(e, Ad) else e.as_dict(), sort_keys=True).encode())
        h.update(str(e.line).encode())
    return h.hexdigest()


def read_fingerprint(path: Path) -> str | None:
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return None
    value = meta.get(FINGERPRINT_KEY)
    return value.decode() if value else None


def read_whole(path: Path) -> pa.Table | None:
    """The shard's table, or None when a page does not decode (an intact footer over a corrupted data page)."""
    try:
        return pq.ParquetFile(path).read()
    except (OSError, pa.ArrowException):
        return None


@dataclass
class Plan:
    """Streams the shards still to write (:meth:`jobs`) and counts the manifest on the way."""

    entries: Iterable[Entry]
    shard_dir: Path
    settings: str
    shard_size: int
    retry_failed: bool = False
    ads: int = 0
    shards: int = 0
    skipped: int = 0   # items finished by earlier runs
    manifest_errors: list[ManifestError] = field(default_factory=list)
    normalised: Counter = field(default_factory=Counter)  # ava.manifest.normalise_record's changes, counted

    def jobs(self) -> Iterator[ShardJob]:
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        for tmp in [*self.shard_dir.glob(".shard-*.tmp"), *self.shard_dir.glob(".inflight-*")]:
            tmp.unlink()  # left by a run killed mid-write or mid-shard; never read
        it = iter(self.entries)
        while shard := list(islice(it, self.shard_size)):
            job = self._job(self.shards, shard)
            self.shards += 1
            if job is not None:
                yield job
        for stale in self.shard_dir.glob("shard-*.parquet"):  # by number: a killed run may have left gaps
            m = _SHARD_NAME.fullmatch(stale.name)
            if m and int(m.group(1)) >= self.shards:
                log.warning("removing %s: the manifest now has only %d shards", stale.name, self.shards)
                stale.unlink()

    def path(self, k: int) -> Path:
        return self.shard_dir / f"shard-{k:05d}.parquet"

    def written(self) -> list[Path]:
        """This plan's shard files on disk (after :meth:`jobs` has run), not other files that match the name."""
        return [p for p in map(self.path, range(self.shards)) if p.exists()]

    def _job(self, k: int, shard: list[Entry]) -> ShardJob | None:
        ads = [e for e in shard if isinstance(e, Ad)]
        self.ads += len(ads)
        self.normalised.update(change for a in ads for change in a.normalised)
        self.manifest_errors += [e for e in shard if isinstance(e, ManifestError)]
        path, fp = self.path(k), fingerprint(shard, self.settings)
        old = read_fingerprint(path) if path.exists() else None
        done = read_whole(path) if old == fp else None
        if old == fp and done is None:
            log.warning("shard %s has the right fingerprint but its data cannot be read; redoing it", path.name)
            old = None
        if old != fp:
            if old is not None:
                log.warning("shard %s was written from other input, settings or encoder weights; redoing it",
                            path.name)
            return ShardJob(k, path, fp, [(a, list(range(len(a.media)))) for a in ads])
        if not self.retry_failed:
            self.skipped += sum(len(a.media) for a in ads)
            return None
        kept = done.to_pylist()
        failed = {(r["manifest_line"], r["media_index"]) for r in kept if r["status"] == "error"}
        self.skipped += len(kept) - len(failed)
        if not failed:
            return None
        todo = [(a, [i for i in range(len(a.media)) if (a.line, i) in failed]) for a in ads]
        return ShardJob(k, path, fp, [t for t in todo if t[1]], kept)
