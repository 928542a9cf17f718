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
from ava.sample import Attribute

ATTRIBUTES = tuple(sample.ATTRIBUTES)


RANGE_TEXT = {"spend": spend_text, "impressions": impressions_text}  # a range attribute's name → its text


def attribute_facts(a: Attribute, e: ItemFacts, ctx: Context, k: int = 3) -> tuple[dict, dict] | None:
    """(answer template fields, machine-readable target) for one attribute; None when behaviour is missing."""
    observed = e.observed(a)
    if a.kind == "label":
        best = e.top_group(a)
        if best is None:
            return None
        return {a.key: ctx.group_name(a, best)}, {a.key: best, "distribution": observed}
    if a.kind == "ranking":
        if e.regions is None or len(e.regions) < k:
            return None
        top = e.regions[: k]
        return ({a.key: join_names(top), "k": k, "places": ctx.places(e.region_kind)},
                {a.key: top, "distribution": observed, "region_kind": e.region_kind})
    if observed is None:
        return None
    text = RANGE_TEXT[a.name](e)
    value = observed.as_dict()
    if a.name == "spend":  # money: the range carries its currency
        value["currency"] = e.item.behaviour.currency
    return {a.key: text}, {a.key: value, "range": text}


def skip_reason(a: Attribute, e: ItemFacts, k: int) -> str:
    """Why ``attribute_facts`` gave nothing for this entry (the key of the summary's skipped_samples)."""
    if a.kind == "ranking" and e.regions is not None:
        return f"fewer than {k} ranked regions"
    if a.kind == "ranking" and e.region_skip is not None:
        return e.region_skip
    if a.kind == "label" and e.observed(a):
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
        self.templates, self.k = templates, top_k_regions
        self.attributes = [sample.ATTRIBUTES[a] for a in attributes]

    def generate(self, group: Sequence[ItemFacts], pool: Sequence[PoolEntry], ctx: Context) -> Iterator[dict]:
        for e in group:
            for a in self.attributes:
                task = f"TAP-{a.letter}"
                got = attribute_facts(a, e, ctx, self.k)
                if got is None:
                    ctx.skipped[f"{task}: {skip_reason(a, e, self.k)}"] += 1
                    continue
                fields, target = got
                sid = sample_id(task, e.key)
                t = self.templates[a.letter]
                question, ti = pick(t["question"], ctx.seed, sid)
                hide = frozenset({a.key} if a.kind == "range" else ())  # the ad_fields of the range asked
                user = f"{describe_ad(e, ctx, hide)}\n\n{question.format(k=self.k, places=fields.get('places', ''))}"
                yield make_sample(task, sid, ctx, user, t["answer"].format(**fields), target, [e], ti)
