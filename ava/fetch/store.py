"""python -m ava.fetch: ``OUT/ads.jsonl``, appended a page at a time, every ad once.

On opening, a last line cut short by a kill is cut off (announced) and the ids already in the file are read, so
that a page fetched again after a kill (written, but its cursor not yet checkpointed) adds nothing twice. An
ad's key is its ``id`` as :func:`ava.manifest.normalise_record` finds it (``id``, else a Mongo ``_id``, else the
``id=`` of ``ad_snapshot_url``); a record with none is keyed by the SHA-256 of its JSON.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from ava.jsonl import LineError, iter_jsonl
from ava.manifest import normalise_record
from ava.runtime import open_nofollow

log = logging.getLogger(__name__)

ADS_FILE = "ads.jsonl"


def ad_key(record: dict[str, Any]) -> str:
    ad_id = normalise_record(record)[0].get("id")
    if isinstance(ad_id, (str, int)) and not isinstance(ad_id, bool) and str(ad_id).strip():
        return str(ad_id)
    return "sha256:" + hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def repair_tail(path: Path) -> int:
    """Cut a last line that has no newline (a write cut short); return the bytes removed."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with os.fdopen(open_nofollow(path, os.O_RDWR), "rb+") as fh:  # a planted link is refused, not cut
        size = fh.seek(0, os.SEEK_END)
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        block = 1 << 16
        pos = size
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            pos = start
        else:
            keep = 0
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
        return size - keep


class AdStore:
    """Appends new ads to ``OUT/ads.jsonl`` and remembers every key written (this run and before)."""

    def __init__(self, out: Path) -> None:
        self.path = out / ADS_FILE
        cut = repair_tail(self.path)
        if cut:
            log.warning("%s: removed an unfinished last line (%d bytes, cut by a kill); its ads are fetched "
                        "again", self.path, cut)
        self.keys: set[str] = set()
        self.bad_lines: list[int] = []
        if self.path.exists():
            for line, rec in iter_jsonl(self.path):
                if isinstance(rec, LineError) or not isinstance(rec, dict):
                    self.bad_lines.append(line)
                else:
                    self.keys.add(ad_key(rec))
        if self.bad_lines:
            log.warning("%s: %d lines are not JSON objects (first: line %d); kept as they are",
                        self.path, len(self.bad_lines), self.bad_lines[0])
        self.existing = len(self.keys)
        self.fh = os.fdopen(open_nofollow(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "ab")

    def add(self, records: list[dict[str, Any]]) -> tuple[int, int]:
        """Append the records not seen before, in one write, flushed to disk: (added, duplicates dropped)."""
        lines = []
        dups = 0
        for rec in records:
            key = ad_key(rec)
            if key in self.keys:
                dups += 1
                continue
            self.keys.add(key)
            lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
        if lines:
            self.fh.write("".join(lines).encode())
            self.fh.flush()
            os.fsync(self.fh.fileno())
        return len(lines), dups

    def close(self) -> None:
        self.fh.close()
