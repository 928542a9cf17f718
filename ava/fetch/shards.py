"""python -m ava.fetch: the date window as shards, and their checkpoint ``OUT/fetch_state.json``.

A query's ``[ad_delivery_date_min, ad_delivery_date_max]`` is split into calendar months; a shard that hits
code 1 at the smallest page size, or whose ads pass ``shards.max_ads``, is replaced by its two halves (a one-day
shard cannot be split: it is marked ``truncated``). Each shard keeps the ``after`` cursor of its last page
(never the ``next`` URL, which holds the token); the whole state is written atomically after every page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ava.runtime import write_json

STATE_FILE = "fetch_state.json"


@dataclass
class Shard:
    since: str  # YYYY-MM-DD, inclusive
    until: str  # YYYY-MM-DD, inclusive
    after: str | None = None  # cursor of the last page checkpointed
    status: str = "pending"  # pending | done | split | truncated
    pages: int = 0
    ads: int = 0  # records served (duplicates included)
    limit: int | None = None  # page size this shard settled on after code 1 (None: api.page_size)

    @property
    def name(self) -> str:
        return f"{self.since}..{self.until}"

    @property
    def days(self) -> int:
        return (dt.date.fromisoformat(self.until) - dt.date.fromisoformat(self.since)).days + 1

    def halves(self) -> list[Shard]:
        start = dt.date.fromisoformat(self.since)
        mid = start + dt.timedelta(days=self.days // 2 - 1)
        return [Shard(self.since, mid.isoformat()), Shard((mid + dt.timedelta(days=1)).isoformat(), self.until)]


def month_shards(date_min: str, date_max: str) -> list[Shard]:
    """Calendar-month shards covering ``[date_min, date_max]`` (the ends clipped to the window)."""
    start, end = dt.date.fromisoformat(str(date_min)), dt.date.fromisoformat(str(date_max))
    if end < start:
        raise ValueError(f"query.ad_delivery_date_max={end} is before query.ad_delivery_date_min={start}")
    shards = []
    day = start
    while day <= end:
        nxt = dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)
        last = min(end, nxt - dt.timedelta(days=1))
        shards.append(Shard(day.isoformat(), last.isoformat()))
        day = nxt
    return shards


def query_key(query: dict[str, Any]) -> str:
    """A fingerprint of everything that decides which records a crawl returns (dates and fields included)."""
    return hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode()).hexdigest()[:16]


class ShardState:
    """The shards of one query, loaded from and saved to ``OUT/fetch_state.json``."""

    def __init__(self, out: Path, query: dict[str, Any]) -> None:
        self.path = out / STATE_FILE
        self.query = query
        self.key = query_key(query)
        if self.path.exists():
            saved = json.loads(self.path.read_text())
            if saved.get("query_key") != self.key:
                diff = sorted(k for k in set(saved.get("query", {})) | set(query)
                              if saved.get("query", {}).get(k) != query.get(k))
                raise SystemExit(f"{self.path} belongs to another query (differs in: {', '.join(diff)}); use a "
                                 "new output_dir for a new query, or the same query to continue this one")
            self.shards = [Shard(**s) for s in saved["shards"]]
            self.resumed = True
        else:
            self.shards = month_shards(query["ad_delivery_date_min"], query["ad_delivery_date_max"])
            self.resumed = False

    def pending(self) -> Shard | None:
        return next((s for s in self.shards if s.status == "pending"), None)

    def split(self, shard: Shard) -> list[Shard]:
        """Replace ``shard`` by its halves, right after it in the list (they are crawled next, from the start)."""
        halves = shard.halves()
        for half in halves:
            half.limit = shard.limit  # the page size the API accepted at depth holds for the halves too
        shard.status = "split"
        i = self.shards.index(shard)
        self.shards[i + 1:i + 1] = halves
        return halves

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {"total": len(self.shards)}
        for s in self.shards:
            out[s.status] = out.get(s.status, 0) + 1
        return out

    def save(self) -> None:
        write_json(self.path, {"query_key": self.key, "query": self.query,
                               "shards": [asdict(s) for s in self.shards]})
