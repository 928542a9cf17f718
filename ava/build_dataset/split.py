"""python -m ava.build_dataset: seeded train/val split that never separates a dedup cluster or an advertiser.

``by=cluster``: the unit is an item (a dedup cluster, merged, or a lone ad). ``by=page_id`` (the paper's
advertiser hold-out): items sharing any advertiser are one unit (union-find, so a cluster whose ads come from
two advertisers joins both). A unit goes to validation when a seeded hash of its smallest key falls below
``val_fraction``, or, with ``val_after`` set, when any of its ads started after that date (temporal
hold-out). With ``val_fraction`` > 0 and two or more units, at least one unit (the one with the smallest
hash) goes to validation, so small inputs still get a validation set that training can use. Pair tasks
only pair items inside one split, so no sample joins the two sides.
"""

from __future__ import annotations

from collections.abc import Sequence

from ava.build_dataset.tasks.base import PoolEntry, unit_hash
from ava.build_dataset.unionfind import connected


def units(entries: Sequence[PoolEntry], by: str) -> list[list[int]]:
    """Indices of entries that must share a split, each list sorted, lists ordered by first index."""
    if by not in ("cluster", "page_id"):
        raise ValueError(f"split.by={by!r} must be 'cluster' or 'page_id'")
    if by == "cluster":
        return [[i] for i in range(len(entries))]
    return connected([e.page_ids for e in entries])


def assign_splits(entries: Sequence[PoolEntry], by: str, val_fraction: float, seed: int,
                  val_after: str | None = None) -> dict[str, int]:
    """Set ``entry.split`` to train or val for every entry; return unit counts per split."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"split.val_fraction={val_fraction} must be in [0, 1)")
    counts = {"train": 0, "val": 0, "val_by_date": 0}
    all_units = units(entries, by)
    hashes = [unit_hash(seed, "split", min(entries[i].key for i in unit)) for unit in all_units]
    for unit, h in zip(all_units, hashes, strict=True):
        late = val_after is not None and any(
            (entries[i].start or "") > str(val_after) for i in unit)
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
