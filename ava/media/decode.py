"""python -m ava.verbalize: identify one media file by its content and decode what the encoders need.

The type comes from the bytes, not the extension: Pillow first (images), then ffprobe (video, audio).
Every failure is a :class:`~ava.media.ffmpeg.MediaError` with a short ``kind`` and a readable message.
A video gives one keyframe per scene: the frame in the middle of the scene, or, when that one is blank
(black, white, a fade: :func:`~ava.media.image.is_blank`), the non-blank frame nearest the middle; a scene
whose every frame is blank keeps its middle frame, flagged ``blank``.

What each item may cost is bounded by the ``media`` settings: ``max_image_pixels`` and ``max_video_pixels``
(``too_large`` past them, refused before a frame is allocated), ``max_audio_s`` (decoding stops there, noted
``audio_cut``). Anything applied to an item is said in :attr:`Decoded.notes` (``kind: what``): a file cut short
(``truncated``, with the duration that can be read), an EXIF orientation, an animation read as a video.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ava.media import ffmpeg
from ava.media.ffmpeg import MediaError
from ava.media.image import BLANK_STD, IMAGE_FORMATS, is_blank, refused_format, sniff_image
from ava.media.scenes import detect_scenes

# A blank middle frame sends the scene through a scan at this rate and size for a non-blank frame (ffmpeg
# decodes the scene once: 0.43 s for a 4 s 320x180 clip on the loaded 2-core VM, mostly ffmpeg's start-up).
SCAN_FPS = 8.0
SCAN_SIDE = 96
# A video or audio file whose readable media ends this much before its declared duration is cut short (a
# whole file's last packet ends within one frame, 0.04 s at 25 fps, of its declared duration)
TRUNCATION_SLACK_S = 0.5


@dataclass
class Scene:
    index: int
    start: float | None
    end: float | None
    frame: Image.Image
    blank: bool = False


@dataclass
class Decoded:
    media_type: str
    width: int | None
    height: int | None
    duration_s: float | None
    scenes: list[Scene] = field(default_factory=list)
    pcm: np.ndarray | None = None  # 16 kHz mono; None when there is no audio track
    notes: list[str] = field(default_factory=list)  # "kind: what was done" for each limit or repair applied

    @property
    def blank(self) -> bool:
        """Every keyframe is blank (an image or video with nothing to see)."""
        return bool(self.scenes) and all(s.blank for s in self.scenes)

    @property
    def representative(self) -> Scene | None:
        """The longest non-blank scene (the earliest among equals): the image itself for an image; None when
        there are no frames or all are blank (blank frames all share one pHash and look alike to CLIP)."""
        seen = [s for s in self.scenes if not s.blank]
        if not seen:
            return None
        return max(seen, key=lambda s: ((s.end or 0) - (s.start or 0), -s.index))


def check_file(path: Path) -> None:
    if not path.exists():
        other = " (nor under its other Unicode normal form, NFC/NFD)" if not path.name.isascii() else ""
        raise MediaError("missing_file", f"file not found: {path.name}{other}")
    if not path.is_file():
        raise MediaError("not_a_file", f"not a regular file: {path.name}")
    try:
        with path.open("rb") as fh:
            head = fh.read(1)
    except OSError as exc:
        raise MediaError("unreadable", f"cannot read {path.name}: {exc.strerror or exc}") from exc
    if not head:
        raise MediaError("empty_file", f"zero-byte file: {path.name}")


def keyframe(path: Path, index: int, start: float, end: float, cfg) -> Scene:
    """The scene's keyframe: the middle frame unless it is blank, then the non-blank frame nearest the middle."""
    mid = (start + end) / 2
    frame = ffmpeg.frame_at(path, mid, cfg.frame_max_side, cfg.ffmpeg_timeout_s)
    if not is_blank(frame):
        return Scene(index, start, end, frame)
    seen = [t for t, grey in ffmpeg.grey_frames(path, start, end, SCAN_FPS, SCAN_SIDE, cfg.ffmpeg_timeout_s)
            if float(grey.std()) >= BLANK_STD]
    for t in sorted(seen, key=lambda t: abs(t - mid)):
        candidate = ffmpeg.frame_at(path, t, cfg.frame_max_side, cfg.ffmpeg_timeout_s)
        if not is_blank(candidate):  # the scan saw it small; check at full size
            return Scene(index, start, end, candidate)
    return Scene(index, start, end, frame, blank=True)


def decode(path: Path, cfg) -> Decoded:
    """Decode ``path`` per the ``media`` section of the verbalize config."""
    check_file(path)
    picture = sniff_image(path, int(cfg.max_image_pixels), int(cfg.image_max_side), int(cfg.max_scenes))
    if picture is not None:
        width, height = picture.size
        scenes = [Scene(i, s, e, f, is_blank(f)) for i, (s, e, f) in enumerate(picture.frames)]
        kind = "image" if picture.duration_s is None else "video"  # an animation is a short silent video
        return Decoded(kind, width, height, picture.duration_s, scenes, notes=picture.notes)
    try:
        info = ffmpeg.probe(path, timeout=cfg.ffmpeg_timeout_s, max_pixels=int(cfg.max_video_pixels))
    except MediaError as exc:
        fmt = refused_format(path) if exc.kind == "not_media" else None
        if fmt is not None:
            raise MediaError("format_refused", f"image format {fmt} refused: only {', '.join(IMAGE_FORMATS)} "
                                               "images are decoded") from exc
        raise
    notes: list[str] = []
    if info.has_video and (info.width or 0) * (info.height or 0) > int(cfg.max_video_pixels):
        raise MediaError("too_large", f"video frames of {info.width}x{info.height} = "
                                      f"{info.width * info.height:,} pixels exceed max_video_pixels="
                                      f"{int(cfg.max_video_pixels):,} (each decoded frame would be held whole); "
                                      "raise the limit if it is genuine")
    pcm = audio(path, info, cfg, notes) if info.has_audio else None
    if not info.has_video:
        return Decoded("audio", None, None, info.duration_s, [], pcm, notes)
    duration = info.duration_s or 0.0
    if duration <= 0:
        raise MediaError("decode_failed", "video has no duration")
    readable = ffmpeg.readable_video_s(path, cfg.ffmpeg_timeout_s)
    if readable is not None and readable < duration - TRUNCATION_SLACK_S:
        notes.append(f"truncated: {readable:.2f} s of the declared {duration:.2f} s can be read (the file is cut "
                     "short); the row covers what can")
        duration = readable
    cuts = detect_scenes(path, duration, cfg.scene_threshold, cfg.min_scene_len_s, cfg.max_scenes,
                         cfg.scene_max_frames)
    scenes = [keyframe(path, i, s, e, cfg) for i, (s, e) in enumerate(cuts)]
    return Decoded("video", info.width, info.height, duration, scenes, pcm, notes)


def audio(path: Path, info: ffmpeg.Probe, cfg, notes: list[str]) -> np.ndarray:
    """The audio track's first ``max_audio_s`` seconds (noted when there was more)."""
    cap = float(cfg.max_audio_s)
    pcm = ffmpeg.audio_pcm(path, timeout=cfg.ffmpeg_timeout_s, max_s=cap)
    got = len(pcm) / ffmpeg.SAMPLE_RATE
    if got >= cap - 1 / ffmpeg.SAMPLE_RATE and (info.duration_s is None or info.duration_s > cap):
        notes.append(f"audio_cut: only the first {cap:g} s of audio decoded (max_audio_s) of "
                     f"{info.duration_s or 0:.1f} s")
    elif not info.has_video and info.duration_s and got < min(info.duration_s, cap) - TRUNCATION_SLACK_S:
        notes.append(f"truncated: {got:.2f} s of the declared {info.duration_s:.2f} s of audio can be decoded "
                     "(the file is cut short); the row covers what can")
    return pcm
