"""python -m ava.verbalize input=ads.jsonl output_dir=DIR: verbalize every media item of an ad manifest.

Writes ``DIR/verbalized/shard-NNNNN.parquet`` (schema in schema.py) and ``DIR/verbalize_summary.json``.

Resumable by construction: the manifest is cut into shards of ``shard_size`` consecutive non-blank lines;
each shard is written atomically (temp file + rename) with a fingerprint of its lines and of the encoder
settings in the Parquet metadata. A rerun skips every shard whose fingerprint matches, so a run killed at
any moment and rerun gives exactly the rows of an uninterrupted run. ``retry_failed=true`` re-processes only
the error rows of finished shards. Bad input never stops the run: each bad media item becomes a row with
``status=error``, each malformed manifest line an entry (with its line number) in the summary.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
import traceback
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from ava.encoders.clip import WeightsUnavailable
from ava.manifest import Ad, ManifestError, MediaPathError, iter_manifest, resolve_media
from ava.media.ffmpeg import MediaError
from ava.media.image import count_faces, dominant_colours
from ava.media.phash import phash_hex
from ava.runtime import atomic_write_bytes, loud_warning, peak_rss_mb, pick_device, write_json
from ava.verbalize.decode import Decoded, decode
from ava.verbalize.schema import SCHEMA
from ava.verbalize.template import render

log = logging.getLogger(__name__)
FINGERPRINT_KEY = b"ava.fingerprint"
FINGERPRINTED = ("vision", "ocr", "asr", "tags", "media")
Entry = Ad | ManifestError


def bundled_samples() -> Path:
    return Path(__file__).resolve().parent.parent / "samples" / "ads.jsonl"


@dataclass
class Encoders:
    vision: Any
    ocr: Any
    asr: Any
    vision_backend: str

    def describe(self) -> dict[str, str]:
        return {"vision": self.vision_backend, "ocr": getattr(self.ocr, "name", "none"),
                "asr": getattr(self.asr, "name", "none")}


def load_encoders(cfg: DictConfig, device: str) -> Encoders:
    """Instantiate the configured encoders; a missing CLIP is announced once and the run goes on."""
    vision, backend = None, "none"
    if cfg.get("vision"):
        try:
            vision = instantiate(cfg.vision, device=device, _convert_="all")
            backend = vision.name
        except InstantiationException as exc:
            if not isinstance(exc.__cause__, WeightsUnavailable):
                raise
            loud_warning(f"{exc.__cause__}. Continuing WITHOUT CLIP: no embeddings or tags (vision_backend='none' in "
                         "every row); pHash, colours and faces are still computed.")
    ocr = instantiate(cfg.ocr, _convert_="all") if cfg.get("ocr") else None
    asr = instantiate(cfg.asr, device=device, _convert_="all") if cfg.get("asr") else None
    return Encoders(vision, ocr, asr, backend)


def _new_row(ad: Ad, index: int, rel: str) -> dict[str, Any]:
    row: dict[str, Any] = {name: None for name in SCHEMA.names}
    row.update(ad_id=ad.id, manifest_line=ad.line, media_index=index, media_path=rel, verbalization="",
               ocr_text="", transcript="", colours=[], scenes=[])
    return row


def _fail(row: dict[str, Any], kind: str, message: str) -> None:
    row.update(status="error", error_kind=kind, error=message, embedding=None)


def _describe(row: dict[str, Any], dec: Decoded, enc: Encoders) -> None:
    """Everything but CLIP: OCR, speech, colours, faces and pHash, per scene and for the item."""
    transcript = enc.asr.transcribe(dec.pcm) if enc.asr is not None and dec.pcm is not None else None
    rep = dec.representative
    scenes = []
    for sc in dec.scenes:
        in_scene = transcript.between(sc.start, sc.end) if transcript and sc.start is not None else ""
        scenes.append({"index": sc.index, "start": sc.start, "end": sc.end, "tags": [],
                       "ocr_text": enc.ocr(sc.frame) if enc.ocr is not None else "",
                       "transcript": in_scene, "colours": dominant_colours(sc.frame),
                       "faces": count_faces(sc.frame)})
    if dec.media_type == "image" and transcript is None:
        audio = None
    elif dec.pcm is None:
        audio = "no audio track"
    else:
        audio = transcript.audio if transcript is not None else None
    row.update(status="ok", media_type=dec.media_type, width=dec.width, height=dec.height,
               duration_s=dec.duration_s, scenes=scenes, audio=audio,
               transcript=transcript.text if transcript else "",
               ocr_text="\n".join(s["ocr_text"] for s in scenes if s["ocr_text"]),
               colours=scenes[rep.index]["colours"] if rep else [],
               faces=max((s["faces"] for s in scenes), default=None),
               phash=phash_hex(rep.frame) if rep else None, vision_backend=enc.vision_backend)


def process_ads(ads: Iterable[tuple[Ad, list[int]]], root: Path, cfg: DictConfig, enc: Encoders,
                bar: tqdm) -> list[dict[str, Any]]:
    """Rows for the given (ad, media indices); CLIP runs once over all keyframes of the batch."""
    rows, done = [], []
    for ad, indices in ads:
        for index in indices:
            rel = ad.media[index]
            row = _new_row(ad, index, rel)
            try:
                dec = decode(resolve_media(root, rel), cfg.media)
                _describe(row, dec, enc)
                done.append((ad, row, dec))
            except MediaPathError as exc:
                _fail(row, "path_refused", str(exc))
            except MediaError as exc:
                _fail(row, exc.kind, str(exc))
            except Exception as exc:  # one broken item must not lose the rest of the shard
                log.debug("item %s of ad %s failed:\n%s", rel, ad.id, traceback.format_exc())
                _fail(row, "internal", f"{type(exc).__name__}: {exc}")
            rows.append(row)
            bar.update()
    if enc.vision is not None:
        frames = [sc.frame for _, _, dec in done for sc in dec.scenes]
        if frames:
            emb = enc.vision.embed(frames)
            tags = enc.vision.tags(emb)
            k = 0
            for _, row, dec in done:
                n = len(dec.scenes)
                for scene, t in zip(row["scenes"], tags[k: k + n], strict=True):
                    scene["tags"] = t
                if n:
                    mean = emb[k: k + n].mean(axis=0)
                    row["embedding"] = (mean / max(float((mean**2).sum() ** 0.5), 1e-12)).tolist()
                k += n
    for ad, row, _ in done:
        row["verbalization"] = render(ad.record, row)
    return rows


def fingerprint(entries: list[Entry], settings: str) -> str:
    h = hashlib.sha256(settings.encode())
    for e in entries:
        h.update(json.dumps(e.record if isinstance(e, Ad) else e.as_dict(), sort_keys=True).encode())
        h.update(str(e.line).encode())
    return h.hexdigest()


def write_shard(path: Path, rows: list[dict[str, Any]], fp: str) -> None:
    table = pa.Table.from_pylist(rows, schema=SCHEMA).replace_schema_metadata({FINGERPRINT_KEY: fp.encode()})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    atomic_write_bytes(path, buf.getvalue())


def read_fingerprint(path: Path) -> str | None:
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return None
    value = meta.get(FINGERPRINT_KEY)
    return value.decode() if value else None


def verbalize(cfg: DictConfig) -> dict[str, Any]:
    """Run the verbalizer per ``cfg`` (conf/verbalize.yaml); returns the summary it writes."""
    t0 = time.time()
    manifest = Path(cfg.input) if cfg.input else bundled_samples()
    out_dir = Path(cfg.output_dir)
    shard_dir = out_dir / "verbalized"
    entries = list(iter_manifest(manifest))
    root = manifest.resolve().parent
    # Rows depend on these settings: a shard written under others is redone, not reused.
    settings = json.dumps(OmegaConf.to_container(OmegaConf.masked_copy(cfg, list(FINGERPRINTED)), resolve=True),
                          sort_keys=True)
    size = int(cfg.shard_size)
    shards = [entries[i: i + size] for i in range(0, len(entries), size)]
    plan: list[tuple[int, list[tuple[Ad, list[int]]], str, list[dict[str, Any]]]] = []
    skipped_items = 0
    for k, shard in enumerate(shards):
        path, fp = shard_dir / f"shard-{k:05d}.parquet", fingerprint(shard, settings)
        old = read_fingerprint(path) if path.exists() else None
        ads = [e for e in shard if isinstance(e, Ad)]
        if old == fp and not cfg.retry_failed:
            skipped_items += sum(len(a.media) for a in ads)
            continue
        if old == fp:  # retry_failed: redo only the error rows, keep the good ones
            kept = pq.read_table(path).to_pylist()
            failed = {(r["manifest_line"], r["media_index"]) for r in kept if r["status"] == "error"}
            skipped_items += len(kept) - len(failed)
            if not failed:
                continue
            todo = [(a, [i for i in range(len(a.media)) if (a.line, i) in failed]) for a in ads]
            plan.append((k, [t for t in todo if t[1]], fp, kept))
        else:
            if old is not None:
                log.warning("shard %s was written from other input or settings; redoing it", path.name)
            plan.append((k, [(a, list(range(len(a.media)))) for a in ads], fp, []))

    for tmp in shard_dir.glob(".shard-*.tmp"):  # left by a run killed mid-write; never read
        tmp.unlink()
    for stale in sorted(shard_dir.glob("shard-*.parquet"))[len(shards):]:
        log.warning("removing %s: the manifest now has only %d shards", stale.name, len(shards))
        stale.unlink()

    device = pick_device(cfg.device)
    todo_items = sum(len(idx) for _, ads, _, _ in plan for _, idx in ads)
    enc = load_encoders(cfg, device) if plan else None
    with tqdm(total=todo_items, desc="verbalize", unit="item", disable=not cfg.progress) as bar:
        for k, ads, fp, kept in plan:
            new = process_ads(ads, root, cfg, enc, bar)
            by_key = {(r["manifest_line"], r["media_index"]): r for r in new}
            rows = [by_key.pop((r["manifest_line"], r["media_index"]), r) for r in kept] + list(by_key.values())
            rows.sort(key=lambda r: (r["manifest_line"], r["media_index"]))
            write_shard(shard_dir / f"shard-{k:05d}.parquet", rows, fp)

    summary = summarise(shard_dir, entries, manifest, out_dir, enc, device, todo_items, skipped_items, t0)
    write_json(out_dir / "verbalize_summary.json", summary)
    log.info("verbalized %d items (%d ok, %d errors) into %s", summary["items"]["total"],
             summary["items"]["ok"], summary["items"]["error"], shard_dir)
    return summary


def summarise(shard_dir: Path, entries: list[Entry], manifest: Path, out_dir: Path, enc: Encoders | None,
              device: str, processed: int, skipped: int, t0: float) -> dict[str, Any]:
    files = sorted(shard_dir.glob("shard-*.parquet"))
    cols = ["status", "error_kind", "vision_backend", "media_type"]
    table = pq.read_table(files, columns=cols) if files else pa.table({c: pa.array([], pa.string()) for c in cols})
    status = Counter(table.column("status").to_pylist())
    bad_lines = [e.as_dict() for e in entries if isinstance(e, ManifestError)]
    return {
        "input": str(manifest),
        "output_dir": str(out_dir),
        "ads": sum(isinstance(e, Ad) for e in entries),
        "manifest_errors": bad_lines,
        "items": {"total": table.num_rows, "ok": status.get("ok", 0), "error": status.get("error", 0),
                  "processed_this_run": processed, "skipped_already_done": skipped},
        "error_kinds": dict(Counter(k for k in table.column("error_kind").to_pylist() if k)),
        "media_types": dict(Counter(k for k in table.column("media_type").to_pylist() if k)),
        "vision_backends": dict(Counter(k for k in table.column("vision_backend").to_pylist() if k)),
        "encoders": enc.describe() if enc else "none loaded (nothing to do)",
        "device": device,
        "shards": len(files),
        "wall_time_s": round(time.time() - t0, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
