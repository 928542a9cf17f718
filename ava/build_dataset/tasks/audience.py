"""python -m ava.build_dataset: AS, audience selection (multiple-choice TAP).

The ad and K candidate audience profiles (best gender, best age group, top regions): one is the ad's own,
the others are profiles of other ads of the same category in the same split (any ad when no category field
is configured) whose regions are of the same kind (states, countries) and that differ from it. The answer
is the 1-based number of the real profile.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator, Sequence

from ava.build_dataset.tasks.base import (
    Context,
    Generator,
    ItemFacts,
    PoolEntry,
    describe_ad,
    join_names,
    make_sample,
    pick,
    sample_id,
    unit_hash,
)


class AudienceSelection(Generator):
    family = "AS"

    def __init__(self, templates: Sequence[str], answer: str, profile: str, num_choices: int = 4,
                 top_k_regions: int = 3, enabled: bool = True, weight: float = 1.0) -> None:
        super().__init__(enabled, weight)
        if num_choices < 2:
            raise ValueError(f"AudienceSelection: num_choices={num_choices} must be at least 2")
        self.templates, self.answer, self.profile_template = templates, answer, profile
        self.k, self.num_choices = top_k_regions, num_choices
        self._pool_id: int | None = None
        self._by_category: dict[tuple[str | None, str], list[tuple[str, str]]] = {}

    def profile(self, e: PoolEntry, ctx: Context) -> str | None:
        if e.best_gender is None or e.best_age is None or len(e.top_regions) < self.k:
            return None
        return self.profile_template.format(gender=ctx.gender(e.best_gender), age=e.best_age,
                                            regions=join_names(e.top_regions[: self.k]))

    def _index(self, pool: Sequence[PoolEntry], ctx: Context) -> None:
        """Profiles of the pool by category (rebuilt when the pool changes, i.e. once per split)."""
        if self._pool_id == id(pool):
            return
        by_cat: dict[tuple[str | None, str], list[tuple[str, str]]] = defaultdict(list)
        for e in pool:
            p = self.profile(e, ctx)
            if p is not None:
                by_cat[(e.category, e.region_kind)].append((e.key, p))
        self._by_category, self._pool_id = dict(by_cat), id(pool)

    def generate(self, group: Sequence[ItemFacts], pool: Sequence[PoolEntry], ctx: Context) -> Iterator[dict]:
        self._index(pool, ctx)
        for e in group:
            real = self.profile(PoolEntry.of(e, -1), ctx)
            if real is None:
                ctx.skipped["AS: behaviour missing"] += 1
                continue
            sid = sample_id("AS", e.key)
            rng = random.Random(unit_hash(ctx.seed, sid, "choices"))
            candidates = self._by_category.get((e.item.category, e.region_kind), [])
            distractors: list[str] = []
            # random draws with a bounded number of tries: O(K) per sample whatever the pool size
            for _ in range(20 * self.num_choices if candidates else 0):
                key, p = candidates[rng.randrange(len(candidates))]
                if key != e.key and p != real and p not in distractors:
                    distractors.append(p)
                    if len(distractors) == self.num_choices - 1:
                        break
            if len(distractors) < self.num_choices - 1:
                ctx.skipped["AS: too few distinct distractor profiles"] += 1
                continue
            choice = rng.randrange(self.num_choices)
            options = distractors[:choice] + [real] + distractors[choice:]
            listing = "\n".join(f"{n}. {p}" for n, p in enumerate(options, start=1))
            template, ti = pick(self.templates, ctx.seed, sid)
            user = f"{describe_ad(e, ctx)}\n\n{template.format(options=listing)}"
            answer = self.answer.format(choice=choice + 1, profile=real)
            target = {"choice": choice + 1, "options": options}
            yield make_sample("AS", sid, ctx, user, answer, target, [e], ti)
