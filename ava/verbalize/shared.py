"""python -m ava.verbalize: a file shared by many ads is decoded and encoded once per run, and every ad keeps its row.

The rows made so far are kept in one SQLite file for the whole run, ``shared-files.sqlite`` in a scratch folder
(:class:`SharedFiles`), so every worker process of ``executor=local`` (and the Ray executor's driver) finds
what any other has made: the same bytes under any name, in ads with equal values of the record fields the
encoders read (:data:`~ava.encoders.base.RECORD_FIELDS`), under the run's settings (``shards.settings_key``:
media settings and encoders as resolved), are made into a row once; every other ad gets a copy
(:func:`copy_row`) with its own ids, path and a ``shared_file`` note naming the ad the row was made for.

The file lives for one run, in a private scratch folder under the system's temp dir (local disk: SQLite's WAL
needs shared memory and locks that network file systems under an ``output_dir`` may not give), flock-held while
the run goes on and removed when the executor returns; one a killed run left is removed by the next run. So a
copy never names an ad of another run's manifest and ``retry_failed=true`` never gets back the error rows it is
meant to redo. WAL mode and a busy timeout let the workers read while one writes; rows are stored as
zlib-compressed JSON (no pickles: nothing in the file is run), at most ``shared_cache_rows`` of them, the oldest
dropped first. Two workers that meet the same file at the same moment may both make it into a row (work done
twice, bounded by the number of workers); each ad still gets a row made from its file.

Only what the file's bytes decide is kept for the run: ok rows and the errors in :data:`SHARED_ERRORS`. A
``timeout``, an ``unreadable`` read or an encoder's ``internal`` error may not happen again, so it is not
kept (only the items of the same file held back in the same shard get a copy). The cache is a speed-up: when
SQLite fails (a full temp disk, a lock), the process warns once and goes on without it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import zlib
from pathlib import Path
from typing import Any

from ava.encoders.base import RECORD_FIELDS
from ava.manifest import Ad, MediaPathError, resolve_media
from ava.runtime import sha256_file
from ava.verbalize.rows import UNICODE_NOTE, unicode_note

BUSY_TIMEOUT_S = 60.0  # how long a worker waits for another's write before giving up (then: no sharing)
# errors the file's bytes decide, so the same bytes give them again: kept for the run. worker_died is kept too, so a
# file that kills its worker costs one worker, not one per ad (retry_failed=true redoes every copy).
SHARED_ERRORS = frozenset({"empty_file", "not_media", "format_refused", "too_large", "corrupt_image",
                           "decode_failed", "worker_died"})
log = logging.getLogger(__name__)


class SharedFiles:
    """One process's connection to the run's shared rows; ``path`` None or ``size`` 0: sharing is off."""

    def __init__(self, path: Path | None, settings: str, size: int):
        self.size = size
        self.settings = hashlib.sha256(settings.encode()).hexdigest()
        self.db = None
        if path is not None and size > 0:
            try:
                self.db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)  # autocommit
            except sqlite3.Error as exc:
                self._off(exc)

    def _off(self, exc: Exception) -> None:
        """Go on without sharing in this process (the cache only saves work), said once."""
        log.warning("shared-file rows are off in this process (%s: %s): a file shared by many ads is decoded "
                    "for each of them here", type(exc).__name__, exc)
        if self.db is not None:
            self.db.close()
        self.db = None

    @staticmethod
    def create(path: Path) -> None:
        """A new, empty file at ``path`` (before any worker opens it: WAL mode is set once, here)."""
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL, "
                       "row BLOB NOT NULL)")
        db.close()

    def key(self, ad: Ad, index: int, root: Path) -> tuple[str, Path] | None:
        """The item's content key and its file; None when sharing is off or the item has no readable regular
        file (decode_item makes its error row)."""
        if self.db is None:
            return None
        try:
            path = resolve_media(root, ad.media[index])
            if not path.is_file():
                return None
            digest = sha256_file(path)
        except (MediaPathError, OSError):
            return None
        fields = [ad.record.get(f) for f in RECORD_FIELDS]
        key = json.dumps([self.settings, digest, fields], sort_keys=True, default=str)
        return hashlib.sha256(key.encode()).hexdigest(), path

    def get(self, key: str) -> dict[str, Any] | None:
        """The row made for ``key`` in this run (by any process), or None."""
        if self.db is None:
            return None
        try:
            found = self.db.execute("SELECT row FROM rows WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            self._off(exc)
            return None
        return json.loads(zlib.decompress(found[0])) if found else None

    def put(self, key: str, row: dict[str, Any]) -> None:
        """Keep ``row`` for ``key`` (a row another process stored first is kept instead) and drop the oldest
        rows past ``size``."""
        if self.db is None or not (row["status"] == "ok" or row["error_kind"] in SHARED_ERRORS):
            return
        try:
            blob = zlib.compress(json.dumps(row, default=_plain).encode())
        except TypeError as exc:  # a value an encoder added that JSON cannot hold: this row is not shared
            log.debug("row of %s not shared: %s", row["media_path"], exc)
            return
        try:
            with self.db:  # one transaction: the insert and the eviction
                self.db.execute("BEGIN IMMEDIATE")
                self.db.execute("INSERT OR IGNORE INTO rows (key, row) VALUES (?, ?)", (key, blob))
                self.db.execute("DELETE FROM rows WHERE id <= (SELECT MAX(id) FROM rows) - ?", (self.size,))
        except sqlite3.Error as exc:
            self._off(exc)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def _plain(value: Any) -> Any:
    """numpy scalars and arrays in a row (an encoder's output) as JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} in a row cannot be shared")


def copy_row(first: dict[str, Any], ad: Ad, index: int, path: Path) -> dict[str, Any]:
    """``first`` (a row made from the same file) as ``ad``'s item ``index`` found at ``path``: its own ids,
    manifest line, media index and path, its own ``unicode_name`` note, and a ``shared_file`` note; an error's
    message (which may name the first item's file) says whose it was."""
    row = dict(first, ad_id=ad.id, manifest_line=ad.line, media_index=index, media_path=ad.media[index])
    notes = [n for n in first["notes"] or [] if not n.startswith(f"{UNICODE_NOTE}:")]  # about its path, not its file
    if (note := unicode_note(ad.media[index], path)) is not None:
        notes.append(note)
    whose = f"ad {first['ad_id']} item {first['media_index']} (line {first['manifest_line']})"
    row["notes"] = [*notes, f"shared_file: the same file as {whose}, whose row this is: not decoded again"]
    if first["status"] == "error":
        row["error"] = f"the same file as {whose}, {first['media_path']}: {first['error']}"
    return row


class Dedup:
    """Sorts the items of one batch (a shard, a Ray window) into copies of rows made earlier in the run, items
    to make into rows, and items held back until the first item of their file in the batch has its row."""

    def __init__(self, shared: SharedFiles, root: Path):
        self.shared, self.root = shared, root
        self.keys: dict[tuple[int, int], str] = {}  # (line, index) of an item being made -> its content key
        self.held: dict[str, list[tuple[Ad, int, Path]]] = {}  # content key -> items waiting for its row

    def route(self, ad: Ad, index: int) -> tuple[dict[str, Any] | None, bool]:
        """``(copy, False)``: the item's row, copied; ``(None, True)``: make it (then :meth:`made`);
        ``(None, False)``: held back, its copy comes from :meth:`made` of the first item of its file."""
        found = self.shared.key(ad, index, self.root)
        if found is None:
            return None, True
        key, path = found
        if (first := self.shared.get(key)) is not None:
            if (first["manifest_line"], first["media_index"]) == (ad.line, index):
                return first, False  # this item's own row (a shard rerun after its worker died)
            return copy_row(first, ad, index, path), False
        if key in self.held:
            self.held[key].append((ad, index, path))
            return None, False
        self.keys[(ad.line, index)] = key
        self.held[key] = []
        return None, True

    def made(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """``row`` (made for an item :meth:`route` said to make) and copies of it for the items held back."""
        key = self.keys.pop((row["manifest_line"], row["media_index"]), None)
        if key is None:
            return [row]
        self.shared.put(key, row)
        return [row] + [copy_row(row, ad, index, path) for ad, index, path in self.held.pop(key)]
