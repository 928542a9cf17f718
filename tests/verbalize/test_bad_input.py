"""Bad input never stops the run and never loses good rows: each becomes an error row or report entry."""

import json
import shutil
import subprocess

import pyarrow.parquet as pq
import pytest
from PIL import Image

from ava.verbalize.pipeline import verbalize
from tests.helpers import compose_verbalize, ffmpeg


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory, samples_dir):
    root = tmp_path_factory.mktemp("bad")
    media = root / "media"
    media.mkdir()
    good = samples_dir / "media" / "summer_sale.png"
    shutil.copy(good, media / "good.png")
    (media / "empty.png").write_bytes(b"")
    (media / "truncated.png").write_bytes(good.read_bytes()[:300])
    (media / "truncated.mp4").write_bytes((samples_dir / "media" / "measure5.mp4").read_bytes()[:4000])
    (media / "notes.jpg").write_text("this is not an image\n" * 20)
    shutil.copy(good, media / "really_a_png.mp4")
    (media / "a_folder.png").mkdir()
    Image.new("1", (20_000, 20_000)).save(media / "bomb.png")  # 400 Mpx: a decompression bomb, 50 kB on disk
    Image.new("RGB", (64, 64), "red").save(media / "big_for_config.png")
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=160x120:d=2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(media / "no_audio.mp4"))
    ffmpeg("-f", "lavfi", "-i", "color=c=green:s=160x120:d=2", "-f", "lavfi", "-i",
           "anullsrc=r=16000:cl=mono", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
           str(media / "silent_track.mp4"))
    (root / "outside.png").write_bytes(good.read_bytes())
    ads = [
        {"id": "good", "page_name": "P", "media": ["media/good.png"]},
        {"id": "broken", "media": ["media/empty.png", "media/truncated.png", "media/truncated.mp4",
                                   "media/notes.jpg", "media/a_folder.png", "media/missing.png",
                                   "../outside.png", "/etc/hostname", "media/bomb.png"]},
        {"id": "odd", "media": ["media/really_a_png.mp4", "media/no_audio.mp4", "media/silent_track.mp4"]},
    ]
    lines = [json.dumps(ads[0]), "{this is not json", json.dumps(ads[1]), json.dumps(ads[2]), '{"id": ""}']
    (root / "ads.jsonl").write_text("\n".join(lines) + "\n")
    out = root / "out"
    cfg = compose_verbalize([f"input={root / 'ads.jsonl'}", f"output_dir={out}", "vision=none", "progress=false",
                             "media.max_image_pixels=200000000"])
    summary = verbalize(cfg)
    rows = {(r["ad_id"], r["media_path"]): r for r in pq.read_table(out / "verbalized").to_pylist()}
    return summary, rows


def test_good_rows_survive(bad_run):
    summary, rows = bad_run
    assert rows[("good", "media/good.png")]["status"] == "ok"
    assert summary["items"]["total"] == 13 and summary["items"]["ok"] == 4


def test_manifest_errors_carry_line_numbers(bad_run):
    summary, _ = bad_run
    assert [e["line"] for e in summary["manifest_errors"]] == [2, 5]
    assert "malformed JSON" in summary["manifest_errors"][0]["error"]


@pytest.mark.parametrize("path, kind, words", [
    ("media/empty.png", "empty_file", "zero-byte"),
    ("media/truncated.png", "corrupt_image", "truncated"),
    ("media/truncated.mp4", "decode_failed", "ff"),  # ffprobe or ffmpeg, in its own words
    ("media/notes.jpg", "not_media", "not a recognised"),
    ("media/a_folder.png", "not_a_file", "not a regular file"),
    ("media/missing.png", "missing_file", "not found"),
    ("../outside.png", "path_refused", "leaves the data root"),
    ("/etc/hostname", "path_refused", "absolute"),
    ("media/bomb.png", "too_large", "decompression bomb"),
])
def test_each_bad_item_is_an_error_row(bad_run, path, kind, words):
    row = bad_run[1][("broken", path)]
    assert row["status"] == "error"
    assert row["error_kind"] == kind, row["error"]
    assert words in row["error"]
    assert row["verbalization"] == "" and row["embedding"] is None


def test_content_decides_the_type_not_the_extension(bad_run):
    rows = bad_run[1]
    assert rows[("odd", "media/really_a_png.mp4")]["media_type"] == "image"
    no_audio = rows[("odd", "media/no_audio.mp4")]
    assert no_audio["status"] == "ok" and no_audio["audio"] == "no audio track" and no_audio["transcript"] == ""
    silent = rows[("odd", "media/silent_track.mp4")]
    assert silent["status"] == "ok" and silent["audio"] == "silence" and silent["transcript"] == ""


def test_image_pixel_limit_is_configurable(tmp_path, samples_dir):
    shutil.copy(samples_dir / "media" / "course.png", tmp_path / "x.png")
    (tmp_path / "ads.jsonl").write_text(json.dumps({"id": "1", "media": ["x.png"]}) + "\n")
    cfg = compose_verbalize([f"input={tmp_path / 'ads.jsonl'}", f"output_dir={tmp_path / 'out'}", "vision=none",
                             "ocr=none", "asr=none", "progress=false", "media.max_image_pixels=1000"])
    verbalize(cfg)
    row = pq.read_table(tmp_path / "out" / "verbalized").to_pylist()[0]
    assert row["error_kind"] == "too_large" and "max_image_pixels" in row["error"]


@pytest.mark.parametrize("name", ["ad.m3u8", "ad.mp4"])
def test_playlist_naming_a_file_outside_the_root_is_refused(tmp_path, name):
    """An HLS playlist inside the data root whose entry is ../secret/secret.m4a: ffmpeg would read the file
    outside the root. It is refused by its probed format, whatever its name."""
    (tmp_path / "secret").mkdir()
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=1", "-c:a", "aac", str(tmp_path / "secret" / "secret.m4a"))
    root = tmp_path / "root"
    root.mkdir()
    (root / name).write_text("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\n../secret/secret.m4a\n#EXT-X-ENDLIST\n")
    plain = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=format_name,duration", "-of", "json",
                            str(root / name)], capture_output=True, text=True, check=True)
    assert json.loads(plain.stdout)["format"]["format_name"] == "hls"  # unguarded ffprobe follows the playlist
    (root / "ads.jsonl").write_text(json.dumps({"id": "1", "media": [name]}) + "\n")
    cfg = compose_verbalize([f"input={root / 'ads.jsonl'}", f"output_dir={tmp_path / 'out'}", "vision=none",
                             "ocr=none", "progress=false", "executor.workers=0"])
    verbalize(cfg)
    row = pq.read_table(tmp_path / "out" / "verbalized").to_pylist()[0]
    assert row["status"] == "error" and row["error_kind"] == "format_refused", row["error"]
    assert "'hls'" in row["error"] and row["transcript"] == "" and row["duration_s"] is None
