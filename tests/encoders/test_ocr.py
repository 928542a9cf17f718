"""OCR lines: script filter from the ad's languages, single low-confidence glyphs, and the real engine."""

from pathlib import Path

import matplotlib
import pytest
from PIL import Image, ImageDraw, ImageFont

from ava.encoders.ocr import RapidOCREngine, bundled_models, keep_line
from ava.encoders.scripts import allowed_scripts, languages, line_script


def keep(text, score, langs):
    return keep_line(text, score, allowed_scripts(langs), min_score=0.5, min_glyph_score=0.8)


@pytest.mark.parametrize("text, score, langs, kept", [
    ("領", 0.74, ["en"], False),          # what photos gave on English ads (a tie, glasses)
    ("領帯", 0.95, ["en"], False),        # CJK in an English ad, however confident
    ("領帯", 0.95, ["zh"], True),
    ("領", 0.74, ["zh"], False),          # a single glyph needs min_glyph_score in any language
    ("領", 0.9, ["zh"], True),
    ("SUMMER SALE", 0.9, ["en"], True),
    ("iPhone", 0.9, ["zh"], True),        # Latin is allowed in every language (brands, URLs)
    ("50%", 0.9, ["zh"], True),           # no letters: no script to disagree with
    ("5", 0.95, ["en"], True),
    ("A", 0.6, [], False),
    ("Привет мир", 0.9, ["ru"], True),
    ("Привет мир", 0.9, ["en"], False),
    ("Привет мир", 0.9, ["zh"], False),
    ("領帯", 0.95, [], True),             # no languages given: no script filter
    ("領帯", 0.95, ["xx"], True),         # a language we cannot place: no script filter
    ("SALE", 0.45, ["en"], False),        # below min_score
])
def test_keep_line(text, score, langs, kept):
    assert keep(text, score, langs) is kept


def test_scripts_and_languages():
    assert line_script("日本語 ab") == "CJK" and line_script("Sale 日") == "LATIN" and line_script("4.") is None
    assert languages({"languages": ["en-US", "DE"]}) == ["en", "de"] and languages({"languages": "fr"}) == ["fr"]
    assert allowed_scripts(["ja"]) == {"CJK", "HIRAGANA", "KATAKANA", "LATIN"} and allowed_scripts([]) is None


# Rendered multi-word lines in fonts that ship with matplotlib (so every machine has them) and Pillow's own.
FONTS = ["DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "STIXGeneral.ttf", None]
LINES = [["SUMMER SALE", "50% OFF ALL SHOES"], ["FREE ONLINE COURSE", "Open from 7am daily"],
         ["Vote yes on Measure 5", "CLEAN WATER FOR EVERY FAMILY"], ["Fresh coffee & pastries", "Order online today"],
         ["New season styles", "FREE DELIVERY OVER $50"]]


def render_lines(lines: list[str], font_file: str | None) -> Image.Image:
    size = 40
    font = (ImageFont.load_default(size=size) if font_file is None
            else ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / font_file), size))
    img = Image.new("RGB", (760, 90 * len(lines) + 40), "white")
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((30, 30 + 90 * i), line, fill="black", font=font)
    return img


@pytest.fixture(scope="module")
def ocr():
    return RapidOCREngine(threads=1)


def test_engine_reads_rendered_lines_in_order_with_spaces(ocr):
    """Word recall >= 0.9 over five fonts, counting a word only when it comes out as a word between spaces (a
    run-together "SUMMERSALE" counts for neither word), and the lines in reading order."""
    found = total = 0
    for lines, font in zip(LINES, FONTS, strict=True):
        read = ocr.read(render_lines(lines, font), allowed_scripts(["en"])).splitlines()
        assert len(read) == len(lines), (font, read)
        for want, got in zip(lines, read, strict=True):
            got_words = got.upper().split()
            words = want.upper().split()
            found += sum(w in got_words for w in words)
            total += len(words)
    assert found / total >= 0.9, (found, total)


def test_blank_image_reads_nothing(ocr):
    assert ocr.read(Image.new("RGB", (320, 200), "white")) == ""


def test_engine_loads_the_wheels_models_with_no_network(monkeypatch):
    """RapidOCR downloads a model only when the file is missing; ours are given by path from the wheel."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    engine = RapidOCREngine(threads=1)
    assert all(p.is_file() and p.parent.parent.name == "rapidocr" for p in bundled_models().values())
    assert engine.read(render_lines(["SUMMER SALE"], None)) == "SUMMER SALE"
