"""python -m ava.verbalize input=ads.jsonl output_dir=DIR: verbalize every media item of an ad manifest.

Writes ``DIR/verbalized/shard-NNNNN.parquet`` (schema in schema.py) and ``DIR/verbalize_summary.json``.

Resumable by construction: the manifest is cut into shards of ``shard_size`` consecutive non-blank lines;
each shard is written atomically (temp file + rename) with a fingerprint of its lines and of the encoder
settings in the Parquet metadata. A rerun skips every shard whose fingerprint matches, so a run killed at
any moment and rerun gives exactly the rows of an uninterrupted run. ``retry_failed=true`` re-processes only
the error rows of finished shards. Bad input never stops the run: each bad media item becomes a row with
``status=error``, each malformed manifest line an entry (with its line number) in the summary.
Shards run on an executor (``executor=local``: this machine's cores; ``executor=ray``: a Ray cluster).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from omegaconf import DictConfig, OmegaConf

from ava.manifest import Ad, ManifestError, iter_manifest
from ava.runtime import atomic_write_bytes, peak_rss_mb, pick_device, write_json
from ava.verbalize.rows import check_vision
from ava.verbalize.schema import SCHEMA

log = logging.getLogger(__name__)
FINGERPRINT_KEY = b"ava.fingerprint"
FINGERPRINTED = ("vision", "ocr", "asr", "tags", "media")  # the settings rows depend on
Entry = Ad | ManifestError


def bundled_samples() -> Path:
    return Path(__file__).resolve().parent.parent / "samples" / "ads.jsonl"


@dataclass
class ShardJob:
    """One shard to (re)write: the (ad, media indices) to process and the rows kept from before."""

    index: int
    path: Path
    fingerprint: str
    items: list[tuple[Ad, list[int]]]
    kept: list[dict[str, Any]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(len(idx) for _, idx in self.items)

    def finish(self, new_rows: list[dict[str, Any]]) -> None:
        """Merge ``new_rows`` over the kept rows, in manifest order, and write the shard atomically."""
        by_key = {(r["manifest_line"], r["media_index"]): r for r in new_rows}
        rows = [by_key.pop((r["manifest_line"], r["media_index"]), r) for r in self.kept] + list(by_key.values())
        rows.sort(key=lambda r: (r["manifest_line"], r["media_index"]))
        table = pa.Table.from_pylist(rows, schema=SCHEMA)
        buf = io.BytesIO()
        pq.write_table(table.replace_schema_metadata({FINGERPRINT_KEY: self.fingerprint.encode()}), buf)
        atomic_write_bytes(self.path, buf.getvalue())


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


def plan(entries: list[Entry], shard_dir: Path, cfg: DictConfig) -> tuple[list[ShardJob], int]:
    """The shards still to write, and how many items earlier runs already finished."""
    settings = json.dumps(OmegaConf.to_container(OmegaConf.masked_copy(cfg, list(FINGERPRINTED)), resolve=True),
                          sort_keys=True)
    size = int(cfg.shard_size)
    shards = [entries[i: i + size] for i in range(0, len(entries), size)]
    for tmp in shard_dir.glob(".shard-*.tmp"):  # left by a run killed mid-write; never read
        tmp.unlink()
    for stale in sorted(shard_dir.glob("shard-*.parquet"))[len(shards):]:
        log.warning("removing %s: the manifest now has only %d shards", stale.name, len(shards))
        stale.unlink()
    jobs, skipped = [], 0
    for k, shard in enumerate(shards):
        path, fp = shard_dir / f"shard-{k:05d}.parquet", fingerprint(shard, settings)
        old = read_fingerprint(path) if path.exists() else None
        ads = [e for e in shard if isinstance(e, Ad)]
        if old != fp:
            if old is not None:
                log.warning("shard %s was written from other input or settings; redoing it", path.name)
            jobs.append(ShardJob(k, path, fp, [(a, list(range(len(a.media)))) for a in ads]))
            continue
        if not cfg.retry_failed:
            skipped += sum(len(a.media) for a in ads)
            continue
        kept = pq.read_table(path).to_pylist()
        failed = {(r["manifest_line"], r["media_index"]) for r in kept if r["status"] == "error"}
        skipped += len(kept) - len(failed)
        if failed:
            todo = [(a, [i for i in range(len(a.media)) if (a.line, i) in failed]) for a in ads]
            jobs.append(ShardJob(k, path, fp, [t for t in todo if t[1]], kept))
    return jobs, skipped


def verbalize(cfg: DictConfig) -> dict[str, Any]:
    """Run the verbalizer per ``cfg`` (conf/verbalize.yaml); returns the summary it writes."""
    from ava.verbalize.executors import run_jobs

    t0 = time.time()
    manifest = Path(cfg.input) if cfg.input else bundled_samples()
    out_dir = Path(cfg.output_dir)
    shard_dir = out_dir / "verbalized"
    entries = list(iter_manifest(manifest))
    jobs, skipped = plan(entries, shard_dir, cfg)
    device = pick_device(cfg.device)
    encoders: dict[str, str] | str = "none loaded (nothing to do)"
    if jobs:
        cfg = check_vision(cfg)
        encoders = run_jobs(jobs, manifest.resolve().parent, cfg, device)
    summary = summarise(shard_dir, entries, manifest, out_dir, encoders, device,
                        sum(j.size for j in jobs), skipped, t0)
    write_json(out_dir / "verbalize_summary.json", summary)
    log.info("verbalized %d items (%d ok, %d errors) into %s", summary["items"]["total"],
             summary["items"]["ok"], summary["items"]["error"], shard_dir)
    return summary


def summarise(shard_dir: Path, entries: list[Entry], manifest: Path, out_dir: Path,
              encoders: dict[str, str] | str, device: str, processed: int, skipped: int,
              t0: float) -> dict[str, Any]:
    files = sorted(shard_dir.glob("shard-*.parquet"))
    cols = ["status", "error_kind", "vision_backend", "media_type"]
    table = pq.read_table(files, columns=cols) if files else pa.table({c: pa.array([], pa.string()) for c in cols})
    status = Counter(table.column("status").to_pylist())
    return {
        "input": str(manifest),
        "output_dir": str(out_dir),
        "ads": sum(isinstance(e, Ad) for e in entries),
        "manifest_errors": [e.as_dict() for e in entries if isinstance(e, ManifestError)],
        "items": {"total": table.num_rows, "ok": status.get("ok", 0), "error": status.get("error", 0),
                  "processed_this_run": processed, "skipped_already_done": skipped},
        "error_kinds": dict(Counter(k for k in table.column("error_kind").to_pylist() if k)),
        "media_types": dict(Counter(k for k in table.column("media_type").to_pylist() if k)),
        "vision_backends": dict(Counter(k for k in table.column("vision_backend").to_pylist() if k)),
        "encoders": encoders,
        "device": device,
        "shards": len(files),
        "wall_time_s": round(time.time() - t0, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
