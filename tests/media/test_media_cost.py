"""What bounds the cost of one oversized item: large images are scaled down before the encoders see them, long
videos are sampled for scene cuts (media.image_max_side, media.scene_max_frames)."""

import pytest
from PIL import Image, ImageDraw

from ava.media.decode import decode
from ava.media.scenes import detect_scenes, frame_step
from tests.helpers import ffmpeg


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_large_image_is_scaled_down_and_keeps_its_stored_size(tmp_path, media_cfg, fmt):
    img = Image.new("RGB", (5000, 2500), "white")
    ImageDraw.Draw(img).rectangle([0, 0, 2500, 2500], fill=(220, 20, 20))
    path = tmp_path / f"big.{fmt.lower()}"
    img.save(path, fmt)
    dec = decode(path, media_cfg)
    side = media_cfg.image_max_side
    assert (dec.width, dec.height) == (5000, 2500)  # what the file holds, as reported in the row
    frame = dec.scenes[0].frame
    assert frame.size == (side, side // 2)  # JPEG: decoded at 1/2 scale by draft, then resized to the limit
    red, white = frame.getpixel((side // 4, side // 4)), frame.getpixel((3 * side // 4, side // 4))
    assert red[0] > 200 and max(red[1:]) < 60 and min(white) > 240  # the same picture, smaller


def test_image_within_the_limit_is_untouched(tmp_path, media_cfg):
    img = Image.new("RGB", (1080, 1920), (30, 80, 200))
    img.save(tmp_path / "story.png")
    dec = decode(tmp_path / "story.png", media_cfg)
    assert dec.scenes[0].frame.size == (1080, 1920)
    assert dec.scenes[0].frame.tobytes() == img.tobytes()


@pytest.mark.parametrize(("n_frames", "max_frames", "step"),
                         [(100, None, 1), (3000, 3000, 1), (3001, 3000, 2), (86_400, 3000, 29), (1, 1, 1)])
def test_frame_step(n_frames, max_frames, step):
    assert frame_step(n_frames, max_frames) == step
    if max_frames:
        assert -(-n_frames // step) <= max_frames  # frames analysed


def test_long_video_is_sampled_and_its_cut_found_within_a_step(tmp_path):
    # 25 fps, a hard cut at frame 77 (3.08 s); with at most 30 of the 150 frames analysed (every 5th: 0, 5, ...,
    # 75, 80) the cut is seen at frame 80 (3.2 s): proof that frames were skipped, and the cut still found.
    path = tmp_path / "cut.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=3.08", "-f", "lavfi", "-i",
           "color=c=red:s=160x90:r=25:d=2.92", "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))
    whole = detect_scenes(path, 6.0, 27.0, 0.5, 12)
    sampled = detect_scenes(path, 6.0, 27.0, 0.5, 12, max_frames=30)
    assert [round(s, 2) for s, _ in whole] == [0.0, 3.08]
    assert [round(s, 2) for s, _ in sampled] == [0.0, 3.2]
