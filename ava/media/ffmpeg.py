"""python -m ava.verbalize: probe and decode media with ffprobe/ffmpeg (argument lists, never a shell).

Errors carry ffmpeg's own message (as whisper's ``load_audio`` does), so a corrupt file says why.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLE_RATE = 16_000  # Whisper's input rate


class MediaError(RuntimeError):
    """A media file that ffmpeg/ffprobe cannot read; ``kind`` is a short machine-readable error class."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Probe:
    has_video: bool
    has_audio: bool
    width: int | None
    height: int | None
    duration_s: float | None
    format_name: str


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MediaError("missing_ffmpeg", f"{name} not found on PATH; install ffmpeg (make demo/test does)")
    return path


def _run(cmd: list[str], timeout: float) -> bytes:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MediaError("timeout", f"{Path(cmd[0]).name} timed out after {timeout:.0f} s") from exc
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise MediaError("decode_failed", f"{Path(cmd[0]).name}: {message[-1] if message else 'failed'}")
    return proc.stdout


def probe(path: Path, timeout: float = 60) -> Probe:
    """Streams and duration of ``path``; raises :class:`MediaError` when ffprobe cannot read it."""
    out = _run([_binary("ffprobe"), "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                "--", str(path)], timeout)
    info = json.loads(out or b"{}")
    fmt = str(info.get("format", {}).get("format_name", ""))
    if fmt == "image2" or fmt.endswith("_pipe"):  # ffprobe guessed a still image from the name alone
        raise MediaError("not_media", "not a recognised image, video or audio file")
    streams = info.get("streams", [])
    # Cover art inside audio files is a video stream flagged as an attached picture: not a video.
    video = [s for s in streams if s.get("codec_type") == "video" and int(s.get("width") or 0) > 0
             and not s.get("disposition", {}).get("attached_pic")]
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if not video and not audio:
        raise MediaError("not_media", "no audio or video stream found")
    duration = info.get("format", {}).get("duration")
    return Probe(
        has_video=bool(video),
        has_audio=bool(audio),
        width=int(video[0]["width"]) if video and "width" in video[0] else None,
        height=int(video[0]["height"]) if video and "height" in video[0] else None,
        duration_s=float(duration) if duration not in (None, "N/A") else None,
        format_name=fmt,
    )


def frame_at(path: Path, seconds: float, max_side: int, timeout: float = 60) -> Image.Image:
    """One RGB frame of a video at ``seconds``, scaled so its longer side is at most ``max_side``."""
    scale = f"scale='if(gt(iw,ih),min({max_side},iw),-2)':'if(gt(iw,ih),-2,min({max_side},ih))'"
    out = _run([_binary("ffmpeg"), "-v", "error", "-ss", f"{seconds:.3f}", "-i", str(path), "-frames:v", "1",
                "-vf", scale, "-f", "image2pipe", "-vcodec", "png", "-"], timeout)
    if not out:
        raise MediaError("decode_failed", f"ffmpeg: no frame at {seconds:.2f} s")
    return Image.open(BytesIO(out)).convert("RGB")


def audio_pcm(path: Path, timeout: float = 300) -> np.ndarray:
    """The first audio track as mono float32 PCM at 16 kHz in [-1, 1]."""
    out = _run([_binary("ffmpeg"), "-v", "error", "-nostdin", "-i", str(path), "-vn", "-ac", "1",
                "-ar", str(SAMPLE_RATE), "-f", "s16le", "-acodec", "pcm_s16le", "-"], timeout)
    return np.frombuffer(out, np.int16).astype(np.float32) / 32768.0
