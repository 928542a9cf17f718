"""python -m ava.verbalize: safe image loading and cheap visual facts (blank frames, dominant colours).

Decompression bombs are refused from the header, before any pixel is decoded; truncated files raise
instead of being padded with grey (Pillow's default ``LOAD_TRUNCATED_IMAGES = False`` is kept).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ava.media.ffmpeg import MediaError

# A small named palette (CSS basic colours plus a few ad staples) for naming dominant colours.
PALETTE: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128), "silver": (192, 192, 192),
    "red": (220, 20, 20), "dark red": (128, 0, 0), "orange": (255, 140, 0), "yellow": (255, 215, 0),
    "olive": (128, 128, 0), "green": (34, 139, 34), "lime": (50, 205, 50), "teal": (0, 128, 128),
    "cyan": (0, 200, 220), "blue": (30, 80, 200), "navy": (0, 0, 128), "purple": (106, 27, 154),
    "magenta": (220, 0, 200), "pink": (255, 150, 180), "brown": (101, 67, 33), "beige": (235, 220, 190),
}


def sniff_image(path: Path, max_pixels: int, max_side: int) -> tuple[Image.Image, tuple[int, int]] | None:
    """Decode ``path`` as an RGB image scaled so its longer side is at most ``max_side`` (JPEGs are decoded at
    a reduced scale from the start), with the stored size; None when it is not an image Pillow knows.

    Raises :class:`MediaError` for images that are too large or truncated/corrupt.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
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
            img.draft("RGB", (max_side, max_side))  # JPEG only: DCT scaling, never below the requested size
            img.load()
        except (OSError, SyntaxError, ValueError) as exc:
            raise MediaError("corrupt_image", f"corrupt or truncated image: {exc}") from exc
        flat = flatten(img)
    flat.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return flat, (w, h)


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
# frame with one line of 20 px text 7.6; a frame 90% into a fade to white 9.4 (tests/verbalize/test_media.py).
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

