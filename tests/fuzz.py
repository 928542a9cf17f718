"""A seeded generator of hostile manifests and media for the fuzz tests (test-only; nothing here is random
without the seed, so a failure reproduces).

:func:`make_inputs` writes ``root/data/ads.jsonl`` and ``root/data/media/``: good ads (full behaviour, one or two good
images) mixed with lines that are malformed (bad JSON, non-objects, bad ids, NaN, lone surrogates, deep
nesting, bytes that are not UTF-8, bad ``media``, a line over the line bound, a 401-digit id), ads that are
valid but hostile (scalars in list fields, garbage behaviour: huge or tiny numbers, 401-digit integers, commas,
wrong types, a body over the field bound) and media that are broken (empty, truncated, not an image, a folder,
missing, outside the root, absolute, NUL bytes, symlink loops, overlong names, PostScript named .jpg). Good media
include the shapes real crawls have: animated GIF/WebP whose first frame is blank, a JPEG stored sideways with
EXIF orientation, a file name stored NFD and written NFC in the manifest, and files shared by many ads (also as
byte-identical copies under other names).
It returns what a correct run must keep.
"""

from __future__ import annotations

import codecs
import json
import random
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from ava.build_dataset.synthetic import ad
from ava.manifest import MAX_FIELD_CHARS, MAX_LINE_BYTES

BAD_LINES: list[bytes] = [
    b"{not json", b"[1, 2, 3]", b'"a string"', b"42", b"null", b'{"id": ""}', b'{"id": true}', b'{"id": null}',
    b'{"id": [1]}', b'{"id": "n1", "x": NaN}', b'{"id": "n2", "x": -Infinity}', b'{"id": "s\\ud800"}',
    b'{"id": "m1", "media": "one.png"}', b'{"id": "m2", "media": [1, 2]}', b'{"id": "m3", "media": {"a": 1}}',
    b'{"id": "u1", "page_name": "\xff\xfe"}', b"[" * 50_000 + b"]" * 50_000, b'{"id": "t1"',
    b'{"id": "k\\ud800", "page_name": "x"}', b'{"id": "d", "demographic_distribution": [{"percentage": NaN}]}',
    b'{"id": "big", "x": "' + b"y" * (MAX_LINE_BYTES + 1) + b'"}',  # over the line bound: refused, never read
    b'{"id": 1' + b"0" * 400 + b"}",  # an id no float holds (401 digits): not an id
]

BAD_MEDIA = ["empty.png", "truncated.png", "text.png", "folder.png", "missing.png", "../outside.png",
             "/etc/hostname", "x\x00y.png", "loop1", "out_link.png", "n" * 300 + ".png", "", "poster.jpg"]


def _hostile_fields(rng: random.Random) -> dict[str, Any]:
    """One or two fields a careless export might hold: valid JSON, wrong shapes or values."""
    choices = [
        {"ad_creative_bodies": rng.choice([5, True, "Hello world", None, {"a": 1}, [1, None, "x"]])},
        {"ad_creative_link_titles": rng.choice([7, False, "A title", []])},
        {"publisher_platforms": rng.choice([5, "facebook", {"x": 1}, [None, 3]])},
        {"languages": rng.choice([3, "en", ["en", 5]])},
        {"impressions": rng.choice([{"lower_bound": "1e308", "upper_bound": "1e308"}, "lots", [1, 2],
                                    {"lower_bound": "0,5", "upper_bound": "9"}, {"lower_bound": -5},
                                    {"lower_bound": "1e300", "upper_bound": "1e300"}])},
        {"spend": rng.choice([{"lower_bound": "1e-300", "upper_bound": "1e-300"}, {"lower_bound": "abc"},
                              {"lower_bound": "9", "upper_bound": "1"}, 0])},
        {"demographic_distribution": rng.choice([
            {"age": "25-34"}, "none", [1, 2], [{"age": "25-34", "gender": "female", "percentage": "0,5"},
                                                {"age": "25-34", "gender": "male", "percentage": "0,5"}],
            [{"age": "25-34", "gender": "female", "percentage": "1e308"}], [{"percentage": {"x": 1}}]])},
        {"delivery_by_region": rng.choice([["Texas"], {"Texas": 1}, [{"region": "", "percentage": 1}],
                                           [{"region": "Texas", "percentage": "-1"}]])},
        {"page_id": rng.choice([None, 5, {"x": 1}]), "page_name": rng.choice([None, 7, ["p"]])},
        {"ad_delivery_start_time": rng.choice(["yesterday", 5, None, "2024-13-45"])},
        # numbers no float holds (401 digits): the field is dropped and counted, the ad kept
        {"impressions": rng.choice([{"lower_bound": "1000", "upper_bound": 10**400}, {"lower_bound": -(10**400)}])},
        {"demographic_distribution": [{"age": "25-34", "gender": "female", "percentage": 10**400}]},
        {"ad_creative_bodies": ["long " * (MAX_FIELD_CHARS // 4)]},  # over the field bound: cut and counted
    ]
    out: dict[str, Any] = {}
    for extra in rng.sample(choices, rng.randint(1, 2)):
        out.update(extra)
    return out


@dataclass
class Expected:
    manifest: Path
    lines: int = 0  # non-blank lines
    good_ids: set[str] = field(default_factory=set)  # full behaviour, good media only: must reach the dataset
    ok_media: set[tuple[str, str]] = field(default_factory=set)  # (ad id, path) rows that must be ok
    bad_media: set[tuple[str, str]] = field(default_factory=set)  # rows that must be errors
    ads: int = 0  # lines that are ads (good or hostile-but-valid)
    too_long: set[int] = field(default_factory=set)  # line numbers over the line bound
    huge_fields: Counter = field(default_factory=Counter)  # field -> ads holding a 401-digit integer in it
    long_fields: Counter = field(default_factory=Counter)  # field -> ads with a string over the field bound


def make_media(root: Path) -> list[str]:
    """Good images under ``root/data/media`` and the broken files BAD_MEDIA names; returns the good paths."""
    media = root / "data" / "media"
    media.mkdir(parents=True)
    good = []
    for i, colour in enumerate(["red", "green", "blue", "white", "black", "yellow"]):
        Image.new("RGB", (24 + 8 * i, 16 + 4 * i), colour).save(media / f"good{i}.png")
        good.append(f"media/good{i}.png")
    frames = [Image.new("RGB", (48, 32), "white"), Image.new("RGB", (48, 32), "white")]
    ImageDraw.Draw(frames[1]).rectangle([8, 8, 40, 24], fill="red")  # only the later frame shows anything
    for fmt in ("gif", "webp"):
        frames[0].save(media / f"anim.{fmt}", save_all=True, append_images=frames[1:], duration=200, loop=0)
        good.append(f"media/anim.{fmt}")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, displayed upright
    Image.new("RGB", (40, 24), "navy").save(media / "sideways.jpg", exif=exif)
    Image.new("RGB", (20, 20), "teal").save(media / unicodedata.normalize("NFD", "café.png"))
    (media / "copy_of_good0.png").write_bytes((media / "good0.png").read_bytes())  # shared bytes, another name
    good += ["media/sideways.jpg", unicodedata.normalize("NFC", "media/café.png"), "media/copy_of_good0.png"]
    Image.new("RGB", (16, 16), "red").save(media / "poster.jpg", "EPS")  # PostScript under an image name
    (media / "empty.png").write_bytes(b"")
    (media / "truncated.png").write_bytes((media / "good0.png").read_bytes()[:40])
    (media / "text.png").write_text("not an image at all\n" * 10)
    (media / "folder.png").mkdir()
    (root / "outside.png").write_bytes((media / "good1.png").read_bytes())
    (media / "loop1").symlink_to("loop2")
    (media / "loop2").symlink_to("loop1")
    (media / "out_link.png").symlink_to(root / "outside.png")
    return good


def make_inputs(root: Path, seed: int, n_lines: int = 300) -> Expected:
    rng = random.Random(seed)
    good_media = make_media(root)
    exp = Expected(root / "data" / "ads.jsonl")
    raw: list[bytes] = []
    for i in range(n_lines):
        kind = "good" if i == 0 else rng.choices(["good", "bad_line", "hostile", "bad_media", "blank"],
                                                 weights=[4, 2, 2, 2, 1])[0]
        if kind == "blank":
            raw.append(rng.choice([b"", b"   ", b"\t"]))
            continue
        exp.lines += 1
        if kind == "bad_line":
            raw.append(rng.choice(BAD_LINES))
            if len(raw[-1]) > MAX_LINE_BYTES:
                exp.too_long.add(i + 1)
            continue
        ad_id = f"{kind}-{i}"
        media = rng.sample(good_media, rng.randint(1, 2))
        rec = ad(ad_id, f"page{i % 37}", body=f"Offer {i} {rng.random():.6f}", media=list(media))
        if kind == "hostile":
            hostile = _hostile_fields(rng)
            rec.update(hostile)
            for name, value in hostile.items():
                text = json.dumps(value)
                exp.huge_fields[name] += "0" * 400 in text
                exp.long_fields[name] += len(text) > MAX_FIELD_CHARS
        if kind == "bad_media":
            broken = rng.sample(BAD_MEDIA, rng.randint(1, 3))
            rec["media"] = [*media, *(f"media/{b}" if b and not b.startswith(("/", "..")) else b for b in broken)]
            exp.bad_media |= {(ad_id, m) for m in rec["media"][len(media):]}
        exp.ads += 1
        exp.ok_media |= {(ad_id, m) for m in media}
        if kind in ("good", "bad_media"):
            exp.good_ids.add(ad_id)
        raw.append(json.dumps(rec).encode())
    raw[0] = codecs.BOM_UTF8 + raw[0]  # a BOM before the first (good) line loses nothing
    exp.manifest.write_bytes(b"\n".join(raw) + b"\n")
    return exp
