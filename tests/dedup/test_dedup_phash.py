"""python -m ava.dedup method=phash: resized / recompressed real images group, distinct images do not."""

import gzip
import io
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from matplotlib import cbook, colormaps
from PIL import Image

from ava.dedup.binary import binary_pairs, build_binary, estimate_binary_recall, exact_binary_pairs
from ava.dedup.run import dedup
from ava.media.phash import hex_to_bytes, phash_hex
from tests.dedup.helpers import (
    canonical,
    cfg_for,
    hamming_reference,
    pair_counts,
    rows_for,
    write_verbalized,
)


def _render(values: np.ndarray) -> Image.Image:
    v = (values - np.nanmin(values)) / (np.nanmax(values) - np.nanmin(values))
    return Image.fromarray((colormaps["viridis"](np.nan_to_num(v))[..., :3] * 255).astype(np.uint8))


def _sample(name: str) -> str:
    return cbook.get_sample_data(name, asfileobj=False)


def real_images() -> list[Image.Image]:
    """Six unrelated real images shipped with matplotlib: photo, pack shot, logo, MRI slice, two maps."""
    mri = np.frombuffer(gzip.open(_sample("s1045.ima.gz")).read(), np.uint16).reshape(256, 256)
    return [
        Image.open(_sample("grace_hopper.jpg")).convert("RGB"),
        Image.open(_sample("Minduka_Present_Blue_Pack.png")).convert("RGB"),
        Image.open(_sample("logo2.png")).convert("RGB"),
        _render(mri.astype(float)),
        _render(np.load(_sample("topobathy.npz"))["topo"].astype(float)),
        _render(np.load(_sample("jacksboro_fault_dem.npz"))["elevation"].astype(float)),
    ]


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def variants(image: Image.Image) -> list[Image.Image]:
    """What ad libraries hold: resized re-uploads and recompressions of one creative."""
    w, h = image.size
    return [
        image,
        image.resize((w // 2, h // 2), Image.Resampling.BILINEAR),
        _jpeg(image, 20),
        _jpeg(image.resize((int(w * 0.75), int(h * 0.75))), 50),
        _jpeg(image, 90),
    ]


def test_resized_and_recompressed_images_group_distinct_ones_do_not(tmp_path):
    hashes, truth = [], []
    for k, image in enumerate(real_images()):
        for v in variants(image):
            hashes.append(phash_hex(v))
            truth.append(k)
    order = np.random.default_rng(0).permutation(len(hashes))
    hashes, truth = [hashes[i] for i in order], np.array(truth)[order]
    src = write_verbalized(tmp_path / "in", rows_for(phashes=hashes))
    summary = dedup(cfg_for(src, tmp_path / "out", "method=phash"))
    assert summary.threshold == 8 and summary.index == "IndexBinaryFlat"
    df = pq.read_table(tmp_path / "out" / "dedup.parquet").to_pandas()
    assert pair_counts(df.cluster_id.to_numpy(), truth) == (1.0, 1.0)
    assert summary.clusters == 6 and summary.items_removed == 24
    reps = df[df.is_representative].index.to_numpy()
    rep_of = {df.cluster_id[r]: hashes[r] for r in reps}
    expected = [
        1 - (int(h, 16) ^ int(rep_of[c], 16)).bit_count() / 64
        for h, c in zip(hashes, df.cluster_id, strict=True)
    ]
    np.testing.assert_allclose(df.similarity, expected, atol=1e-7)
    assert json.loads((tmp_path / "out" / "dedup_summary.json").read_text())["method"] == "phash"


def _planted_codes(n: int, seed: int, threshold: int) -> np.ndarray:
    """Random 64-bit codes, a quarter of them copies of another with 0..threshold+2 bits flipped."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (n, 8), dtype=np.uint8)
    copies = rng.choice(n, n // 4, replace=False)
    for c in copies:
        bits = np.unpackbits(codes[rng.integers(0, n)])
        bits[rng.choice(64, rng.integers(0, threshold + 3), replace=False)] ^= 1
        codes[c] = np.packbits(bits)
    return codes


@pytest.mark.parametrize("threshold", [3, 8, 13])
def test_multihash_search_is_exact_by_pigeonhole(threshold):
    codes = _planted_codes(4000, seed=threshold, threshold=threshold)
    index, name = build_binary(codes, threshold, flat_max_items=100)
    assert name.startswith("IndexBinaryMultiHash") and f"nflip={threshold // 4}" in name
    rows = np.arange(len(codes))
    found = set()
    for qi, nbr, dist in binary_pairs(index, codes, rows, threshold, block_size=999):
        assert (dist <= threshold).all()
        found |= set(zip(qi.tolist(), nbr.tolist(), strict=True))
    exact = exact_binary_pairs(codes, rows, threshold)
    assert found == set(zip(exact[0].tolist(), exact[1].tolist(), strict=True)) and len(found) > 500
    report = estimate_binary_recall(index, codes, threshold, sample=500, seed=0, block_size=999)
    assert report.recall == 1.0 and report.sample_pairs > 0


def test_large_phash_run_uses_multihash_and_matches_reference(tmp_path):
    codes = _planted_codes(3000, seed=7, threshold=8)
    hashes = [c.tobytes().hex() for c in codes]
    assert hex_to_bytes(hashes[0]) == codes[0].tobytes()
    src = write_verbalized(tmp_path / "in", rows_for(phashes=hashes))
    summary = dedup(cfg_for(src, tmp_path / "out", "method=phash", "method.binary_flat_max_items=1000"))
    assert summary.index.startswith("IndexBinaryMultiHash") and summary.recall["estimate"] == 1.0
    labels = pq.read_table(tmp_path / "out" / "dedup.parquet")["cluster_id"].to_numpy()
    assert np.array_equal(canonical(labels), canonical(hamming_reference(codes, 8)))
