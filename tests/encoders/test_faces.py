"""YuNet faces on matplotlib's bundled Grace Hopper photo: whole, cut by the edge, small, two, and none."""

from pathlib import Path

import matplotlib
import pytest
from PIL import Image, ImageDraw

from ava.encoders.faces import detect_faces

HOPPER = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
FACE = (182, 121, 171, 211)  # x, y, w, h of her face in the 512x600 photo, by eye (YuNet finds 182,121,171,211)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(HOPPER).convert("RGB")


def test_finds_the_face_where_it_is(photo):
    (conf, (x, y, w, h)), = detect_faces(photo, 0.5)
    fx, fy, fw, fh = FACE
    overlap = max(0, min(x + w, fx + fw) - max(x, fx)) * max(0, min(y + h, fy + fh) - max(y, fy))
    assert overlap / (w * h + fw * fh - overlap) > 0.6 and conf > 0.8


@pytest.mark.parametrize("cut", [0.3, 0.5])
def test_face_cut_by_the_image_edge(photo, cut):
    x, y, w, h = FACE
    assert len(detect_faces(photo.crop((x + int(w * cut), 0, *photo.size)), 0.5)) == 1  # left part cut off
    assert len(detect_faces(photo.crop((0, y + int(h * cut), *photo.size)), 0.5)) == 1  # top part cut off


def test_small_faces_and_two_of_them(photo):
    canvas = Image.new("RGB", (640, 360), (90, 120, 150))
    small = photo.resize((77, 90))  # a ~26 px face
    canvas.paste(small, (60, 200))
    canvas.paste(small.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (420, 60))
    assert len(detect_faces(canvas, 0.5)) == 2


def test_no_face_in_text_or_a_drawn_smiley(samples_dir):
    assert detect_faces(Image.open(samples_dir / "media" / "summer_sale.png").convert("RGB"), 0.5) == []
    smiley = Image.new("RGB", (400, 300), "white")
    draw = ImageDraw.Draw(smiley)
    draw.ellipse((100, 50, 300, 250), fill=(230, 190, 160))
    draw.ellipse((150, 110, 170, 130), fill="black")
    draw.ellipse((230, 110, 250, 130), fill="black")
    assert detect_faces(smiley, 0.5) == []


def test_large_images_are_shrunk_and_boxes_scaled_back(photo):
    big = photo.resize((photo.width * 3, photo.height * 3))
    (_, (x, y, w, h)), = detect_faces(big, 0.5)
    assert abs(x - 3 * FACE[0]) < 30 and abs(w - 3 * FACE[2]) < 45
