"""python -m ava.build_dataset: what every task generator shares (entries, prompt rendering, sample records).

A generator gets the entries of one advertiser inside one split (``group``) and the whole split's entries
(``pool``, for distractors) and yields samples. Template choice is a seeded hash of the sample id, so a run
is deterministic and a sample's id does not depend on the seed.
"""

from __future__ import annotations

import hashlib
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ava.build_dataset.behaviour import Issues, best, impressions_per_spend
from ava.build_dataset.items import Item
from ava.build_dataset.regions import RegionRanker
from ava.sample import Attribute, record
from ava.sample import ad_text as labelled_text


@dataclass
class ItemFacts:
    """An item with the facts the tasks ask about."""

    item: Item
    best_age: str | None
    best_gender: str | None
    regions: list[str] | None  # ranked per head of population (or by raw share when configured)
    regions_by_share: list[str] | None
    ips: float | None  # impressions per unit of spend
    region_skip: str | None = None  # why ``regions`` is None although the item has a region distribution
    split: str = "train"

    @property
    def region_kind(self) -> str:
        return self.item.behaviour.region_kind

    @property
    def productive(self) -> bool:
        """Whether any behaviour fact is known, i.e. whether the item can give a sample."""
        b = self.item.behaviour
        return any(x is not None for x in (self.best_age, self.best_gender, self.regions, b.spend,
                                             b.impressions))

    @property
    def key(self) -> str:
        return self.item.key

    def observed(self, attr: Attribute) -> Any:
        """The behaviour of ``attr``: a distribution (label, ranking) or a Range (range), None when missing
        (``Behaviour``'s fields are named after the attributes: ``attr.name``)."""
        return getattr(self.item.behaviour, attr.name)

    def top_group(self, attr: Attribute) -> str | None:
        """The top group of a label or ranking attribute: the best gender or age group, the first ranked region."""
        if attr.kind == "ranking":
            return self.regions[0] if self.regions else None
        return {"gender": self.best_gender, "age": self.best_age}[attr.name]

    @property
    def advertiser_key(self) -> str:
        return self.item.page_ids[0] if self.item.page_ids else f"name:{self.item.advertiser}"


def item_facts(item: Item, ranker: RegionRanker, best_gender_from: Sequence[str], range_point: str,
               issues: Issues, unknown_regions: Counter) -> ItemFacts:
    b = item.behaviour
    regions = by_share = skip = None
    if b.region is not None:
        regions, by_share, skip = ranker.rank(b.region, b.region_kind, issues, unknown_regions)
    best_age = best(b.age) if b.age else None
    best_gender = best(b.gender, best_gender_from) if b.gender else None
    if b.age and best_age is None:
        issues["age.tied_top"] += 1
    if b.gender and best_gender is None:
        issues["gender.tied_top"] += 1
    return ItemFacts(
        item=item,
        best_age=best_age,
        best_gender=best_gender,
        regions=regions,
        regions_by_share=by_share or None,
        ips=impressions_per_spend(b, range_point, issues),
        region_skip=skip,
    )


@dataclass(slots=True)
class PoolEntry:
    """What stays in memory per item between the counting pass and sample generation."""

    key: str
    group: int  # index of the item's ads in the run's list of ad groups
    advertiser_key: str
    page_ids: tuple[str, ...]
    start: str | None
    category: str | None
    best_gender: str | None
    best_age: str | None
    top_regions: tuple[str, ...]
    region_kind: str = "region"
    productive: bool = True  # whether the item has any behaviour fact (see ItemFacts.productive)
    split: str = "train"
    clusters: tuple[int, ...] = ()  # its dedup clusters: items sharing one stay in one split

    @classmethod
    def of(cls, e: ItemFacts, group: int) -> PoolEntry:
        # region names are interned: a million items share one string per region
        return cls(e.key, group, e.advertiser_key, tuple(e.item.page_ids), e.item.start, e.item.category,
                   e.best_gender, e.best_age, tuple(sys.intern(r) for r in e.regions or []),
                   sys.intern(e.region_kind), e.productive, clusters=tuple(e.item.cluster_ids))


@dataclass
class Context:
    """Shared by all generators of one run."""

    system: str
    ad_fields: Mapping[str, str]  # item field → label, in prompt order
    gender_names: Mapping[str, str]
    place_names: Mapping[str, str]  # region kind → plural noun, e.g. {region: states, country: countries}
    audience: Mapping[str, str]  # attribute → phrase naming an audience group, e.g. "the audience aged {age}"
    seed: int
    embedder_factory: Callable[[], Any] | None = None  # builds a SentenceEmbedder when a generator needs one
    skipped: Counter = field(default_factory=Counter)
    _embedder: Any = None

    def gender(self, g: str) -> str:
        return self.gender_names.get(g, g)

    def group_name(self, attr: Attribute, group: str) -> str:
        """A group as prompts name it: a gender by ``gender_names``, an age group or a region as it is."""
        return self.gender(group) if attr.name == "gender" else group

    def places(self, kind: str) -> str:
        return self.place_names.get(kind, "regions")

    def get_embedder(self) -> Any:
        if self._embedder is None:
            if self.embedder_factory is None:
                raise ValueError("this task needs text_embedder; none is configured")
            self._embedder = self.embedder_factory()
        return self._embedder


def sample_id(task: str, *keys: str) -> str:
    return hashlib.sha1("|".join((task, *keys)).encode()).hexdigest()[:16]


def hash64(*parts: object) -> int:
    """A 64-bit integer from ``parts`` (seeded, stable across runs and machines)."""
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def unit_hash(*parts: object) -> float:
    """A uniform number in [0, 1) from ``parts`` (seeded, stable across runs and machines)."""
    return hash64(*parts) / 2**64


def pick(templates: str | Sequence[str], seed: int, sid: str) -> tuple[str, int]:
    """One template of a list, chosen by a seeded hash of the sample id."""
    if isinstance(templates, str):
        return templates, 0
    i = int(unit_hash(seed, sid, "template") * len(templates))
    return templates[i], i


def spend_text(e: ItemFacts) -> str:
    b = e.item.behaviour
    return b.spend.text(b.currency) if b.spend else ""


def impressions_text(e: ItemFacts) -> str:
    b = e.item.behaviour
    return b.impressions.text() if b.impressions else ""


def join_names(names: Sequence[str]) -> str:
    return ", ".join(names)


def describe_ad(e: ItemFacts, ctx: Context, hide: frozenset[str] = frozenset()) -> str:
    """The ad as prompt text: one labelled line per non-empty field of ``ctx.ad_fields``, minus ``hide``."""
    it = e.item
    values = {
        "advertiser": it.advertiser, "title": it.title, "body": it.body, "description": it.description,
        "creative": it.creative, "platforms": ", ".join(it.platforms),
        "dates": f"{it.start or '?'} to {it.stop or 'ongoing'}" if it.start or it.stop else "",
        "spend": spend_text(e), "impressions": impressions_text(e),
    }
    unknown = set(ctx.ad_fields) - set(values)
    if unknown:
        raise ValueError(f"ad_fields names unknown fields {sorted(unknown)}; known: {sorted(values)}")
    return "\n".join(f"{label}: {values[name]}" for name, label in ctx.ad_fields.items()
                     if name not in hide and values[name])


def ad_text(e: ItemFacts, fields: Sequence[str] = ("title", "body", "creative")) -> str:
    """The item's ad as labelled lines (``ava.sample.ad_text``)."""
    return labelled_text({f: getattr(e.item, f) for f in fields}, fields)


def make_sample(task: str, sid: str, ctx: Context, user: str, answer: str, target: dict[str, Any],
                entries: Sequence[ItemFacts], template: int, extra: Mapping[str, Any] | None = None
                ) -> dict[str, Any]:
    main = entries[0]
    meta: dict[str, Any] = {
        "source": {
            "items": [e.key for e in entries],
            "ad_ids": [a for e in entries for a in e.item.ad_ids],
            "cluster_ids": [c for e in entries for c in e.item.cluster_ids],
            "page_ids": sorted({p for e in entries for p in e.item.page_ids}),
            "manifest_lines": [ln for e in entries for ln in e.item.lines],
        },
        "template": template,
        "raw_shares": [e.item.behaviour.raw for e in entries],
        "regions_per_head": [e.regions for e in entries],
        "regions_by_share": [e.regions_by_share for e in entries],
        "impressions_per_spend": [e.ips for e in entries],
        "region_kind": [e.region_kind for e in entries],
        # per attribute: "impressions" (delivery) or "reach" (a DSA record's reach breakdown)
        "behaviour_basis": [e.item.behaviour.basis for e in entries],
        "split": main.split,
    }
    if extra:
        meta.update(extra)
    return record(sid, task, ctx.system, user, answer, target, meta)


class Generator:
    """Base of the task generators: ``enabled``, ``weight`` (the kept fraction of candidate samples)."""

    family = ""

    def __init__(self, enabled: bool = True, weight: float = 1.0) -> None:
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"{type(self).__name__}: weight={weight} must be in [0, 1] (the kept fraction)")
        self.enabled = enabled
        self.weight = weight

    def generate(self, group: Sequence[ItemFacts], pool: Sequence[PoolEntry], ctx: Context) -> Iterator[dict]:
        raise NotImplementedError
