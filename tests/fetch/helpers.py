"""Helpers for the fetch tests: generated and real Ad Library records, the composed config, the output reader."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_module

from tests.helpers import SHARED_DATA

TOKEN = "tok-A"


AGES = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]


def make_ads(n: int, since: str = "2024-01-01", days: int = 90, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` ads in the current API shape, spread over ``days`` from ``since``; the top bucket open-ended."""
    rng = random.Random(seed)
    start = dt.date.fromisoformat(since)
    ads = []
    for i in range(n):
        shares = [rng.random() for _ in range(2 * len(AGES))]
        total = sum(shares)
        ads.append({
            "id": str(700000000000 + i),
            "page_id": str(900 + i % 7), "page_name": f"Page {i % 7}",
            "ad_creative_bodies": [f"Vote for measure {i}: clean water for every family."],
            "ad_delivery_start_time": (start + dt.timedelta(days=rng.randrange(days))).isoformat(),
            "impressions": {"lower_bound": "1000000"} if i % 5 == 0 else {"lower_bound": "1000",
                                                                           "upper_bound": "1999"},
            "spend": {"lower_bound": "100", "upper_bound": "199"}, "currency": "USD",
            "demographic_distribution": [
                {"age": a, "gender": g, "percentage": f"{shares[2 * j + k] / total:.6f}"}
                for j, a in enumerate(AGES) for k, g in enumerate(["female", "male"])],
            "delivery_by_region": [{"region": "California", "percentage": "0.6"},
                                   {"region": "Texas", "percentage": "0.4"}],
            "languages": ["en"], "publisher_platforms": ["facebook", "instagram"],
            "an_unknown_field": {"kept": True},
        })
    return ads


def real_ads() -> list[dict[str, Any]]:
    """``../shared/data/real_ads.jsonl`` (real records of several API eras) when present, else none."""
    path = SHARED_DATA / "real_ads.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def compose_fetch(out: Path, base_url: str, *overrides: str):
    with initialize_config_module("ava_conf", version_base="1.3"):
        return compose("fetch", overrides=[
            f"output_dir={out}", f"api.base_url={base_url}", "query.ad_delivery_date_min=2024-01-01",
            "query.ad_delivery_date_max=2024-03-31", "api.page_size=20", "api.min_page_size=5",
            "api.backoff_s=0.001", "api.max_backoff_s=0.01", "progress=false", *overrides])


def read_ads(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
needs_chromium = pytest.mark.skipif(not (CHROMIUM.is_file() and DRIVER.is_file()),
                                    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
                                           "chromium-driver, or tools/install_system_deps.sh)")
SAMPLES = Path(__file__).resolve().parents[2] / "ava" / "samples" / "media"


def page(script: str, body: str = "<p>Paid for by the Clean Water Coalition</p>") -> str:
    """A snapshot page whose media are inserted by JavaScript after load (a plain GET finds no creative)."""
    return (f"<!doctype html><html><body>{body}<div id='ad'></div><script>"
            f"window.addEventListener('load', () => setTimeout(() => {{ {script} }}, 300));</script></body></html>")
