"""ava.media on media shaped as real crawls have them (issue #25): EXIF-rotated phone photos, animated GIF/WebP,
EPS under an image name, truncated mp4, hours of audio, oversized video frames, a variable frame rate."""

import json
import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf
from PIL import Image, ImageDraw, ImageFont

from ava.media.decode import decode
from ava.media.ffmpeg import SAMPLE_RATE, MediaError, probe
from ava.media.phash import hamming, phash_hex
from ava.media.scenes import detect_scenes
from tests.helpers import ffmpeg


def poster(size=(360, 640), text="SALE", bg="white") -> Image.Image:
    """A portrait poster whose top differs from its bottom (so a quarter turn changes its pHash)."""
    img = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, size[0], size[1] // 3], fill=(200, 30, 30))
    draw.ellipse([size[0] // 4, size[1] // 2, 3 * size[0] // 4, size[1] // 2 + size[0] // 2], fill=(20, 40, 160))
    draw.text((20, size[1] - 120), text, fill="black", font=ImageFont.load_default(size=64))
    return img


def test_exif_rotated_jpeg_is_read_as_displayed(tmp_path, media_cfg):
    upright = poster()
    upright.save(tmp_path / "upright.jpg", quality=92)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # a phone's sensor-order pixels: 640x360
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    stored.save(tmp_path / "sideways.jpg", quality=92, exif=exif)
    a, b = decode(tmp_path / "upright.jpg", media_cfg), decode(tmp_path / "sideways.jpg", media_cfg)
    assert (b.width, b.height) == (a.width, a.height) == (360, 640)
    assert b.scenes[0].frame.size == (360, 640)
    assert hamming(phash_hex(a.scenes[0].frame), phash_hex(b.scenes[0].frame)) <= 4
    assert hamming(phash_hex(a.scenes[0].frame), phash_hex(stored)) >= 12  # the test can tell a turned picture
    assert b.notes == ["exif_orientation: EXIF orientation 6 applied (read as displayed)"] and a.notes == []


def three_frames() -> list[Image.Image]:
    """A white first frame, then BUY NOW, then a striped card: the text is only on a later frame."""
    card = Image.new("RGB", (320, 240), (200, 30, 30))
    ImageDraw.Draw(card).rectangle([0, 100, 320, 140], fill="white")
    return [Image.new("RGB", (320, 240), "white"), poster((320, 240), "BUY NOW"), card]


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_image_is_a_short_video_of_its_frames(tmp_path, media_cfg, fmt):
    path = tmp_path / f"anim.{fmt.lower()}"
    first, *rest = three_frames()
    first.save(path, fmt, save_all=True, append_images=rest, duration=[500, 1000, 500], loop=0)
    dec = decode(path, media_cfg)
    assert dec.media_type == "video" and (dec.width, dec.height) == (320, 240)
    assert dec.duration_s == pytest.approx(2.0)
    assert [(s.start, s.end, s.blank) for s in dec.scenes] == [(0.0, 0.5, True), (0.5, 1.5, False),
                                                               (1.5, 2.0, False)]
    assert not dec.blank and dec.representative.index == 1  # the BUY NOW frame: the longest non-blank scene
    assert hamming(phash_hex(dec.representative.frame), phash_hex(three_frames()[1])) <= 6
    assert dec.notes[0].startswith("animated: 3 frames")


def test_animation_reads_frames_within_the_pixel_limit(tmp_path, media_cfg):
    frames = [Image.new("RGB", (100, 100), (i * 8, 255 - i * 8, 0)) for i in range(30)]
    frames[0].save(tmp_path / "long.gif", save_all=True, append_images=frames[1:], duration=100)
    cfg = OmegaConf.merge(media_cfg, {"max_image_pixels": 100 * 100 * 10})
    dec = decode(tmp_path / "long.gif", cfg)
    assert dec.duration_s == pytest.approx(1.0)  # ten frames read, not thirty
    assert any(n.startswith("animation_cut: only the first 10 of 30 frames") for n in dec.notes)


def test_eps_named_jpg_is_refused_and_ghostscript_never_runs(tmp_path, media_cfg, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    called = tmp_path / "gs-was-called"
    (bin_dir / "gs").write_text(f"#!/bin/sh\necho \"$@\" >> {called}\n[ \"$1\" = --version ] && echo 10.0\nexit 0\n")
    (bin_dir / "gs").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    poster().save(tmp_path / "ad.jpg", "EPS")  # PostScript under an image name
    with pytest.raises(MediaError) as err:
        decode(tmp_path / "ad.jpg", media_cfg)
    assert err.value.kind == "format_refused" and "image format EPS refused" in str(err.value)
    assert not called.exists()
    with pytest.raises(OSError):  # the stand-in works: Pillow left alone hands the file to it (writes nothing)
        Image.open(tmp_path / "ad.jpg").load()
    assert "-dSAFER" in called.read_text()


def test_mpeg1_video_is_not_refused_as_an_image_format(tmp_path, media_cfg):
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=1", "-c:v", "mpeg1video", "-f", "mpeg",
           str(tmp_path / "old.mpg"))
    assert decode(tmp_path / "old.mpg", media_cfg).media_type == "video"


def test_truncated_mp4_is_flagged_with_the_duration_that_can_be_read(tmp_path, media_cfg):
    full = tmp_path / "full.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=9", "-f", "lavfi", "-i", "sine=d=9", "-c:v", "libx264",
           "-c:a", "aac", "-movflags", "+faststart", "-shortest", str(full))  # the index first, promising 9 s
    data = full.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 4 // 10])
    whole, cut = decode(full, media_cfg), decode(tmp_path / "cut.mp4", media_cfg)
    assert whole.duration_s == pytest.approx(9.0) and whole.notes == []
    assert 1.0 < cut.duration_s < 6.0
    assert cut.notes and cut.notes[0].startswith(f"truncated: {cut.duration_s:.2f} s of the declared 9.00 s")
    assert all(s.end <= cut.duration_s for s in cut.scenes)


def test_truncated_audio_is_flagged(tmp_path, media_cfg):
    ffmpeg("-f", "lavfi", "-i", "sine=d=8", "-c:a", "aac", "-movflags", "+faststart", str(tmp_path / "full.m4a"))
    data = (tmp_path / "full.m4a").read_bytes()
    (tmp_path / "cut.m4a").write_bytes(data[: len(data) // 2])  # the index still promises 8 s
    dec = decode(tmp_path / "cut.m4a", media_cfg)
    assert dec.duration_s == pytest.approx(8.0, abs=0.1)
    assert 2.0 < len(dec.pcm) / SAMPLE_RATE < 6.0
    assert dec.notes and dec.notes[0].startswith(f"truncated: {len(dec.pcm) / SAMPLE_RATE:.2f} s of the declared")


DECODE_RSS = """
import json, resource, sys, time
from pathlib import Path
from omegaconf import OmegaConf
from ava.media.decode import decode
cfg = OmegaConf.create(json.loads(sys.argv[2]))
t0 = time.perf_counter()
try:
    dec = decode(Path(sys.argv[1]), cfg)
    out = {"samples": len(dec.pcm) if dec.pcm is not None else None, "notes": dec.notes}
except Exception as exc:
    out = {"error": getattr(exc, "kind", type(exc).__name__), "message": str(exc)}
out["s"] = time.perf_counter() - t0
hwm = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM"))  # not inherited at exec
out["rss_mb"] = max(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
print(json.dumps(out))
"""


def decode_in_child(path, cfg) -> dict:
    """decode() in a fresh process: its peak RSS (itself or ffmpeg, whichever is larger) and time. The process's
    own peak is its VmHWM: ru_maxrss carries the parent's peak across fork and exec."""
    proc = subprocess.run([sys.executable, "-c", DECODE_RSS, str(path), json.dumps(OmegaConf.to_container(cfg))],
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(proc.stdout)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmHWM from /proc")
def test_hours_of_audio_are_cut_at_max_audio_s(tmp_path, media_cfg):
    # 1 h of silence, FLAC: 1.0 MB on disk. Uncapped it decodes to 345 MB of int16 + float32 PCM: 593 MB peak
    # RSS, 10.5 s; capped at 60 s: 55 MB, 1.5 s (2-core VM, load 8). The bounds leave room on any machine.
    path = tmp_path / "long.flac"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "3600", "-c:a", "flac", str(path))
    capped = decode_in_child(path, OmegaConf.merge(media_cfg, {"max_audio_s": 60}))
    assert capped["samples"] == 60 * SAMPLE_RATE
    assert capped["notes"] == ["audio_cut: only the first 60 s of audio decoded (max_audio_s) of 3600.0 s"]
    assert capped["rss_mb"] < 250 and capped["s"] < 15
    whole = decode_in_child(path, OmegaConf.merge(media_cfg, {"max_audio_s": 7200}))
    assert whole["samples"] == 3600 * SAMPLE_RATE and whole["rss_mb"] > 400  # what the cap saves


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmHWM from /proc")
def test_video_declaring_huge_frames_is_refused_before_decoding(tmp_path, media_cfg):
    # A 16000x16000 mkv (one black frame, 0.75 MB) took 2.2 GB and 31 s to decode before (650 MB in ffprobe
    # alone); refused by ffprobe's decoder (-max_pixels) it costs 148 MB and 1.1 s (2-core VM, load 8).
    path = tmp_path / "huge.mkv"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=16000x16000:d=0.04", "-frames:v", "1", "-c:v", "libx264",
           "-preset", "ultrafast", str(path))
    out = decode_in_child(path, media_cfg)
    assert out["error"] == "too_large", out
    assert "16000x16000 exceeds specified max pixel count 33177600 (max_video_pixels)" in out["message"]
    assert out["rss_mb"] < 300 and out["s"] < 10


def test_scene_ends_are_clipped_to_the_duration(tmp_path):
    # PySceneDetect times frames by number over a frame rate; a variable-frame-rate file's last scene ended past
    # the video (4.35 s of 3.98 s). Here: 3.08 s of frames and a duration of 2.5 s, then a real VFR file.
    path = tmp_path / "cut.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=2", "-f", "lavfi", "-i", "color=c=red:s=160x90:r=25:d=1.08",
           "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", "-c:v", "libx264", "-pix_fmt",
           "yuv420p", str(path))
    assert detect_scenes(path, 3.08, 27.0, 0.5, 12) == [(0.0, 2.0), (2.0, 3.08)]
    assert detect_scenes(path, 2.5, 27.0, 0.5, 12) == [(0.0, 2.0), (2.0, 2.5)]
    assert detect_scenes(path, 1.5, 27.0, 0.5, 12) == [(0.0, 1.5)]
    # 2 s at 30 fps, then 60 frames in 1 s: ffmpeg 5.1 and PySceneDetect 0.6 put the last end at 3.05 s of 3.02
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x90:r=30:d=2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(tmp_path / "a.mp4"))
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=160x90:r=30:d=2", "-vf", "drawbox=x=10:y=10:w=40:h=40:color=white",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(tmp_path / "b.mp4"))
    ffmpeg("-itsscale", "0.5", "-i", str(tmp_path / "b.mp4"), "-c", "copy", str(tmp_path / "b_fast.mp4"))
    (tmp_path / "list.txt").write_text("file 'a.mp4'\nfile 'b_fast.mp4'\n")
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(tmp_path / "list.txt"), "-c", "copy", str(tmp_path / "vfr.mp4"))
    duration = probe(tmp_path / "vfr.mp4").duration_s
    scenes = detect_scenes(tmp_path / "vfr.mp4", duration, 27.0, 0.5, 12)
    assert len(scenes) == 2 and scenes[-1][1] == duration and all(s < e <= duration for s, e in scenes)


def test_a_word_changing_between_animation_frames_is_a_new_scene(tmp_path, media_cfg):
    frames = []
    for word in ("BUY", "NOW", "NOW"):
        frame = Image.new("RGB", (400, 200), "white")
        ImageDraw.Draw(frame).text((10, 10), word, fill="black", font=ImageFont.load_default(size=24))
        frames.append(frame)
    frames[0].save(tmp_path / "words.gif", save_all=True, append_images=frames[1:], duration=[500, 500, 1000])
    dec = decode(tmp_path / "words.gif", media_cfg)
    assert [(s.start, s.end) for s in dec.scenes] == [(0.0, 0.5), (0.5, 2.0)]  # NOW twice: one scene
    assert hamming(phash_hex(dec.scenes[1].frame), phash_hex(frames[1])) <= 2
