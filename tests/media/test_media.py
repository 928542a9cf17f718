"""Media that real ads contain, made here: rotated and late-starting video, transparent PNG, blank frames."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw, ImageFont

from ava.media import ffmpeg as ff
from ava.media.decode import decode, keyframe
from ava.media.image import flatten, is_blank
from ava.verbalize.pipeline import verbalize
from tests.helpers import compose_verbalize, ffmpeg

BLANK_HASH = "8000000000000000"  # what every uniform frame hashes to


def text_card(size=(480, 160), text="SALE TODAY", fill=(0, 0, 0, 255), background=(0, 0, 0, 0)) -> Image.Image:
    img = Image.new("RGBA", size, background)
    ImageDraw.Draw(img).text((30, 50), text, fill=fill, font=ImageFont.load_default(size=56))
    return img


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    # a phone video: frames stored 320x180 (landscape), display matrix -90 degrees
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:d=2:r=10", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(root / "plain.mp4"))
    ffmpeg("-i", str(root / "plain.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=270", str(root / "rotated.mp4"))
    # a 1 s video whose first frame is at 1.02 s: ffprobe's format duration says 2.02 s
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:d=1:r=10", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-output_ts_offset", "1.02", str(root / "late.mp4"))
    # 4 s that fade to white from 0.3 s to 1 s, then stay white (the longest scene is white), and all-white video
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:d=4:r=10", "-vf", "fade=t=out:st=0.3:d=0.7:color=white",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(root / "fade_white.mp4"))
    ffmpeg("-f", "lavfi", "-i", "color=c=white:s=320x180:d=2:r=10", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(root / "white.mp4"))
    Image.new("RGB", (200, 100), "white").save(root / "white.png")
    text_card().save(root / "transparent.png")  # black text; transparent pixels store black (0, 0, 0, 0)
    names = ["rotated.mp4", "late.mp4", "fade_white.mp4", "white.mp4", "white.png", "transparent.png"]
    ads = [{"id": str(i), "media": [name], "languages": ["en"]} for i, name in enumerate(names)]
    (root / "ads.jsonl").write_text("".join(json.dumps(a) + "\n" for a in ads))
    return root


@pytest.fixture(scope="module")
def rows(media, tmp_path_factory, tiny_clip_config, tiny_clip_weights):
    out = tmp_path_factory.mktemp("out")
    verbalize(compose_verbalize([f"input={media / 'ads.jsonl'}", f"output_dir={out}", "asr=none", "progress=false",
                                 "executor.workers=0", "encoders.vision.model=ava-tiny-clip",
                                 f"encoders.vision.pretrained={tiny_clip_weights}",
                                 f"encoders.vision.config_path={tiny_clip_config}"]))
    return {r["media_path"]: r for r in pq.read_table(out / "verbalized").to_pylist()}


def test_rotated_video_is_reported_as_displayed(media, rows):
    assert ff.probe(media / "rotated.mp4").rotation == -90
    row = rows["rotated.mp4"]
    assert row["status"] == "ok", row["error"]
    assert (row["width"], row["height"]) == (180, 320)
    assert "Media: video, 180x320 (9:16)" in row["verbalization"]
    dec = decode(media / "rotated.mp4", compose_verbalize([]).media)
    assert all(s.frame.size == (180, 320) for s in dec.scenes)  # keyframes upright too


def test_video_starting_late_is_decoded(media, rows):
    info = ff.probe(media / "late.mp4")
    assert info.duration_s == pytest.approx(1.0, abs=0.05)
    row = rows["late.mp4"]
    assert row["status"] == "ok", row["error"]
    assert row["duration_s"] == pytest.approx(1.0, abs=0.05) and row["phash"] != BLANK_HASH


def test_transparent_png_keeps_black_text_visible(media, rows):
    img = Image.open(media / "transparent.png")
    assert np.asarray(img.convert("RGB")).max() == 0  # what dropping alpha gives: all black, no text
    flat = flatten(img)
    assert flat.getpixel((2, 2)) == (255, 255, 255)  # dark drawing: composited on white
    assert flatten(text_card(fill=(255, 255, 255, 255))).getpixel((2, 2)) == (0, 0, 0)  # light drawing: on black
    row = rows["transparent.png"]
    assert row["ocr_text"].replace(" ", "").upper() == "SALETODAY"


def test_fade_to_white_hashes_what_can_be_seen(rows):
    row = rows["fade_white.mp4"]
    scenes = [(s["start"], s["end"], s["blank"]) for s in row["scenes"]]
    assert scenes == [(0.0, 1.0, False), (1.0, 4.0, True)]  # the white tail is its own, longest, scene
    assert row["blank"] is False
    assert row["phash"] not in (None, BLANK_HASH)  # from the non-blank scene, not the longest one
    assert row["embedding"] is not None and row["scenes"][1]["tags"] == []


def test_keyframe_skips_a_blank_middle_frame(media):
    cfg = compose_verbalize([]).media
    path = media / "fade_white.mp4"
    assert is_blank(ff.frame_at(path, 2.0, 320))  # the middle of the scene 0-4 s, what the old code took
    scene = keyframe(path, 0, 0.0, 4.0, cfg)
    assert not scene.blank and not is_blank(scene.frame)
    white = keyframe(media / "white.mp4", 0, 0.0, 2.0, cfg)
    assert white.blank and is_blank(white.frame)


@pytest.mark.parametrize("name", ["white.mp4", "white.png"])
def test_all_blank_media_is_marked_and_not_hashed(rows, name):
    row = rows[name]
    assert row["status"] == "ok" and row["blank"] is True
    assert all(s["blank"] for s in row["scenes"])
    assert row["phash"] is None and row["embedding"] is None  # would make unrelated blank ads duplicates
    assert "all frames blank" in row["verbalization"]
    assert "blank frame" in row["verbalization"]


def test_blank_threshold_separates_flat_frames_from_sparse_text():
    flat = Image.new("RGB", (768, 432), (250, 250, 250))
    sparse = flat.copy()
    ImageDraw.Draw(sparse).text((20, 20), "open 7am", fill="black", font=ImageFont.load_default(size=20))
    noisy = Image.fromarray(np.clip(np.random.default_rng(0).normal(250, 1.0, (432, 768, 3)), 0, 255).astype("uint8"))
    assert is_blank(flat) and is_blank(noisy) and not is_blank(sparse)
