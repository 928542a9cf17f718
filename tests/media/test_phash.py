import imagehash
import numpy as np
import pytest
from PIL import Image

from ava.media.phash import hamming, hex_to_bytes, phash_hex


@pytest.mark.parametrize("seed", range(4))
def test_phash_matches_imagehash(seed):
    rng = np.random.default_rng(seed)
    img = Image.fromarray((rng.random((40 + seed, 70, 3)) * 255).astype("uint8")).resize((211, 97))
    assert phash_hex(img) == str(imagehash.phash(img))


def test_near_duplicates_are_close_and_distinct_images_far(samples_dir):
    a = Image.open(samples_dir / "media" / "summer_sale.png")
    b = Image.open(samples_dir / "media" / "summer_sale_reupload.jpg")
    c = Image.open(samples_dir / "media" / "course.png")
    assert hamming(phash_hex(a), phash_hex(b)) <= 6
    assert hamming(phash_hex(a), phash_hex(c)) >= 16


def test_hex_to_bytes_validates():
    assert hex_to_bytes("00ff00ff00ff00ff") == bytes([0, 255] * 4)
    with pytest.raises(ValueError):
        hex_to_bytes("abc")
