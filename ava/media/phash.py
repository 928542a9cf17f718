"""python -m ava.verbalize / ava.dedup: 64-bit DCT perceptual hash of an image, as 16 hex characters.

The classic pHash (Zauner 2010; the same definition as the ``imagehash`` package, which the tests use as the
reference): greyscale, resize to 32×32 with Lanczos, 2-D DCT-II, keep the top-left 8×8 low frequencies,
set a bit where the coefficient exceeds their median. Bits are packed row-major, most significant first.
Near-duplicates (resized, recompressed) differ in a few bits; unrelated images in ~32.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

HASH_SIZE = 8
HIGHFREQ_FACTOR = 4


def phash_bits(image: Image.Image) -> np.ndarray:
    """The 64 pHash bits of ``image`` as a bool array of shape (8, 8)."""
    from scipy.fft import dct  # here, not at the top: importing scipy.fft costs ~1 s of CPU at every start-up

    side = HASH_SIZE * HIGHFREQ_FACTOR
    grey = image.convert("L").resize((side, side), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    coeffs = dct(dct(pixels, axis=0), axis=1)
    low = coeffs[:HASH_SIZE, :HASH_SIZE]
    return low > np.median(low)


def phash_hex(image: Image.Image) -> str:
    """pHash of ``image`` as a 16-character lower-case hex string."""
    value = 0
    for bit in phash_bits(image).flatten():
        value = (value << 1) | int(bit)
    return f"{value:016x}"


def hex_to_bytes(phash: str) -> bytes:
    """8 bytes, big-endian, as FAISS binary indexes take them; raises ValueError on a malformed hash."""
    if len(phash) != 16:
        raise ValueError(f"pHash must be 16 hex characters, got {phash!r}")
    return bytes.fromhex(phash)


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two hex pHashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
