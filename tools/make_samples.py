"""python tools/make_samples.py [OUT_DIR]: rebuild the bundled sample ads (ava/samples/).

Makes a handful of small ads in the Ad Library manifest shape: images with rendered text (one with a photo), a
near-duplicate (resized, recompressed) of one image under another ad id, a three-scene video whose speech is
spoken by espeak-ng, and an audio-only ad. Needs ffmpeg and espeak-ng (Debian packages of those names). Everything is
deterministic, so the committed files only change when this script does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / "ava" / "samples"
AGES = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]


def card(size: tuple[int, int], background: str, lines: list[tuple[str, int, str]]) -> Image.Image:
    """An ad card: a flat background with centred lines of (text, font size, colour)."""
    img = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(img)
    heights = [s for _, s, _ in lines]
    y = (size[1] - sum(heights) - 20 * (len(lines) - 1)) // 2
    for text, font_size, colour in lines:
        font = ImageFont.load_default(size=font_size)
        width = draw.textlength(text, font=font)
        draw.text(((size[0] - width) / 2, y), text, fill=colour, font=font)
        y += font_size + 20
    return img


def demographics(weights: dict[str, float]) -> list[dict[str, str]]:
    """Ad Library ``demographic_distribution`` from relative weights keyed 'age/gender'."""
    total = sum(weights.values())
    return [
        {"age": k.split("/")[0], "gender": k.split("/")[1], "percentage": f"{v / total:.4f}"}
        for k, v in weights.items()
    ]


def regions(weights: dict[str, float]) -> list[dict[str, str]]:
    total = sum(weights.values())
    return [{"region": k, "percentage": f"{v / total:.4f}"} for k, v in weights.items()]


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def speak(text: str, wav: Path) -> None:
    run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(wav), text])


def make_video(out: Path, tmp: Path) -> None:
    scenes = [
        card((640, 360), "#1f4e9c", [("VOTE YES", 72, "white"), ("ON MEASURE 5", 48, "#ffd84d")]),
        card((640, 360), "#2e7d32", [("CLEAN WATER", 64, "white"), ("FOR EVERY FAMILY", 40, "white")]),
        card((640, 360), "#f5f5f5", [("NOVEMBER 4", 64, "#b71c1c"), ("cleanwater.example.org", 32, "#333333")]),
    ]
    wav = tmp / "speech.wav"
    speak("Vote yes on measure five. Clean water for every family. Vote on November fourth.", wav)
    cmd = ["ffmpeg", "-y", "-loglevel", "error"]
    for i, img in enumerate(scenes):
        path = tmp / f"scene{i}.png"
        img.save(path)
        cmd += ["-loop", "1", "-t", "3", "-framerate", "10", "-i", str(path)]
    cmd += ["-i", str(wav), "-filter_complex", "[0:v][1:v][2:v]concat=n=3:v=1:a=0,format=yuv420p[v]",
            "-map", "[v]", "-map", "3:a", "-c:v", "libx264", "-crf", "32", "-preset", "veryslow",
            "-c:a", "aac", "-b:a", "32k", "-ac", "1", "-t", "9", "-movflags", "+faststart",
            "-fflags", "+bitexact", "-map_metadata", "-1", str(out)]
    run(cmd)


def make_audio(out: Path, tmp: Path) -> None:
    wav = tmp / "radio.wav"
    speak("Fresh coffee every morning at Bean There. Open from seven.", wav)
    run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(wav), "-c:a", "aac", "-b:a", "32k", "-ac", "1",
         "-fflags", "+bitexact", "-map_metadata", "-1", str(out)])


def main(out_dir: Path) -> None:
    media = out_dir / "media"
    media.mkdir(parents=True, exist_ok=True)
    sale = card((800, 800), "#ff8f00", [("SUMMER SALE", 96, "white"), ("50% OFF ALL SHOES", 56, "#3e2723")])
    sale.save(media / "summer_sale.png", optimize=True)
    # The same creative re-uploaded by a reseller: resized and recompressed, for the dedup stage.
    sale.resize((600, 600), Image.Resampling.BICUBIC).save(media / "summer_sale_reupload.jpg", quality=70)
    card((1080, 566), "#4e342e", [("FRESH COFFEE", 96, "#fff3e0"), ("OPEN FROM 7AM", 56, "#ffcc80")]).save(
        media / "coffee.png", optimize=True)
    course = card((800, 800), "#6a1b9a", [("LEARN PYTHON", 88, "white"), ("FREE ONLINE COURSE", 52, "#e1bee7")])
    # The teacher: matplotlib's bundled photo of Grace Hopper (US Navy, public domain), her face cut by the
    # card's right edge (~40% of it outside), the case OpenCV's Haar cascade missed and YuNet finds.
    photo = Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")
    course.paste(photo.resize((338, 396), Image.Resampling.LANCZOS), (610, 500))
    course.save(media / "course.png", optimize=True)
    with tempfile.TemporaryDirectory() as tmp:
        make_video(media / "measure5.mp4", Path(tmp))
        make_audio(media / "coffee_radio.m4a", Path(tmp))

    common = {"currency": "USD", "languages": ["en"], "publisher_platforms": ["facebook", "instagram"]}
    ads = [
        {"id": "100000000000001", "page_id": "5001", "page_name": "Sunny Shoes",
         "ad_creative_bodies": ["Our biggest summer sale: half off every pair. Shop now at https://sunny.example.com"],
         "ad_creative_link_titles": ["Summer Sale - 50% off"], "ad_delivery_start_time": "2024-06-01",
         "ad_delivery_stop_time": "2024-06-30", "impressions": {"lower_bound": "10000", "upper_bound": "14999"},
         "spend": {"lower_bound": "100", "upper_bound": "199"},
         "estimated_audience_size": {"lower_bound": 100000, "upper_bound": 500000},
         "demographic_distribution": demographics({"18-24/female": 14, "25-34/female": 30, "35-44/female": 18,
                                                   "18-24/male": 5, "25-34/male": 9, "35-44/male": 6,
                                                   "45-54/female": 10, "45-54/male": 4, "55-64/female": 3,
                                                   "65+/unknown": 1}),
         "delivery_by_region": regions({"California": 30, "Texas": 22, "Florida": 18, "New York": 15,
                                        "Vermont": 3, "Oregon": 12}),
         "media": ["media/summer_sale.png"], **common},
        {"id": "100000000000002", "page_id": "5002", "page_name": "Shoe Outlet Reseller",
         "ad_creative_bodies": ["Summer sale on now, 50% off shoes."],
         "ad_creative_link_titles": ["Shoes half price"], "ad_delivery_start_time": "2024-06-05",
         "ad_delivery_stop_time": "2024-06-20", "impressions": {"lower_bound": "1000", "upper_bound": "1999"},
         "spend": {"lower_bound": "0", "upper_bound": "99"},
         "demographic_distribution": demographics({"25-34/female": 40, "35-44/female": 25, "25-34/male": 20,
                                                   "35-44/male": 15}),
         "delivery_by_region": regions({"Texas": 60, "Oklahoma": 40}),
         "media": ["media/summer_sale_reupload.jpg"], **common},
        {"id": "100000000000003", "page_id": "5003", "page_name": "Clean Water Coalition",
         "bylines": "Paid for by Clean Water Coalition",
         "ad_creative_bodies": ["Measure 5 funds safe drinking water for every family in our state."],
         "ad_creative_link_titles": ["Vote Yes on 5"], "ad_delivery_start_time": "2024-10-01",
         "ad_delivery_stop_time": "2024-11-04", "impressions": {"lower_bound": "50000", "upper_bound": "59999"},
         "spend": {"lower_bound": "1000", "upper_bound": "1499"},
         "demographic_distribution": demographics({"45-54/female": 12, "55-64/female": 16, "65+/female": 18,
                                                   "45-54/male": 10, "55-64/male": 14, "65+/male": 16,
                                                   "35-44/female": 8, "35-44/male": 6}),
         "delivery_by_region": regions({"Oregon": 55, "Washington": 30, "Idaho": 15}),
         "media": ["media/measure5.mp4"], **common},
        {"id": "100000000000004", "page_id": "5004", "page_name": "Bean There Cafe",
         "ad_creative_bodies": ["Fresh coffee every morning. Open from 7am."],
         "ad_creative_link_titles": ["Bean There"], "ad_delivery_start_time": "2024-03-01",
         "impressions": {"lower_bound": "5000", "upper_bound": "9999"},
         "spend": {"lower_bound": "100", "upper_bound": "199"},
         "demographic_distribution": demographics({"18-24/male": 10, "25-34/male": 22, "35-44/male": 14,
                                                   "18-24/female": 12, "25-34/female": 24, "35-44/female": 18}),
         "delivery_by_region": regions({"Massachusetts": 50, "New York": 35, "Vermont": 15}),
         "media": ["media/coffee.png", "media/coffee_radio.m4a"], **common},
        {"id": "100000000000005", "page_id": "5005", "page_name": "CodeStart Academy",
         "ad_creative_bodies": ["Learn Python for free with our online course."],
         "ad_creative_link_titles": ["Free Python course"], "ad_delivery_start_time": "2024-09-01",
         "impressions": {"lower_bound": "20000", "upper_bound": "24999"},
         "spend": {"lower_bound": "200", "upper_bound": "299"},
         "demographic_distribution": demographics({"18-24/male": 35, "25-34/male": 25, "18-24/female": 22,
                                                   "25-34/female": 18}),
         "delivery_by_region": regions({"California": 40, "Washington": 25, "Texas": 20, "Georgia": 15}),
         "media": ["media/course.png"], **common},
    ]
    with (out_dir / "ads.jsonl").open("w") as fh:
        for ad in ads:
            fh.write(json.dumps(ad) + "\n")
    print(f"wrote {len(ads)} ads to {out_dir / 'ads.jsonl'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT)
