"""python -m ava.verbalize: one media item → one row of the verbalized table.

Two steps, so that an executor can run them in different places (Ray: decoding on CPU tasks, encoders in
actors): :func:`decode_item` (file checks, ffmpeg, scenes; never raises) and :func:`describe_items` (every
configured encoder in config order over the whole batch, then the text). Which fields an encoder fills is the
encoder's business (ava/encoders/base.py); this module only makes the empty row and renders it.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

from ava.encoders.base import Encoder, Item, run_encoder
from ava.manifest import Ad, MediaPathError, renormalised, resolve_media
from ava.media.decode import Decoded, decode
from ava.media.ffmpeg import MediaError
from ava.verbalize.schema import SCHEMA
from ava.verbalize.template import render

log = logging.getLogger(__name__)
UNICODE_NOTE = "unicode_name"  # notes are "kind: what"


def new_row(ad: Ad, index: int) -> dict[str, Any]:
    row: dict[str, Any] = {name: None for name in SCHEMA.names}
    row.update(ad_id=ad.id, manifest_line=ad.line, media_index=index, media_path=ad.media[index],
               verbalization="", ocr_text="", transcript="", colours=[], scenes=[], notes=[])
    return row


def unicode_note(rel: str, path: Path) -> str | None:
    """The ``unicode_name`` note of an item found at ``path`` under the other normal form of ``rel``, or None."""
    if (form := renormalised(rel, path)) is None:
        return None
    return f"{UNICODE_NOTE}: not on disk as spelled in the manifest; found as {form}"


def died_row(ad: Ad, index: int, why: str) -> dict[str, Any]:
    """The error row of an item whose worker process died on it (executors.py)."""
    row = new_row(ad, index)
    _fail(row, "worker_died", why)
    return row


def _fail(row: dict[str, Any], kind: str, message: str) -> None:
    row.update(status="error", error_kind=kind, error=message, embedding=None, verbalization="")


def decode_item(ad: Ad, index: int, root: Path, media_cfg: Any) -> tuple[dict[str, Any], Decoded | None]:
    """The item's row (an error row on failure) and its decoded media (None on failure). Never raises."""
    row = new_row(ad, index)
    try:
        path = resolve_media(root, row["media_path"])
        decoded = decode(path, media_cfg)
        if (note := unicode_note(row["media_path"], path)) is not None:
            decoded.notes.append(note)
        return row, decoded
    except MediaPathError as exc:
        _fail(row, "path_refused", str(exc))
    except MediaError as exc:
        _fail(row, exc.kind, str(exc))
    except Exception as exc:  # one broken item must not lose the rest of the shard
        log.debug("item %s of ad %s failed:\n%s", row["media_path"], ad.id, traceback.format_exc())
        _fail(row, "internal", f"{type(exc).__name__}: {exc}")
    return row, None


def _start(row: dict[str, Any], dec: Decoded) -> None:
    """The fields every decoded item has, before any encoder: its type, size and empty scenes."""
    # a track's contents are the audio-event encoder's to say (ava/encoders/audio_events.py)
    audio = "no audio track" if dec.media_type != "image" and dec.pcm is None else None
    row.update(status="ok", vision_backend="none", media_type=dec.media_type, width=dec.width, height=dec.height,
               duration_s=dec.duration_s, audio=audio, notes=list(dec.notes), blank=dec.blank if dec.scenes else None,
               scenes=[{"index": sc.index, "start": sc.start, "end": sc.end, "blank": sc.blank, "tags": [],
                        "ocr_text": "", "transcript": "", "colours": [], "faces": None} for sc in dec.scenes])


def describe_items(items: list[tuple[dict[str, Any], Decoded | None]], records: dict[int, dict[str, Any]],
                   encoders: list[Encoder]) -> list[dict[str, Any]]:
    """Finish the rows of decoded items with every encoder; ``records`` maps manifest line → ad record."""
    live = []
    for row, dec in items:
        if dec is not None:
            _start(row, dec)
            live.append(Item(row, dec, records[row["manifest_line"]]))
    for enc in encoders:
        for item, message in run_encoder(enc, live):
            _fail(item.row, "internal", f"{enc.name}: {message}")
            live.remove(item)
    for item in live:
        item.row["verbalization"] = render(item.row)
    return [row for row, _ in items]
