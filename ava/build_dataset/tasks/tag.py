"""python -m ava.build_dataset: TAG, ad generation / content simulation (TAG-G, -A, -R, -B, -I).

Given the advertiser and the audience or performance wanted (gender, age group, top regions, budget,
impressions), write the ad. The target is the real ad (title, content, verbalized creative), so no
generator model is needed.
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
    ad_text,
    make_sample,
    pick,
    sample_id,
)
from ava.build_dataset.tasks.tap import ATTRIBUTES, attribute_facts, skip_reason


class TAG(Generator):
    family = "TAG"

    def __init__(self, templates: Mapping[str, Sequence[str]], attributes: Sequence[str] = ATTRIBUTES,
                 answer_fields: Sequence[str] = ("title", "body", "creative"), top_k_regions: int = 3,
                 enabled: bool = True, weight: float = 1.0) -> None:
        super().__init__(enabled, weight)
        bad = [a for a in attributes if a not in ATTRIBUTES or a not in templates]
        if bad:
            raise ValueError(f"TAG attributes {bad}: each must be one of {ATTRIBUTES} and have templates")
        self.templates, self.attributes = templates, [sample.ATTRIBUTES[a] for a in attributes]
        self.answer_fields, self.k = tuple(answer_fields), top_k_regions

    def generate(self, group: Sequence[ItemFacts], pool: Sequence[PoolEntry], ctx: Context) -> Iterator[dict]:
        for e in group:
            answer = ad_text(e, self.answer_fields)
            if not e.item.body and not e.item.title:
                ctx.skipped["TAG: ad has no title or body"] += 1
                continue
            for a in self.attributes:
                task = f"TAG-{a.letter}"
                got = attribute_facts(a, e, ctx, self.k)
                if got is None:
                    ctx.skipped[f"{task}: {skip_reason(a, e, self.k)}"] += 1
                    continue
                fields, wanted = got
                sid = sample_id(task, e.key)
                template, ti = pick(self.templates[a.letter], ctx.seed, sid)
                user = template.format(advertiser=e.item.advertiser, **fields)
                target: dict[str, Any] = {"title": e.item.title, "body": e.item.body,
                                          "creative": e.item.creative, "condition": wanted}
                yield make_sample(task, sid, ctx, user, answer, target, [e], ti)
