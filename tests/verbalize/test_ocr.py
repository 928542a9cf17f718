"""OCR lines: script filter from the ad's languages, single low-confidence glyphs, and the real engine."""

import pytest
from PIL import Image, ImageDraw, ImageFont

from ava.encoders.ocr import RapidOCREngine, keep_line
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


def test_engine_reads_rendered_lines_in_order():
    img = Image.new("RGB", (520, 220), "white")
    draw = ImageDraw.Draw(img)
    draw.text((30, 30), "FRESH COFFEE", fill="black", font=ImageFont.load_default(size=44))
    draw.text((30, 120), "OPEN 7AM", fill="black", font=ImageFont.load_default(size=44))
    ocr = RapidOCREngine()
    lines = ocr.read(img, allowed_scripts(["en"])).splitlines()
    assert [ln.replace(" ", "") for ln in lines] == ["FRESHCOFFEE", "OPEN7AM"]
