"""python -m ava.build_dataset: seeded train/val split that never separates a dedup cluster or an advertiser.

``by=cluster``: the unit is an item (a dedup cluster, merged, or a lone ad), joined with the other advertisers'
items of its cluster. ``by=page_id`` (the paper's advertiser hold-out): items sharing any advertiser or any dedup
cluster are one unit (union-find, so a cluster whose ads come from two advertisers joins both). Only units that can
give samples (an item with some behaviour fact) take part: a unit of ads without behaviour goes to train and is
counted apart (``without_samples``), so it can never be the whole validation set. A unit goes to validation when a
seeded hash of its smallest key falls below ``val_fraction``, or, with ``val_after`` set, when any of its ads
started after that date (temporal hold-out; dates are parsed, so ``2019-10-30T22:24:19+0000`` is on, not after,
``2019-10-30``). With ``val_fraction`` > 0 and two or more units, at least one unit (the one with the smallest
hash) goes to validation, so small inputs still get a validation set that training can use. Pair tasks only pair
items inside one split, so no sample joins the two sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from ava.build_dataset.tasks.base import PoolEntry, unit_hash
from ava.unionfind import connected


def parse_when(text: str) -> date | datetime:
    """An Ad Library time (``2019-10-30``, ``2019-10-30T22:24:19+0000``) as a date, or an aware datetime.

    A time without an offset is taken as UTC. Raises ValueError on anything else.
    """
    text = str(text).strip()
    if len(text) == 10:
        return date.fromisoformat(text)
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def after(start: str | None, cutoff: date | datetime) -> bool | None:
    """Whether ``start`` is after ``cutoff``: by calendar date (as written) when the cutoff is a date.

    None when ``start`` is missing or not a time.
    """
    if not start:
        return None
    try:
        when = parse_when(start)
    except ValueError:
        return None
    if isinstance(cutoff, datetime):
        if not isinstance(when, datetime):  # a day starts after the cutoff only if all of it does
            when = datetime(when.year, when.month, when.day, tzinfo=UTC)
        return when > cutoff
    return (when.date() if isinstance(when, datetime) else when) > cutoff


def units(entries: Sequence[PoolEntry], by: str) -> list[list[int]]:
    """Indices of entries that must share a split, each list sorted, lists ordered by first index."""
    if by not in ("cluster", "page_id"):
        raise ValueError(f"split.by={by!r} must be 'cluster' or 'page_id'")
    # items of one dedup cluster (several advertisers' copies of one creative) always share a split
    clusters = [[("cluster", c) for c in e.clusters] for e in entries]
    if by == "cluster":
        return connected([[("item", i), *cs] for i, cs in enumerate(clusters)])
    return connected([[("page", p) for p in e.page_ids] + cs for e, cs in zip(entries, clusters, strict=True)])


def assign_splits(entries: Sequence[PoolEntry], by: str, val_fraction: float, seed: int,
                  val_after: str | None = None) -> dict[str, int]:
    """Set ``entry.split`` to train or val for every entry; return unit counts per split."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"split.val_fraction={val_fraction} must be in [0, 1)")
    try:
        cutoff = parse_when(val_after) if val_after is not None else None
    except ValueError:
        raise ValueError(f"split.val_after={val_after!r} is not a date (YYYY-MM-DD) or ISO time") from None
    counts = {"train": 0, "val": 0, "val_by_date": 0, "without_samples": 0, "start_missing_or_unparsed": 0}
    all_units = []
    for unit in units(entries, by):
        if any(entries[i].productive for i in unit):
            all_units.append(unit)
        else:
            counts["without_samples"] += 1
            for i in unit:
                entries[i].split = "train"
    hashes = [unit_hash(seed, "split", min(entries[i].key for i in unit)) for unit in all_units]
    for unit, h in zip(all_units, hashes, strict=True):
        late = False
        if cutoff is not None:
            flags = [after(entries[i].start, cutoff) for i in unit]
            counts["start_missing_or_unparsed"] += sum(f is None for f in flags)
            late = any(flags)
        split = "val" if late or h < val_fraction else "train"
        counts[split] += 1
        counts["val_by_date"] += int(late)
        for i in unit:
            entries[i].split = split
    if val_fraction > 0 and counts["val"] == 0 and len(all_units) >= 2:
        smallest = min(range(len(all_units)), key=hashes.__getitem__)
        for i in all_units[smallest]:
            entries[i].split = "val"
        counts["train"] -= 1
        counts["val"] += 1
    return counts
