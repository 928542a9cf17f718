"""python -m ava.build_dataset: read manifest + verbalized + dedup and build one item per ad or dedup cluster.

An item is the unit samples are made from: its content (ad copy plus the verbalized creative, URLs masked)
and its behaviour (:mod:`ava.build_dataset.behaviour`). Ads whose media share a dedup cluster (directly or
through another ad) become one item: impressions-weighted distributions, the representative's content.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads

from ava.build_dataset.behaviour import Behaviour, BehaviourConfig, Issues, merge, parse_behaviour
from ava.build_dataset.text import ad_copy, mask_urls
from ava.manifest import ManifestError, iter_manifest

log = logging.getLogger(__name__)

VERBALIZED_COLUMNS = ["ad_id", "media_index", "media_type", "status", "error", "verbalization"]
DEDUP_COLUMNS = ["ad_id", "cluster_id", "is_representative"]
# The manifest fields an item needs after its behaviour is parsed; the rest of a record is dropped at once.
KEPT_FIELDS = ("page_id", "page_name", "ad_creative_bodies", "ad_creative_link_titles",
               "ad_creative_link_descriptions", "publisher_platforms", "ad_delivery_start_time",
               "ad_delivery_stop_time")


@dataclass
class Item:
    key: str
    ad_ids: list[str]
    cluster_ids: list[int]
    page_ids: list[str]
    advertiser: str
    title: str
    body: str
    description: str
    creative: str
    platforms: list[str]
    start: str | None
    stop: str | None
    category: str | None
    behaviour: Behaviour
    lines: list[int] = field(default_factory=list)


@dataclass
class _Ad:
    id: str
    line: int
    record: dict[str, Any]
    behaviour: Behaviour
    creative: str


def load_verbalized(directory: str | Path | None) -> tuple[dict[str, list[tuple]], Counter]:
    """ad_id → [(media_index, media_type, status, verbalization)] sorted by media_index; status counts."""
    if directory is None:
        return {}, Counter()
    shards = sorted((Path(directory) / "verbalized").glob("*.parquet"))
    if not shards:
        raise FileNotFoundError(
            f"no verbalized/*.parquet under {directory}; run python -m ava.verbalize output_dir=DIR first "
            "and pass verbalized=DIR (or verbalized=null: ad copy only)")
    table = pads.dataset([str(s) for s in shards], format="parquet")
    missing = [c for c in VERBALIZED_COLUMNS if c not in table.schema.names]
    if missing:
        raise ValueError(f"{directory}/verbalized: columns {missing} are missing; not ava.verbalize output?")
    rows = table.to_table(columns=VERBALIZED_COLUMNS).to_pylist()
    by_ad: dict[str, list[tuple]] = defaultdict(list)
    status = Counter()
    for r in rows:
        status[str(r["status"])] += 1
        media = (int(r["media_index"]), r["media_type"], r["status"], r["verbalization"])
        by_ad[str(r["ad_id"])].append(media)
    for media in by_ad.values():
        media.sort(key=lambda m: m[0])
    return dict(by_ad), status


def load_dedup(directory: str | Path | None) -> dict[str, tuple[set[int], bool]]:
    """ad_id → (cluster ids of its media, whether one of its media is a cluster's representative)."""
    if directory is None:
        return {}
    path = Path(directory) / "dedup.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run python -m ava.dedup first or pass dedup=null")
    table = pads.dataset(str(path), format="parquet")
    missing = [c for c in DEDUP_COLUMNS if c not in table.schema.names]
    if missing:
        raise ValueError(f"{path}: columns {missing} are missing; is it ava.dedup output?")
    out: dict[str, tuple[set[int], bool]] = {}
    for r in table.to_table(columns=DEDUP_COLUMNS).to_pylist():
        clusters, rep = out.get(str(r["ad_id"]), (set(), False))
        clusters.add(int(r["cluster_id"]))
        out[str(r["ad_id"])] = (clusters, rep or bool(r["is_representative"]))
    return out


def _creative(ad_id: str, media: list[tuple], counts: Counter) -> str:
    """Verbalizations of the ad's ok media in media_index order; errors are counted and left out."""
    texts = []
    for index, media_type, status, text in media:
        if status != "ok":
            counts["media_error"] += 1
            continue
        if text and text.strip():
            texts.append(f"[{media_type} {index + 1}] {text.strip()}" if len(media) > 1 else text.strip())
    if media and not texts:
        counts["ads_with_only_failed_media"] += 1
    return "\n".join(texts)


def read_ads(manifest: str | Path, verbalized: Mapping[str, list[tuple]], cfg: BehaviourConfig,
             category_field: str | None, issues: Issues, counts: Counter, errors: list[dict]) -> list[_Ad]:
    ads: list[_Ad] = []
    seen: set[str] = set()
    for entry in iter_manifest(manifest):
        if isinstance(entry, ManifestError):
            log.warning("%s line %d: %s", manifest, entry.line, entry.error)
            errors.append(entry.as_dict())
            counts["manifest_errors"] += 1
            continue
        if entry.id in seen:
            errors.append({"line": entry.line, "error": f"duplicate ad id {entry.id}; later line skipped"})
            counts["duplicate_ad_ids"] += 1
            continue
        seen.add(entry.id)
        media = verbalized.get(entry.id, [])
        if entry.media and not media and verbalized:
            counts["ads_without_verbalized_media"] += 1
        kept = {k: entry.record.get(k) for k in (*KEPT_FIELDS, category_field) if k}
        ads.append(_Ad(entry.id, entry.line, kept, parse_behaviour(entry.record, cfg, issues),
                       _creative(entry.id, media, counts)))
    return ads


def _groups(ads: list[_Ad], dedup: Mapping[str, tuple[set[int], bool]]) -> list[list[int]]:
    """Indices of ads joined by shared dedup clusters (union-find), in manifest order."""
    parent = list(range(len(ads)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[int, int] = {}
    for i, ad in enumerate(ads):
        for c in sorted(dedup.get(ad.id, (set(), False))[0]):
            if c in first:
                a, b = find(first[c]), find(i)
                parent[max(a, b)] = min(a, b)
            else:
                first[c] = i
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(ads)):
        groups[find(i)].append(i)
    return [groups[k] for k in sorted(groups)]


def build_items(ads: list[_Ad], dedup: Mapping[str, tuple[set[int], bool]], cfg: BehaviourConfig,
                category_field: str | None, issues: Issues, counts: Counter) -> list[Item]:
    items = []
    for group in _groups(ads, dedup):
        members = [ads[i] for i in group]
        rep = next((a for a in members if dedup.get(a.id, (set(), False))[1]), members[0])
        copy = ad_copy(rep.record)
        masked = {}
        for name, text in [*copy.items(), ("creative", rep.creative)]:
            masked[name], n = mask_urls(text)
            counts["urls_masked"] += n
        records = [a.record for a in members]
        clusters = sorted({c for a in members for c in dedup.get(a.id, (set(), False))[0]})
        if len(members) > 1:
            counts["clusters_merged"] += 1
            counts["ads_merged_into_clusters"] += len(members)
        items.append(Item(
            key=f"cluster:{clusters[0]}" if clusters else f"ad:{rep.id}",
            ad_ids=[a.id for a in members],
            cluster_ids=clusters,
            page_ids=sorted({str(r.get("page_id")) for r in records if r.get("page_id") is not None}),
            advertiser=str(rep.record.get("page_name") or "an advertiser"),
            title=masked["title"], body=masked["body"], description=masked["description"],
            creative=masked["creative"],
            platforms=sorted({str(p) for r in records for p in (r.get("publisher_platforms") or [])}),
            start=min((str(r["ad_delivery_start_time"]) for r in records if r.get("ad_delivery_start_time")),
                      default=None),
            stop=max((str(r["ad_delivery_stop_time"]) for r in records if r.get("ad_delivery_stop_time")),
                     default=None),
            category=str(rep.record.get(category_field)) if category_field and rep.record.get(category_field)
            else None,
            behaviour=merge([a.behaviour for a in members], cfg.range_point, cfg, issues),
            lines=[a.line for a in members],
        ))
    return items
