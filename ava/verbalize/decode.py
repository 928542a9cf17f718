"""python -m ava.verbalize: identify one media file by its content and decode what the encoders need.

The type comes from the bytes, not the extension: Pillow first (images), then ffprobe (video, audio).
Every failure is a :class:`~ava.media.ffmpeg.MediaError` with a short ``kind`` and a readable message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ava.media import ffmpeg
from ava.media.ffmpeg import MediaError
from ava.media.image import sniff_image
from ava.media.scenes import detect_scenes


@dataclass
class Scene:
    index: int
    start: float | None
    end: float | None
    frame: Image.Image


@dataclass
class Decoded:
    media_type: str
    width: int | None
    height: int | None
    duration_s: float | None
    scenes: list[Scene] = field(default_factory=list)
    pcm: np.ndarray | None = None  # 16 kHz mono; None when there is no audio track

    @property
    def representative(self) -> Scene | None:
        """The longest scene (the earliest among equals); the image itself for an image."""
        if not self.scenes:
            return None
        return max(self.scenes, key=lambda s: ((s.end or 0) - (s.start or 0), -s.index))


def check_file(path: Path) -> None:
    if not path.exists():
        raise MediaError("missing_file", f"file not found: {path.name}")
    if not path.is_file():
        raise MediaError("not_a_file", f"not a regular file: {path.name}")
    try:
        with path.open("rb") as fh:
            head = fh.read(1)
    except OSError as exc:
        raise MediaError("unreadable", f"cannot read {path.name}: {exc.strerror or exc}") from exc
    if not head:
        raise MediaError("empty_file", f"zero-byte file: {path.name}")


def decode(path: Path, cfg) -> Decoded:
    """Decode ``path`` per the ``media`` section of the verbalize config."""
    check_file(path)
    image = sniff_image(path, int(cfg.max_image_pixels))
    if image is not None:
        return Decoded("image", image.width, image.height, None, [Scene(0, None, None, image)])
    info = ffmpeg.probe(path, timeout=cfg.ffmpeg_timeout_s)
    pcm = ffmpeg.audio_pcm(path, timeout=cfg.ffmpeg_timeout_s) if info.has_audio else None
    if not info.has_video:
        return Decoded("audio", None, None, info.duration_s, [], pcm)
    duration = info.duration_s or 0.0
    if duration <= 0:
        raise MediaError("decode_failed", "video has no duration")
    cuts = detect_scenes(path, duration, cfg.scene_threshold, cfg.min_scene_len_s, cfg.max_scenes)
    scenes = [Scene(i, s, e, ffmpeg.frame_at(path, (s + e) / 2, cfg.frame_max_side, cfg.ffmpeg_timeout_s))
              for i, (s, e) in enumerate(cuts)]
    return Decoded("video", info.width, info.height, duration, scenes, pcm)
