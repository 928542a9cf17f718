"""python -m ava.verbalize: safe image loading and cheap visual facts (blank frames, dominant colours).

Only the formats ads are published in are decoded (:data:`IMAGE_FORMATS`); decompression bombs are refused from
the header, before any pixel is decoded; truncated files raise instead of being padded with grey (Pillow's
default ``LOAD_TRUNCATED_IMAGES = False`` is kept). Images are read as displayed: EXIF orientation applied, an
animation read as a short video of scenes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from ava.media.ffmpeg import MediaError

# A small named palette (CSS basic colours plus a few ad staples) for naming dominant colours.
PALETTE: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128), "silver": (192, 192, 192),
    "red": (220, 20, 20), "dark red": (128, 0, 0), "orange": (255, 140, 0), "yellow": (255, 215, 0),
    "olive": (128, 128, 0), "green": (34, 139, 34), "lime": (50, 205, 50), "teal": (0, 128, 128),
    "cyan": (0, 200, 220), "blue": (30, 80, 200), "navy": (0, 0, 128), "purple": (106, 27, 154),
    "magenta": (220, 0, 200), "pink": (255, 150, 180), "brown": (101, 67, 33), "beige": (235, 220, 190),
}


# The image formats Pillow may decode: what ads are published in (a phone's MPO opens as JPEG). Every other
# Pillow plugin (EPS, which hands the file to Ghostscript, PSD, FITS, WMF, ...) never runs: an EPS file named
# ad.jpg made Pillow run ``gs`` on it.
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")
# An animated frame given 0-10 ms is shown for 100 ms by browsers (GIFs saved "as fast as possible")
FAST_FRAME_MS, DEFAULT_FRAME_MS = 10, 100
# Consecutive frames of an animation are one scene unless more than FRAME_CUT_SHARE of their 64x64 grey thumbnails'
# pixels differ by more than FRAME_CUT_LEVELS. On 400x200 frames: one word of 24 px text changing ("BUY" ->
# "NOW") changes 0.56% of them, 16 px text appearing 0.54%, per-pixel noise of sigma 20 none (averaged away).
FRAME_CUT_SHARE, FRAME_CUT_LEVELS = 0.004, 24


@dataclass
class Picture:
    """An image as displayed: its frames (one for a still; for an animation the first frame of each of its
    scenes, or the scene's first non-blank frame) with their times, its displayed size and what was noted."""

    size: tuple[int, int]
    frames: list[tuple[float | None, float | None, Image.Image]]
    duration_s: float | None = None  # an animation's total display time
    notes: list[str] = field(default_factory=list)


def refused_format(path: Path) -> str | None:
    """The Pillow format outside :data:`IMAGE_FORMATS` whose signature ``path`` starts with, else None. Only the
    plugins' prefix checks run (pure byte comparisons), never their parsers."""
    Image.init()
    with path.open("rb") as fh:
        prefix = fh.read(16)
    for fmt, (_, accept) in Image.OPEN.items():
        if fmt not in IMAGE_FORMATS and fmt != "MPEG" and accept is not None:  # MPEG-1 video is ffmpeg's
            try:
                if accept(prefix):
                    return fmt
            except Exception:  # a prefix check that wants more bytes: not this format
                continue
    return None


def sniff_image(path: Path, max_pixels: int, max_side: int, max_scenes: int = 12) -> Picture | None:
    """Decode ``path`` as displayed (EXIF orientation applied) in RGB, scaled so its longer side is at most
    ``max_side`` (JPEGs are decoded at a reduced scale from the start); None when it is not an image of
    :data:`IMAGE_FORMATS`. An animated GIF/WebP/PNG is read as a short video (:func:`_animation`).

    Raises :class:`MediaError` for images that are too large or truncated/corrupt.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path, formats=IMAGE_FORMATS)
    except UnidentifiedImageError:
        return None
    except Image.DecompressionBombError as exc:
        raise MediaError("too_large", f"refused as a possible decompression bomb: {exc}") from exc
    except OSError as exc:
        raise MediaError("unreadable", f"cannot open {path.name}: {exc}") from exc
    with img:
        w, h = img.size
        if w * h > max_pixels:
            raise MediaError("too_large", f"image of {w}x{h} = {w * h:,} pixels exceeds max_image_pixels="
                                          f"{max_pixels:,} (possible decompression bomb); raise the limit if "
                                          "it is genuine")
        try:
            if getattr(img, "is_animated", False) and img.n_frames > 1:
                return _animation(img, max_pixels, max_side, max_scenes)
            img.draft("RGB", (max_side, max_side))  # JPEG only: DCT scaling, never below the requested size
            img.load()
            orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
            flat = flatten(ImageOps.exif_transpose(img))
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise MediaError("corrupt_image", f"corrupt or truncated image: {exc}") from exc
    flat.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    notes = []
    if orientation in (5, 6, 7, 8):  # a quarter turn: displayed with width and height swapped
        w, h = h, w
    if orientation not in (1, None):
        notes.append(f"exif_orientation: EXIF orientation {orientation} applied (read as displayed)")
    return Picture((w, h), [(None, None, flat)], notes=notes)


def _grey(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L").resize((64, 64), Image.Resampling.BILINEAR), dtype=np.float32)


def _animation(img: Image.Image, max_pixels: int, max_side: int, max_scenes: int) -> Picture:
    """An animated image as a short video: frames are read in order (each one needs the one before it), up to
    ``max_pixels`` pixels in all, and cut into scenes where a frame differs from the one before
    (:data:`FRAME_CUT_SHARE`); each scene keeps its first non-blank frame (or its first, flagged blank by the caller).
    More than ``max_scenes`` scenes: the longest are kept, in time order."""
    w, h = img.size
    n = img.n_frames
    readable = max(1, min(n, max_pixels // max(w * h, 1)))
    scenes: list[list] = []  # [start, end, kept frame, kept frame is blank]
    t, prev = 0.0, None
    for k in range(readable):
        img.seek(k)
        frame = flatten(img)
        ms = img.info.get("duration") or 0
        dt = (ms if ms > FAST_FRAME_MS else DEFAULT_FRAME_MS) / 1000
        grey = _grey(frame)
        if prev is None or float((np.abs(grey - prev) > FRAME_CUT_LEVELS).mean()) > FRAME_CUT_SHARE:
            frame.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            scenes.append([t, t + dt, frame, is_blank(frame)])
        else:
            scenes[-1][1] = t + dt
            if scenes[-1][3] and not is_blank(frame):
                frame.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
                scenes[-1][2:] = [frame, False]
        prev, t = grey, t + dt
    if len(scenes) > max_scenes:
        scenes = sorted(sorted(scenes, key=lambda s: s[0] - s[1])[:max_scenes], key=lambda s: s[0])
    notes = [f"animated: {readable} frames read as a {t:.2f} s video, {len(scenes)} scenes"]
    if readable < n:
        notes.append(f"animation_cut: only the first {readable} of {n} frames read (max_image_pixels="
                     f"{max_pixels:,} pixels in all)")
    return Picture((w, h), [(s, e, f) for s, e, f, _ in scenes], duration_s=round(t, 3), notes=notes)


def flatten(img: Image.Image) -> Image.Image:
    """RGB as a viewer shows it. A transparent image is composited on a background that keeps what is drawn
    visible: white under dark content, black under light content (judged by the alpha-weighted mean luminance
    of the drawn pixels). ``convert("RGB")`` alone keeps the colour stored under transparent pixels, which is
    usually black: black text on a transparent PNG then vanishes and OCR reads nothing."""
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode not in ("RGBA", "LA", "PA", "La", "RGBa"):
        return img.convert("RGB")
    rgba = img.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64)
    if alpha.min() == 255:
        return rgba.convert("RGB")
    luma = np.asarray(rgba.convert("L"), dtype=np.float64)
    drawn = float((luma * alpha).sum() / max(alpha.sum(), 1.0))
    background = Image.new("RGB", rgba.size, (255, 255, 255) if drawn < 128 else (0, 0, 0))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


# A frame is blank (black, white, one flat colour, a fade's end) when the standard deviation of its grey levels
# is below this. Measured on frames the tests make: x264-compressed flat colours and fade ends 0.0; a near-white
# frame with one line of 20 px text 7.6; a frame 90% into a fade to white 9.4 (tests/media/test_media.py).
BLANK_STD = 3.0


def is_blank(img: Image.Image) -> bool:
    """Near-uniform: nothing for OCR, CLIP or pHash to see (every blank frame has pHash 8000000000000000)."""
    return float(np.asarray(img.convert("L"), dtype=np.float32).std()) < BLANK_STD


def dominant_colours(img: Image.Image, k: int = 3) -> list[str]:
    """The ``k`` most common named colours (median-cut on a thumbnail), as 'name #rrggbb NN%'."""
    thumb = img.copy()
    thumb.thumbnail((64, 64))
    quant = thumb.quantize(colors=8, method=Image.Quantize.MEDIANCUT)
    palette = quant.getpalette() or []
    counts = sorted(quant.getcolors() or [], reverse=True)
    total = sum(c for c, _ in counts) or 1
    named: dict[str, list] = {}  # name -> [share, hex of its most common shade]
    for count, idx in counts:
        r, g, b = palette[3 * idx: 3 * idx + 3]
        name = min(PALETTE, key=lambda n: sum((p - q) ** 2 for p, q in zip(PALETTE[n], (r, g, b), strict=True)))
        entry = named.setdefault(name, [0.0, f"#{r:02x}{g:02x}{b:02x}"])
        entry[0] += count / total
    ranked = sorted(named.items(), key=lambda kv: -kv[1][0])[:k]
    return [f"{name} {hexcode} {100 * share:.0f}%" for name, (share, hexcode) in ranked]

