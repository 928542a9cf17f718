"""python -m ava.verbalize: one media item → one row of the verbalized table.

Two steps, so that an executor can run them in different places (Ray: decoding on CPU tasks, encoders in
actors): :func:`decode_item` (file checks, ffmpeg, scenes; never raises) and :func:`describe_items` (OCR,
speech, colours, faces, pHash, then CLIP once over every keyframe of the batch, then the text).
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ava.encoders.clip import WeightsUnavailable, resolve_pretrained
from ava.manifest import Ad, MediaPathError, resolve_media
from ava.media.ffmpeg import MediaError
from ava.media.image import count_faces, dominant_colours
from ava.media.phash import phash_hex
from ava.runtime import loud_warning
from ava.verbalize.decode import Decoded, decode
from ava.verbalize.schema import SCHEMA
from ava.verbalize.template import render

log = logging.getLogger(__name__)


@dataclass
class Encoders:
    vision: Any
    ocr: Any
    asr: Any

    @property
    def vision_backend(self) -> str:
        return getattr(self.vision, "name", "none")

    def describe(self) -> dict[str, str]:
        return {"vision": self.vision_backend, "ocr": getattr(self.ocr, "name", "none"),
                "asr": getattr(self.asr, "name", "none")}


def check_vision(cfg: DictConfig) -> DictConfig:
    """``cfg`` as is when its CLIP weights can be had; else announce it once and return it with vision=none.

    Runs in the driver before any worker starts, so a missing CLIP is said once however many workers run.
    """
    v = cfg.get("vision")
    if not v:
        return cfg
    try:
        resolve_pretrained(v.model, v.pretrained, v.get("cache_dir"))
    except WeightsUnavailable as exc:
        loud_warning(f"{exc}. Continuing WITHOUT CLIP: no embeddings or tags (vision_backend='none' in every "
                     "row); pHash, colours and faces are still computed.")
        cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "vision"])
        cfg.vision = {}
    return cfg


def load_encoders(cfg: DictConfig, device: str, threads: int = 0) -> Encoders:
    """Instantiate the configured encoders; ``threads`` > 0 caps each one's CPU threads (for worker pools)."""
    def make(group: str, **kwargs: Any) -> Any:
        if not cfg.get(group):
            return None
        try:
            return instantiate(cfg[group], _convert_="all", **kwargs)
        except InstantiationException as exc:  # show the encoder's own error, not Hydra's wrapper
            raise (exc.__cause__ or exc) from None

    threaded = {"threads": threads} if threads else {}
    return Encoders(vision=make("vision", device=device),
                    ocr=make("ocr", **threaded),
                    asr=make("asr", device=device, **({"cpu_threads": threads} if threads else {})))


def new_row(ad: Ad, index: int) -> dict[str, Any]:
    row: dict[str, Any] = {name: None for name in SCHEMA.names}
    row.update(ad_id=ad.id, manifest_line=ad.line, media_index=index, media_path=ad.media[index],
               verbalization="", ocr_text="", transcript="", colours=[], scenes=[])
    return row


def _fail(row: dict[str, Any], kind: str, message: str) -> None:
    row.update(status="error", error_kind=kind, error=message, embedding=None)


def decode_item(ad: Ad, index: int, root: Path, media_cfg: Any) -> tuple[dict[str, Any], Decoded | None]:
    """The item's row (an error row on failure) and its decoded media (None on failure). Never raises."""
    row = new_row(ad, index)
    try:
        return row, decode(resolve_media(root, row["media_path"]), media_cfg)
    except MediaPathError as exc:
        _fail(row, "path_refused", str(exc))
    except MediaError as exc:
        _fail(row, exc.kind, str(exc))
    except Exception as exc:  # one broken item must not lose the rest of the shard
        log.debug("item %s of ad %s failed:\n%s", row["media_path"], ad.id, traceback.format_exc())
        _fail(row, "internal", f"{type(exc).__name__}: {exc}")
    return row, None


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
    if dec.media_type == "image":
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


def describe_items(items: list[tuple[dict[str, Any], Decoded | None]], ads: dict[int, Ad],
                   enc: Encoders) -> list[dict[str, Any]]:
    """Finish the rows of decoded items; CLIP runs once over all their keyframes. ``ads`` maps line → Ad."""
    done = []
    for row, dec in items:
        if dec is None:
            continue
        try:
            _describe(row, dec, enc)
            done.append((row, dec))
        except Exception as exc:
            log.debug("describing %s failed:\n%s", row["media_path"], traceback.format_exc())
            _fail(row, "internal", f"{type(exc).__name__}: {exc}")
    frames = [sc.frame for _, dec in done for sc in dec.scenes]
    if enc.vision is not None and frames:
        emb = enc.vision.embed(frames)
        tags = enc.vision.tags(emb)
        k = 0
        for row, dec in done:
            n = len(dec.scenes)
            for scene, t in zip(row["scenes"], tags[k: k + n], strict=True):
                scene["tags"] = t
            if n:
                mean = emb[k: k + n].mean(axis=0)
                row["embedding"] = (mean / max(float((mean**2).sum() ** 0.5), 1e-12)).tolist()
            k += n
    for row, _ in done:
        row["verbalization"] = render(ads[row["manifest_line"]].record, row)
    return [row for row, _ in items]
