"""python -m ava.verbalize: probe and decode media with ffprobe/ffmpeg (argument lists, never a shell).

Errors carry ffmpeg's own message (as whisper's ``load_audio`` does), so a corrupt file says why.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLE_RATE = 16_000  # Whisper's input rate
# Demuxers ffprobe/ffmpeg may open: video and audio containers that hold their media themselves. Playlists and
# manifests (hls, dash, concat, ...) are refused: they name other files, and an HLS playlist saved as ad.mp4
# inside the data root whose entry is ../secret/secret.m4a made ffmpeg read a file outside the root. Only the
# ``file`` protocol is allowed, so nothing is fetched over a network either. (Images go through Pillow.)
DEMUXERS = ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "gif", "mpegts", "mpeg", "flv", "asf", "mp3", "aac",
            "wav", "ogg", "flac", "w64", "aiff", "amr")
_WHITELIST = ",".join(DEMUXERS)
GUESSES = ("image2", "tty")  # what ffprobe falls back to for a file of no known container: not media


class MediaError(RuntimeError):
    """A media file that ffmpeg/ffprobe cannot read; ``kind`` is a short machine-readable error class."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Probe:
    has_video: bool
    has_audio: bool
    width: int | None   # as displayed: a stream stored 1280x720 with a ±90° display matrix is 720x1280
    height: int | None
    duration_s: float | None  # of the video stream when there is one (its first frame is t=0), else the file's
    rotation: int = 0   # the display matrix's rotation in degrees (ffprobe's sign), 0 when there is none


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MediaError("missing_ffmpeg", f"{name} not found on PATH; install ffmpeg (make demo/test does)")
    return path


def _input(path: Path) -> list[str]:
    """``-i path`` with the protocol and demuxer whitelists (see DEMUXERS)."""
    return ["-protocol_whitelist", "file", "-format_whitelist", _WHITELIST, "-i", str(path)]


def _run(cmd: list[str], timeout: float) -> bytes:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MediaError("timeout", f"{Path(cmd[0]).name} timed out after {timeout:.0f} s") from exc
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        huge = next((m for m in message if "exceeds specified max pixel count" in m), None)
        if huge is not None:  # -max_pixels: the decoder refused a frame before allocating it
            raise MediaError("too_large", f"{huge.rsplit('] ', 1)[-1].split(', see')[0]} (max_video_pixels)")
        refused = next((m for m in message if "not on whitelist" in m), None)
        if refused is not None:
            match = re.match(r"\[(\w+) @", refused)
            fmt = match.group(1) if match else "?"
            if fmt in GUESSES or fmt.endswith("_pipe"):  # ffprobe guessed from the name or from text
                raise MediaError("not_media", "not a recognised image, video or audio file")
            raise MediaError("format_refused", f"container format {fmt!r} refused: playlists and manifests can "
                                               f"name files outside the data root (allowed: {_WHITELIST})")
        raise MediaError("decode_failed", f"{Path(cmd[0]).name}: {message[-1] if message else 'failed'}")
    return proc.stdout


def probe(path: Path, timeout: float = 60, max_pixels: int | None = None) -> Probe:
    """Streams and duration of ``path``; raises :class:`MediaError` when ffprobe cannot read it.

    ffprobe decodes a frame to learn some streams' parameters: ``max_pixels`` makes its decoder refuse a larger
    frame before allocating it (a 16000x16000 mkv cost the probe 650 MB and 2.9 s; refused, 150 MB and 0.5 s).
    """
    limit = ["-max_pixels", str(max_pixels)] if max_pixels else []
    out = _run([_binary("ffprobe"), "-v", "warning" if limit else "error", *limit, "-print_format", "json",
                "-show_format", "-show_streams", *_input(path)], timeout)
    info = json.loads(out or b"{}")
    fmt = str(info.get("format", {}).get("format_name", ""))
    if fmt in GUESSES or fmt.endswith("_pipe"):  # ffprobe guessed a still image from the name alone
        raise MediaError("not_media", "not a recognised image, video or audio file")
    streams = info.get("streams", [])
    # Cover art inside audio files is a video stream flagged as an attached picture: not a video.
    video = [s for s in streams if s.get("codec_type") == "video" and int(s.get("width") or 0) > 0
             and not s.get("disposition", {}).get("attached_pic")]
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if not video and not audio:
        raise MediaError("not_media", "no audio or video stream found")
    width = int(video[0]["width"]) if video and "width" in video[0] else None
    height = int(video[0]["height"]) if video and "height" in video[0] else None
    rotation = _rotation(video[0]) if video else 0
    if rotation % 180:  # phones store landscape frames and a display matrix that turns them upright
        width, height = height, width
    return Probe(has_video=bool(video), has_audio=bool(audio), width=width, height=height,
                 duration_s=_duration(info.get("format", {}), video[0] if video else None),
                 rotation=rotation)


def _number(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):  # absent or "N/A"
        return None
    return out if out == out else None


def _rotation(stream: dict) -> int:
    """Rotation of the stream's display matrix (side data), or of the older ``rotate`` tag."""
    for side in stream.get("side_data_list") or []:
        if side.get("side_data_type") == "Display Matrix" and _number(side.get("rotation")) is not None:
            return int(round(float(side["rotation"])))
    rotate = _number((stream.get("tags") or {}).get("rotate"))
    return int(rotate) if rotate is not None else 0


def _duration(fmt: dict, video: dict | None) -> float | None:
    """Seconds from the first video frame to the end. ffprobe's format duration counts from t=0, so a stream
    that starts late (start_time 1.02 s) is that much shorter than it, while ffmpeg's ``-ss`` and PySceneDetect
    count from the first frame: use the video stream's own duration, else the format's minus its start."""
    if video is not None and (d := _number(video.get("duration"))) is not None and d > 0:
        return d
    total = _number(fmt.get("duration"))
    if total is None:
        return None
    return max(total - max(_number(fmt.get("start_time")) or 0.0, 0.0), 0.0)


def frame_at(path: Path, seconds: float, max_side: int, timeout: float = 60) -> Image.Image:
    """One RGB frame of a video at ``seconds``, scaled so its longer side is at most ``max_side``."""
    scale = f"scale='if(gt(iw,ih),min({max_side},iw),-2)':'if(gt(iw,ih),-2,min({max_side},ih))'"
    out = _run([_binary("ffmpeg"), "-v", "error", "-ss", f"{seconds:.3f}", *_input(path), "-frames:v", "1",
                "-vf", scale, "-f", "image2pipe", "-vcodec", "png", "-"], timeout)
    if not out:
        raise MediaError("decode_failed", f"ffmpeg: no frame at {seconds:.2f} s")
    return Image.open(BytesIO(out)).convert("RGB")


def audio_pcm(path: Path, timeout: float = 300, max_s: float | None = None) -> np.ndarray:
    """The first audio track as mono float32 PCM at 16 kHz in [-1, 1]; only its first ``max_s`` seconds when
    given (ffmpeg stops decoding there: memory is 64 KB a second of float32 and int16 together)."""
    limit = ["-t", f"{max_s:.3f}"] if max_s is not None else []
    out = _run([_binary("ffmpeg"), "-v", "error", "-nostdin", *_input(path), "-vn", *limit, "-ac", "1",
                "-ar", str(SAMPLE_RATE), "-f", "s16le", "-acodec", "pcm_s16le", "-"], timeout)
    return np.frombuffer(out, np.int16).astype(np.float32) / 32768.0


def readable_video_s(path: Path, timeout: float = 60) -> float | None:
    """Seconds of the first video stream whose packets are in the file (demuxed, not decoded: 0.2 s for 9 s of
    video): less than the declared duration when the file is cut short after an index that promises more."""
    out = _run([_binary("ffprobe"), "-v", "error", "-select_streams", "v:0", "-show_entries",
                "packet=pts_time,duration_time", "-of", "csv=p=0", *_input(path)], timeout)
    starts, ends = [], []
    for line in out.decode("ascii", "replace").splitlines():
        pts, _, dur = line.partition(",")
        if (t := _number(pts)) is not None:
            starts.append(t)
            ends.append(t + (_number(dur) or 0.0))
    return max(ends) - min(starts) if starts else None


def grey_frames(path: Path, start: float, end: float, fps: float, side: int,
                timeout: float = 60) -> list[tuple[float, np.ndarray]]:
    """Frames of [start, end) seconds at ``fps``: (time, grey uint8 array of side x side, aspect not kept)."""
    out = _run([_binary("ffmpeg"), "-v", "error", "-nostdin", "-ss", f"{start:.3f}", "-t",
                f"{max(end - start, 0.05):.3f}", *_input(path), "-an", "-vf", f"fps={fps},scale={side}:{side}",
                "-f", "rawvideo", "-pix_fmt", "gray", "-"], timeout)
    n = len(out) // (side * side)
    frames = np.frombuffer(out[: n * side * side], np.uint8).reshape(n, side, side)
    return [(start + k / fps, f) for k, f in enumerate(frames)]
