"""python -m ava.verbalize input=ads.jsonl output_dir=DIR: verbalize every media item of an ad manifest.

Writes ``DIR/verbalized/shard-NNNNN.parquet`` (schema in schema.py) and ``DIR/verbalize_summary.json``.

    resolve encoders (base.py) ─▶ stream the manifest into shards, skip finished ones (shards.py)
        ─▶ executor (executors.py / ray_executor.py): decode_item, describe_items (rows.py) ─▶ atomic shards

Resumable by construction (shards.py): a run killed at any moment and rerun gives exactly the rows of an
uninterrupted run, and a rerun after encoder weights appear redoes the shards written without them.
``retry_failed=true`` re-processes only the error rows of finished shards. Bad input never stops the run:
each bad media item becomes a row with ``status=error``, each malformed manifest line an entry (with its line
number) in the summary.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ava.encoders.base import resolve_encoders
from ava.jsonl import count_records
from ava.lock import output_lock
from ava.manifest import iter_manifest
from ava.runtime import check_output_dir, peak_rss_mb, pick_device, scratch_dir, write_json
from ava.verbalize.executors import Work
from ava.verbalize.shards import Plan, settings_key
from ava.verbalize.shared import SharedFiles

log = logging.getLogger(__name__)
# encoders that run on torch (when their weights resolved): only then is torch imported to choose the device
TORCH_ENCODERS = ("ava.encoders.clip.", "ava.encoders.caption.")
SHARED_SCRATCH = "ava-verbalize-shared-"  # the run's shared rows: a scratch folder under the temp dir (shared.py)


def bundled_samples() -> Path:
    return Path(__file__).resolve().parent.parent / "samples" / "ads.jsonl"


def verbalize(cfg: DictConfig) -> dict[str, Any]:
    """Run the verbalizer per ``cfg`` (conf/verbalize.yaml); returns the summary it writes."""
    t0 = time.time()
    manifest = Path(cfg.input) if cfg.input else bundled_samples()
    out_dir = Path(cfg.output_dir)
    check_output_dir(out_dir)  # before the first shard is processed, not when it is written
    with output_lock(out_dir, "ava.verbalize"):  # a second run on the folder stops here, naming this one's PID
        return _verbalize(cfg, manifest, out_dir, t0)


def _verbalize(cfg: DictConfig, manifest: Path, out_dir: Path, t0: float) -> dict[str, Any]:
    shard_dir = out_dir / "verbalized"
    encoders = resolve_encoders(cfg.encoders)
    media = OmegaConf.to_container(cfg.media, resolve=True)
    settings = settings_key(media, encoders)
    plan = Plan(iter_manifest(manifest), shard_dir, settings, int(cfg.shard_size), bool(cfg.retry_failed))
    torch_runs = any(r.config["_target_"].startswith(TORCH_ENCODERS) for r in encoders)
    device = pick_device(cfg.device, torch_runs=torch_runs)
    shards = -(-count_records(manifest) // int(cfg.shard_size)) if cfg.progress else None  # the bar's total
    rows = int(cfg.shared_cache_rows)
    # the run's shared rows live for one run, on local disk (ava/verbalize/shared.py says why)
    with scratch_dir(tempfile.gettempdir(), SHARED_SCRATCH) as scratch:
        shared = scratch / "shared-files.sqlite" if rows > 0 else None
        if shared is not None:
            SharedFiles.create(shared)
        work = Work(manifest.resolve().parent, cfg.media, encoders, device, bool(cfg.progress), shards, shared,
                    rows, settings)
        processed = instantiate(cfg.executor).run(plan.jobs(), work)
    summary = summarise(plan, manifest, out_dir, {r.key: r.weights.name for r in encoders}, device,
                        processed, t0)
    write_json(out_dir / "verbalize_summary.json", summary)
    log.info("verbalized %d items (%d ok, %d errors) into %s", summary["items"]["total"],
             summary["items"]["ok"], summary["items"]["error"], shard_dir)
    return summary


def summarise(plan: Plan, manifest: Path, out_dir: Path, encoders: dict[str, str], device: str,
              processed: int, t0: float) -> dict[str, Any]:
    """Counts over the plan's shards, read a shard at a time (memory does not grow with the manifest)."""
    files = plan.written()
    counts: dict[str, Counter] = {c: Counter() for c in ("status", "error_kind", "vision_backend", "media_type")}
    notes: Counter = Counter()  # rows per note kind (audio_cut, truncated, exif_orientation, ...)
    rows = 0
    for f in files:
        table = pq.read_table(f, columns=[*counts, "notes"])
        rows += table.num_rows
        for col, counter in counts.items():
            counter.update(v for v in table.column(col).to_pylist() if v)
        notes.update(n.split(":", 1)[0] for row in table.column("notes").to_pylist() for n in row or [])
    return {
        "input": str(manifest),
        "output_dir": str(out_dir),
        "ads": plan.ads,
        "manifest_errors": [e.as_dict() for e in plan.manifest_errors],
        "manifest_normalised": dict(sorted(plan.normalised.items())),
        "items": {"total": rows, "ok": counts["status"].get("ok", 0), "error": counts["status"].get("error", 0),
                  "processed_this_run": processed, "skipped_already_done": plan.skipped},
        "error_kinds": dict(counts["error_kind"]),
        "media_types": dict(counts["media_type"]),
        "notes": dict(sorted(notes.items())),
        "vision_backends": dict(counts["vision_backend"]),
        "encoders": encoders,
        "device": device,
        "shards": len(files),
        "wall_time_s": round(time.time() - t0, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
