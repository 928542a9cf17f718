"""python benchmarks/bench_build_dataset.py: synthetic Ad Library records, verbalizer and dedup output with known
behaviour, for the build_dataset tests and benchmarks (both import it from here)."""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from omegaconf import OmegaConf

_AUDIENCE = OmegaConf.load(resources.files("ava_conf") / "audience" / "ad_library.yaml")
AGES = list(_AUDIENCE.age_buckets)
GENDERS = list(_AUDIENCE.best_gender_from)  # the genders an ad's audience is split into (no "unknown" share)
STATES = ["California", "Texas", "New York", "Vermont", "Wyoming", "Massachusetts", "Florida", "Ohio"]


def ad(ad_id: str, page_id: str = "p1", *, joint: dict[tuple[str, str], float] | None = None,
       regions: dict[str, float] | None = None, impressions=(1000, 1999), spend=(100, 199),
       body: str = "Buy our shoes", title: str = "Shoes", media: list[str] | None = None,
       start: str = "2024-01-01", **extra: Any) -> dict[str, Any]:
    joint = joint if joint is not None else {("25-34", "female"): 0.6, ("25-34", "male"): 0.4}
    regions = regions if regions is not None else {"California": 0.5, "Texas": 0.5}
    rec = {
        "id": ad_id, "page_id": page_id, "page_name": f"Page {page_id}",
        "ad_creative_bodies": [body], "ad_creative_link_titles": [title],
        "ad_delivery_start_time": start, "ad_delivery_stop_time": "2024-02-01",
        "impressions": {"lower_bound": str(impressions[0]), "upper_bound": str(impressions[1])},
        "spend": {"lower_bound": str(spend[0]), "upper_bound": str(spend[1])}, "currency": "USD",
        "publisher_platforms": ["facebook", "instagram"],
        "demographic_distribution": [{"age": a, "gender": g, "percentage": str(p)}
                                     for (a, g), p in joint.items()],
        "delivery_by_region": [{"region": r, "percentage": str(p)} for r, p in regions.items()],
        "media": media if media is not None else [],
    }
    rec.update(extra)
    return rec


def write_manifest(path: Path, records: list[dict | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_verbalized(directory: Path, rows: list[dict[str, Any]]) -> Path:
    """rows: ad_id, media_index, status, verbalization (other columns get contract defaults; without a
    ``manifest_line`` a row has line 0, which no manifest line has, so it is matched by its ad id alone)."""
    full = []
    for r in rows:
        full.append({"media_path": f"media/{r['ad_id']}_{r['media_index']}.jpg", "media_type": "image",
                     "error": None if r.get("status", "ok") == "ok" else "decode failed",
                     "ocr_text": "", "transcript": "", **r})
    table = pa.table({
        "ad_id": pa.array([r["ad_id"] for r in full], pa.string()),
        "manifest_line": pa.array([r.get("manifest_line", 0) for r in full], pa.int32()),
        "media_index": pa.array([r["media_index"] for r in full], pa.int32()),
        "media_path": [r["media_path"] for r in full],
        "media_type": [r["media_type"] for r in full],
        "status": [r.get("status", "ok") for r in full],
        "error": pa.array([r["error"] for r in full], pa.string()),
        "verbalization": [r["verbalization"] for r in full],
        "ocr_text": [r["ocr_text"] for r in full],
        "transcript": [r["transcript"] for r in full],
    })
    (directory / "verbalized").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, directory / "verbalized" / "part-00000.parquet")
    return directory


def write_dedup(directory: Path, rows: list[tuple[str, int, bool]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({
        "ad_id": [r[0] for r in rows], "media_path": [f"media/{r[0]}_0.jpg" for r in rows],
        "cluster_id": pa.array([r[1] for r in rows], pa.int64()),
        "is_representative": [r[2] for r in rows],
        "similarity": pa.array([1.0] * len(rows), pa.float32()),
    }), directory / "dedup.parquet")
    return directory


def random_ads(n: int, seed: int = 0, pages: int = 8) -> list[dict[str, Any]]:
    """``n`` ads with random but fully known distributions (no bad records)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        w = [rng.random() for _ in range(len(AGES) * len(GENDERS))]
        joint = {(a, g): w[k * len(GENDERS) + j] / sum(w) for k, a in enumerate(AGES)
                 for j, g in enumerate(GENDERS)}
        rw = [rng.random() for _ in STATES]
        regions = {s: x / sum(rw) for s, x in zip(STATES, rw, strict=True)}
        lo = rng.choice([1000, 5000, 10000])
        words = " ".join(rng.choice(["great", "new", "shoes", "sale", "today", "run", "fast", "comfort",
                                     "style", "free", "shipping", "for", "you", "and", "family", "now"])
                         for _ in range(30))
        out.append(ad(f"a{i}", f"p{i % pages}", joint=joint, regions=regions, impressions=(lo, lo * 2 - 1),
                      spend=(rng.choice([100, 200]), 299), body=f"Ad {i}: {words} https://shop.example.com/{i}",
                      title=f"Title {i}", media=[f"media/a{i}_0.jpg"]))
    return out
