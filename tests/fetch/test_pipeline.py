"""ava.fetch -> ava.verbalize -> ava.build_dataset, each a real command, on what the stand-in serves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from tests.fetch.helpers import SAMPLES, make_ads, needs_chromium, page, read_ads, real_ads
from tests.helpers import read_split

ROOT = Path(__file__).resolve().parents[2]
NO_MODEL_ENCODERS = ["ocr=none", "audio=none", "asr=none", "faces=none", "colours=none", "caption=none",
                     "vision=none"]  # pHash only: the verbalizer still decodes every image and video


def run(*args: str, token: str | None = None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AVA_META_TOKEN"}
    if token:
        env["AVA_META_TOKEN"] = token
    proc = subprocess.run([sys.executable, "-m", *args, "progress=false"] if args[0] != "ava.build_dataset"
                          else [sys.executable, "-m", *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"{args[0]}: {proc.stderr[-3000:]}"


def pipeline(out: Path, base_url: str, media: bool) -> dict:
    run("ava.fetch", f"output_dir={out}", f"api.base_url={base_url}", "query.ad_delivery_date_min=2020-10-01",
        "query.ad_delivery_date_max=2020-11-30", "api.page_size=50", token="tok-A")
    if media:
        run("ava.fetch", "stage=media", f"output_dir={out}", "media.settle_s=0.6", token="tok-A")
    run("ava.verbalize", f"input={out / 'ads.jsonl'}", f"output_dir={out / 'verbalized'}", *NO_MODEL_ENCODERS)
    run("ava.build_dataset", f"manifest={out / 'ads.jsonl'}", f"verbalized={out / 'verbalized'}",
        f"output_dir={out / 'dataset'}", "dataset_tasks.generators.ts.enabled=false")
    return json.loads((out / "dataset" / "build_summary.json").read_text())


def best_gender(record: dict) -> str:
    """Hand reference: the gender with the larger summed share (female/male), from the record as served."""
    share = {"female": 0.0, "male": 0.0}
    for row in record["demographic_distribution"]:
        if row["gender"] in share:
            share[row["gender"]] += float(row["percentage"])
    return max(share, key=share.get)


@pytest.mark.slow  # three commands, each importing torch: ~25-40 s on the 2-core VM under load
def test_fetch_verbalize_build_dataset(tmp_path, standin):
    ours = make_ads(30, since="2020-10-01", days=60)
    standin.records = ours + real_ads()[:140]  # the 2020 US political ads of the real set, when present
    summary = pipeline(tmp_path, standin.base_url, media=False)
    ads = read_ads(tmp_path / "ads.jsonl")
    assert summary["items"] == len(ads) == len({a["id"] for a in ads}) == len(standin.records)
    samples = [s for name in ("train.jsonl", "val.jsonl") for s in read_split(tmp_path / "dataset" / name)]
    by_ad = {a["id"]: a for a in ours}
    tap_g = [s for s in samples if s["task"] == "TAP-G" and s["meta"]["source"]["ad_ids"][0] in by_ad]
    assert len(tap_g) == len(ours)
    for s in tap_g:
        assert s["target"]["gender"] == best_gender(by_ad[s["meta"]["source"]["ad_ids"][0]])


@needs_chromium
@pytest.mark.slow  # the above plus Chromium rendering three snapshot pages: ~40-60 s
def test_fetch_with_media_verbalize_build_dataset(tmp_path, standin):
    ours = make_ads(6, since="2020-10-01", days=60)
    standin.records = ours
    names = {"700000000000": "summer_sale.png", "700000000001": "course.png", "700000000002": "measure5.mp4"}
    for ad_id, name in names.items():
        kind = "video" if name.endswith(".mp4") else "img"
        standin.files[f"/m/{name}"] = (200, "video/mp4" if kind == "video" else "image/png",
                                       (SAMPLES / name).read_bytes())
        standin.pages[ad_id] = page(f"const e = document.createElement('{kind}'); e.src = '/m/{name}'; "
                                    "document.getElementById('ad').appendChild(e);")
    pipeline(tmp_path, standin.base_url, media=True)
    ads = {a["id"]: a for a in read_ads(tmp_path / "ads.jsonl")}
    assert {k: a["media_status"] for k, a in ads.items()} == {
        **{k: "ok" for k in names}, **{a["id"]: "not found" for a in ours[3:]}}
    rows = pq.read_table(tmp_path / "verbalized" / "verbalized").to_pylist()
    assert {(r["ad_id"], r["media_type"], r["status"]) for r in rows} == {
        ("700000000000", "image", "ok"), ("700000000001", "image", "ok"), ("700000000002", "video", "ok")}
    for r in rows:
        if r["media_type"] == "image":
            with Image.open(SAMPLES / names[r["ad_id"]]) as im:
                assert (r["width"], r["height"]) == im.size
    samples = [s for name in ("train.jsonl", "val.jsonl") for s in read_split(tmp_path / "dataset" / name)]
    video_prompts = [s["messages"][1]["content"] for s in samples
                     if s["meta"]["source"]["ad_ids"] == ["700000000002"] and s["task"] == "TAP-G"]
    assert len(video_prompts) == 1  # the decoded video, verbalized, is in the prompt
    assert "Creative: Media: video, 640x360 (16:9), 9.0 s, 3 scenes" in video_prompts[0]
