"""python -m ava.build_dataset: read manifest + verbalized + dedup and build one item per ad or dedup cluster.

An item is the unit samples are made from: its content (ad copy plus the verbalized creative, URLs masked)
and its behaviour (:mod:`ava.build_dataset.behaviour`). Ads whose media share a dedup cluster (directly or
through another ad) become one item: impressions-weighted distributions, the representative's content.

Streaming: per ad only an :class:`AdRef` and the line's byte offset stay in memory; the verbalizer's rows go
to an on-disk SQLite table; an item is rebuilt from its manifest lines whenever it is needed.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from array import array
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from ava.build_dataset.behaviour import Behaviour, BehaviourConfig, Issues, merge, parse_behaviour
from ava.build_dataset.text import ad_copy, mask_urls
from ava.jsonl import iter_lines
from ava.manifest import DEFAULT_LIMITS, Ad, Limits, ManifestError, iter_manifest, parse_line
from ava.unionfind import connected

log = logging.getLogger(__name__)

VERBALIZED_COLUMNS = ["ad_id", "manifest_line", "media_index", "media_type", "status", "verbalization"]
DEDUP_COLUMNS = ["ad_id", "cluster_id", "is_representative"]



class VerbalizedInputError(ValueError):
    """A verbalized shard that cannot be read as ``ava.verbalize`` output (the message names the file)."""


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


class MediaStore:
    """The verbalizer's rows, streamed batch by batch into an on-disk SQLite table keyed by (ad id, line).

    Rows are looked up by ad id *and* manifest line, so a duplicate ad id's media (a later line, skipped) never
    join the first ad's. When no row of the ad has its line (the manifest was edited after verbalizing), the
    rows of its id are used if they all come from one line (counted as ``media_matched_by_id_only``).
    A shard that is not Parquet, is empty or lacks a column raises :class:`VerbalizedInputError` naming it.
    """

    def __init__(self, directory: str | Path | None, workdir: Path) -> None:
        self.status: Counter = Counter()
        self.enabled = directory is not None
        self.db = sqlite3.connect(str(workdir / "media.sqlite"))
        self.db.execute("CREATE TABLE media (ad_id TEXT, line INTEGER, media_index INTEGER, media_type TEXT, "
                        "status TEXT, text TEXT)")
        if directory is None:
            return
        shards = sorted((Path(directory) / "verbalized").glob("*.parquet"))
        if not shards:
            raise FileNotFoundError(
                f"no verbalized/*.parquet under {directory}; run python -m ava.verbalize output_dir=DIR "
                "first and pass verbalized=DIR (or verbalized=null: ad copy only)")
        for shard in shards:
            self._load(shard)
        self.db.execute("CREATE INDEX media_ad ON media (ad_id, line, media_index)")
        self.db.commit()

    def _load(self, shard: Path) -> None:
        try:
            pf = pq.ParquetFile(shard)
        except (pa.ArrowException, OSError) as exc:
            raise VerbalizedInputError(f"{shard} is not a readable Parquet file ({exc}): remove it or "
                                       "re-verbalize its ads") from exc
        missing = [c for c in VERBALIZED_COLUMNS if c not in pf.schema_arrow.names]
        if missing:
            raise VerbalizedInputError(f"{shard}: columns {missing} are missing (not ava.verbalize output?)")
        batches = pf.iter_batches(columns=VERBALIZED_COLUMNS, batch_size=4096)
        while True:
            try:
                batch = next(batches, None)
                if batch is None:
                    return
                rows = [(str(r["ad_id"]), int(r["manifest_line"]), int(r["media_index"]), r["media_type"],
                         str(r["status"]), r["verbalization"]) for r in batch.to_pylist()]
            except (pa.ArrowException, OSError, TypeError, ValueError) as exc:
                raise VerbalizedInputError(f"{shard}: cannot read its rows as ava.verbalize writes them "
                                           f"({type(exc).__name__}: {exc}); remove it or re-verbalize its ads"
                                           ) from exc
            self.status.update(r[4] for r in rows)
            # a write error here is the scratch database's (a full disk), not the shard's: not caught here
            self.db.executemany("INSERT INTO media VALUES (?, ?, ?, ?, ?, ?)", rows)

    def get(self, ad_id: str, line: int, counts: Counter) -> list[tuple]:
        """[(media_index, media_type, status, verbalization)] of the ad on manifest ``line``, by media_index."""
        rows = self.db.execute("SELECT line, media_index, media_type, status, text FROM media WHERE ad_id = ? "
                               "ORDER BY line, media_index", (ad_id,)).fetchall()
        lines = {r[0] for r in rows}
        if line not in lines:
            if len(lines) != 1:
                return []
            counts["media_matched_by_id_only"] += 1
            line = next(iter(lines))
        return [r[1:] for r in rows if r[0] == line]

    def ads_not_in(self, ad_ids: list[str]) -> int:
        """How many verbalized ads are not among ``ad_ids``."""
        self.db.execute("CREATE TEMP TABLE known (ad_id TEXT PRIMARY KEY)")
        self.db.executemany("INSERT OR IGNORE INTO known VALUES (?)", ((a,) for a in ad_ids))
        (n,) = self.db.execute("SELECT COUNT(DISTINCT ad_id) FROM media WHERE ad_id NOT IN "
                               "(SELECT ad_id FROM known)").fetchone()
        self.db.execute("DROP TABLE known")
        return int(n)

    def close(self) -> None:
        self.db.close()


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


def _creative(media: list[tuple], counts: Counter) -> str:
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


@dataclass(slots=True)
class AdRef:
    """What stays in memory per ad between passes (the record itself is re-read from its line)."""

    id: str
    line: int
    clusters: tuple[int, ...]
    representative: bool
    advertiser: str = ""  # page_id, else "name:<page_name>" (interned): dedup clusters join ads only within it


class Manifest:
    """Random access to the manifest's lines: one pass records each line's byte offset (8 bytes a line).

    ``limits`` bound a line's bytes and a string's length (:class:`ava.manifest.Limits`); a line over the limit
    is skipped a chunk at a time, here and when its error is reported, so it never sits in memory.
    """

    def __init__(self, path: str | Path, limits: Limits = DEFAULT_LIMITS) -> None:
        self.path = Path(path)
        self.limits = limits
        if not self.path.is_file():
            raise FileNotFoundError(f"manifest not found: {self.path}")
        self.offsets = array("q")
        with self.path.open("rb") as fh:
            pos = 0
            for _, _, size in iter_lines(fh, limits.max_line_bytes):
                self.offsets.append(pos)
                pos += size

    def read(self, lines: list[int]) -> list[Ad]:
        """The ads on these 1-based lines (lines that iter_manifest accepted once)."""
        out = []
        with self.path.open("rb") as fh:
            for line in lines:
                fh.seek(self.offsets[line - 1])
                ad = parse_line(fh.readline(self.limits.max_line_bytes + 1), line, self.limits)
                if isinstance(ad, ManifestError):
                    raise RuntimeError(f"{self.path} line {line} changed during the run: {ad.error}")
                out.append(ad)
        return out


def index_manifest(manifest: Manifest, dedup: Mapping[str, tuple[set[int], bool]], counts: Counter,
                   errors: list[dict]) -> list[AdRef]:
    """Stream the manifest once: report malformed lines (with line numbers) and duplicate ids."""
    refs: list[AdRef] = []
    seen: set[str] = set()
    for entry in iter_manifest(manifest.path, manifest.limits):
        if isinstance(entry, ManifestError):
            log.warning("%s line %d: %s", manifest.path, entry.line, entry.error)
            errors.append(entry.as_dict())
            counts["manifest_errors"] += 1
            continue
        if entry.id in seen:
            errors.append({"line": entry.line, "error": f"duplicate ad id {entry.id}; later line skipped"})
            counts["duplicate_ad_ids"] += 1
            continue
        seen.add(entry.id)
        for change in entry.normalised:  # old API field names (ava.manifest.normalise_record)
            counts[f"normalised.{change}"] += 1
        clusters, rep = dedup.get(entry.id, (set(), False))
        page = entry.record.get("page_id")
        advertiser = sys.intern(str(page) if page is not None else f"name:{entry.record.get('page_name')}")
        refs.append(AdRef(entry.id, entry.line, tuple(sorted(clusters)), rep, advertiser))
    return refs


def group_ads(refs: list[AdRef]) -> list[list[int]]:
    """Indices of ads joined by shared dedup clusters within one advertiser (union-find), in manifest order.

    A creative several advertisers ran (one file shared by many ads, a stock picture) gives each advertiser its
    own item, so every advertiser reaches the samples; the split keeps those items on one side
    (``split.units``), so the creative never sits in both."""
    return connected([[(ref.advertiser, c) for c in ref.clusters] for ref in refs])


def shared_clusters(refs: list[AdRef]) -> set[int]:
    """The dedup clusters whose ads come from more than one advertiser (their items' keys name the advertiser)."""
    first: dict[int, str] = {}
    shared = set()
    for ref in refs:
        for c in ref.clusters:
            if first.setdefault(c, ref.advertiser) != ref.advertiser:
                shared.add(c)
    return shared


def load_item(manifest: Manifest, members: list[AdRef], media: MediaStore, cfg: BehaviourConfig,
              category_field: str | None, issues: Issues, counts: Counter, shared: set[int] = frozenset()) -> Item:
    """Re-read the members' lines and build their item (one ad, or a merged dedup cluster)."""
    ads = manifest.read([m.line for m in members])
    records = [a.record for a in ads]
    rep_i = next((i for i, m in enumerate(members) if m.representative), 0)
    rep = records[rep_i]
    ad_media = media.get(members[rep_i].id, members[rep_i].line, counts)
    if ads[rep_i].media and not ad_media and media.enabled:
        counts["ads_without_verbalized_media"] += 1
    masked = {}
    for name, text in [*ad_copy(rep).items(), ("creative", _creative(ad_media, counts))]:
        masked[name], n = mask_urls(text)
        counts["urls_masked"] += n
    clusters = sorted({c for m in members for c in m.clusters})
    if len(members) > 1:
        counts["clusters_merged"] += 1
        counts["ads_merged_into_clusters"] += len(members)
    starts = [str(r["ad_delivery_start_time"]) for r in records if r.get("ad_delivery_start_time")]
    stops = [str(r["ad_delivery_stop_time"]) for r in records if r.get("ad_delivery_stop_time")]
    return Item(
        key=(f"cluster:{clusters[0]}" + (f"@{members[0].advertiser}" if clusters[0] in shared else "")
             if clusters else f"ad:{members[rep_i].id}"),
        ad_ids=[m.id for m in members],
        cluster_ids=clusters,
        page_ids=sorted({str(r.get("page_id")) for r in records if r.get("page_id") is not None}),
        advertiser=str(rep.get("page_name") or "an advertiser"),
        title=masked["title"], body=masked["body"], description=masked["description"],
        creative=masked["creative"],
        platforms=sorted({str(p) for r in records for p in (r.get("publisher_platforms") or [])}),
        start=min(starts, default=None),
        stop=max(stops, default=None),
        category=str(rep.get(category_field)) if category_field and rep.get(category_field) else None,
        behaviour=merge([parse_behaviour(r, cfg, issues) for r in records], cfg.range_point, cfg, issues),
        lines=[m.line for m in members],
    )
