"""python -m ava.build_dataset: TAP, audience / behaviour prediction (TAP-G, -A, -R, -B, -I).

Given the ad (advertiser, title, platforms, dates, spend range, content and verbalized creative) predict the
best gender, the best age group, the top-k regions (per head of population), the spend range or the
impressions range. The range asked about is hidden from the ad description (TAP-I still sees the spend).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ava import sample
from ava.build_dataset.tasks.base import (
    Context,
    Generator,
    ItemFacts,
    PoolEntry,
    describe_ad,
    impressions_text,
    join_names,
    make_sample,
    pick,
    sample_id,
    spend_text,
)

ATTRIBUTES = tuple(sample.ATTRIBUTES)


def attribute_facts(attr: str, e: ItemFacts, ctx: Context, k: int = 3) -> tuple[dict, dict] | None:
    """(answer template fields, machine-readable target) for one attribute; None when behaviour is missing."""
    b = e.item.behaviour
    if attr == "G":
        if e.best_gender is None:
            return None
        return {"gender": ctx.gender(e.best_gender)}, {"gender": e.best_gender, "distribution": b.gender}
    if attr == "A":
        if e.best_age is None:
            return None
        return {"age": e.best_age}, {"age": e.best_age, "distribution": b.age}
    if attr == "R":
        if e.regions is None or len(e.regions) < k:
            return None
        top = e.regions[: k]
        return ({"regions": join_names(top), "k": k, "places": ctx.places(e.region_kind)},
                {"regions": top, "distribution": b.region, "region_kind": e.region_kind})
    if attr == "B":
        if b.spend is None:
            return None
        return ({"spend": spend_text(e)},
                {"spend": {**b.spend.as_dict(), "currency": b.currency}, "range": spend_text(e)})
    if b.impressions is None:
        return None
    return ({"impressions": impressions_text(e)},
            {"impressions": b.impressions.as_dict(), "range": impressions_text(e)})


def skip_reason(attr: str, e: ItemFacts, k: int) -> str:
    """Why ``attribute_facts`` gave nothing for this entry (the key of the summary's skipped_samples)."""
    b = e.item.behaviour
    if attr == "R" and e.regions is not None:
        return f"fewer than {k} ranked regions"
    if attr == "R" and e.region_skip is not None:
        return e.region_skip
    if attr in ("A", "G") and (b.age if attr == "A" else b.gender):
        return "top two shares tied"
    return "behaviour missing"


class TAP(Generator):
    family = "TAP"

    def __init__(self, templates: Mapping[str, Mapping[str, Any]], attributes: Sequence[str] = ATTRIBUTES,
                 top_k_regions: int = 3, enabled: bool = True, weight: float = 1.0) -> None:
        super().__init__(enabled, weight)
        bad = [a for a in attributes if a not in ATTRIBUTES or a not in templates]
        if bad:
            raise ValueError(f"TAP attributes {bad}: each must be one of {ATTRIBUTES} and have templates")
        self.templates, self.attributes, self.k = templates, list(attributes), top_k_regions

    def generate(self, group: Sequence[ItemFacts], pool: Sequence[PoolEntry], ctx: Context) -> Iterator[dict]:
        for e in group:
            for attr in self.attributes:
                task = f"TAP-{attr}"
                got = attribute_facts(attr, e, ctx, self.k)
                if got is None:
                    ctx.skipped[f"{task}: {skip_reason(attr, e, self.k)}"] += 1
                    continue
                fields, target = got
                sid = sample_id(task, e.key)
                t = self.templates[attr]
                question, ti = pick(t["question"], ctx.seed, sid)
                a = sample.ATTRIBUTES[attr]
                hide = frozenset({a.key} if a.kind == "range" else ())  # the ad_fields of the range asked
                user = f"{describe_ad(e, ctx, hide)}\n\n{question.format(k=self.k, places=fields.get('places', ''))}"
                yield make_sample(task, sid, ctx, user, t["answer"].format(**fields), target, [e], ti)
