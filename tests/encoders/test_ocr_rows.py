"""OCR reading order: rows by vertical overlap, then left to right; one-glyph words kept in their rows.

The CJK image is rendered here with WenQuanYi Micro Hei (Debian's fonts-wqy-microhei, which
tools/install_system_deps.sh installs; RapidOCR's own test image ``black_font_color_transparent.png`` does not
ship in the rapidocr wheel): "我是中国人" glyph by glyph, spaced so the detector boxes each alone, their tops
a few pixels apart across multiples of 10, where rounding tops to 10 px read them out of order.
"""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ava.encoders.ocr import RapidOCREngine, keep_line, rows
from ava.encoders.scripts import allowed_scripts

CJK_FONTS = [Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
             Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")]
CJK_FONT = next((f for f in CJK_FONTS if f.is_file()), None)


def box(x0: float, top: float, x1: float, bottom: float) -> np.ndarray:
    return np.array([[x0, top], [x1, top], [x1, bottom], [x0, bottom]], dtype=np.float32)


def test_rows_group_by_vertical_overlap_then_left_to_right():
    # one line of five glyph boxes whose tops straddle 40 (34-37: rounded to 10 px they were rows 3 and 4),
    # given in the order the detector might; below it a second line
    glyphs = [box(300, 36, 348, 86), box(20, 34, 68, 84), box(200, 37, 248, 87), box(110, 35, 158, 85),
              box(400, 34, 448, 84)]
    second = [box(150, 130, 400, 175), box(20, 132, 120, 178)]
    assert rows(glyphs + second) == [[1, 3, 2, 0, 4], [6, 5]]
    assert rows([]) == []
    # a tall box and a short one beside it: overlap is judged against the shorter (half of it at least)
    assert rows([box(0, 0, 50, 100), box(60, 60, 90, 90)]) == [[0, 1]]
    assert rows([box(0, 0, 50, 100), box(60, 80, 90, 140)]) == [[0], [1]]  # 20 of 60 px: another row


@pytest.mark.parametrize("text, score, langs, in_row, kept", [
    ("人", 0.7, ["zh"], True, True),    # a one-glyph word beside others in its row
    ("人", 0.7, ["zh"], False, False),  # alone in its row: needs min_glyph_score (stray glyphs in photos)
    ("人", 0.7, ["en"], True, False),   # the script rule still applies
    ("ア", 0.7, ["ja"], True, True),
    ("A", 0.7, [], True, False),        # one Latin letter is no word
    ("人", 0.4, ["zh"], True, False),   # below min_score
])
def test_single_glyph_in_a_row(text, score, langs, in_row, kept):
    assert keep_line(text, score, allowed_scripts(langs), 0.5, 0.8, in_row=in_row) is kept


class Engine:
    """A stand-in for RapidOCR's engine giving fixed boxes (the reading rules on their own)."""

    def __init__(self, lines):
        self.lines = lines

    def __call__(self, image):
        return SimpleNamespace(boxes=[b for b, _, _ in self.lines], txts=[t for _, t, _ in self.lines],
                               scores=[s for _, _, s in self.lines])


def test_read_keeps_a_less_sure_glyph_in_its_row_and_drops_a_stray_one():
    ocr = RapidOCREngine.__new__(RapidOCREngine)
    ocr.min_score, ocr.min_glyph_score = 0.5, 0.8
    ocr.engine = Engine([(box(200, 36, 296, 86), "中国", 0.99), (box(110, 38, 158, 88), "是", 0.95),
                         (box(20, 34, 68, 84), "我", 0.97), (box(310, 35, 358, 85), "人", 0.7),
                         (box(500, 300, 540, 340), "領", 0.7)])
    assert ocr.read(Image.new("RGB", (600, 400)), allowed_scripts(["zh"])).splitlines() == ["我", "是", "中国", "人"]


@pytest.mark.skipif(CJK_FONT is None, reason="no CJK font (tools/install_system_deps.sh installs fonts-wqy-microhei)")
def test_engine_reads_a_chinese_line_glyph_by_glyph_in_order():
    font = ImageFont.truetype(str(CJK_FONT), 48)
    img = Image.new("RGB", (700, 160), "white")
    draw = ImageDraw.Draw(img)
    for k, (ch, dy) in enumerate(zip("我是中国人", [0, 9, -8, 4, -6], strict=True)):
        draw.text((30 + k * 138, 50 + dy), ch, fill="black", font=font)
    read = RapidOCREngine(threads=1).read(img, allowed_scripts(["zh"]))
    assert "".join(read.split()) == "我是中国人", read
