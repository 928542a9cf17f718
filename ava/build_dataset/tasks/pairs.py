"""python -m ava.build_dataset: pairs of one advertiser's ads, TS (transsuasion) and TC (transcreation).

TS-B/-A/-G/-R: two ads of the same advertiser whose copies are close in meaning (sentence-embedding cosine
above ``min_cosine``) yet differently worded (word-level Levenshtein above ``min_word_edits``), as in the
paper (0.7 and 15). The weaker ad is rewritten into the stronger one: higher impressions per spend (B, by a
factor of at least ``min_ratio``) or, for the same top audience group (A, G, R), a share of that group larger
by at least ``min_gap``. TS-E (engagement) is not built: the Ad Library has no engagement counts.

TC-A/-G/-R: ad A rewritten into ad B for B's top group, which is not A's top group (regions: B's top region
ranks at least ``min_rank_gap`` places lower for A, or is absent there). Targets are the real ads: no
generator model is needed. Pairs never join an ad with its own duplicate (merged clusters are one item, and
identical copies are skipped).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ava.build_dataset.tasks.base import (
    Context,
    Entry,
    Generator,
    PoolEntry,
    ad_text,
    make_sample,
    pick,
    sample_id,
    unit_hash,
)
from ava.build_dataset.text import normalised, word_levenshtein

TS_ATTRIBUTES = ("B", "A", "G", "R")
TC_ATTRIBUTES = ("A", "G", "R")


def _pairs(group: Sequence[Entry], seed: int, max_partners: int, ordered: bool) -> Iterator[tuple[int, int]]:
    """Index pairs in a seeded order, each entry in at most ``max_partners`` pairs."""
    n = len(group)
    cand = [(i, j) for i in range(n) for j in range(n) if (i != j if ordered else i < j)]
    cand.sort(key=lambda p: unit_hash(seed, "pair", group[p[0]].key, group[p[1]].key))
    used = [0] * n
    for i, j in cand:
        if used[i] < max_partners and used[j] < max_partners:
            used[i] += 1
            used[j] += 1
            yield i, j


def _group_value(attr: str, e: Entry) -> str | None:
    return {"A": e.best_age, "G": e.best_gender, "R": e.regions[0] if e.regions else None}[attr]


def _share(attr: str, e: Entry, group: str) -> float:
    b = e.item.behaviour
    dist = {"A": b.age, "G": b.gender, "R": b.region}[attr] or {}
    return dist.get(group, 0.0)


def _audience(attr: str, group: str, ctx: Context) -> str:
    value = ctx.gender(group) if attr == "G" else group
    return ctx.audience[attr].format(age=value, gender=value, region=value)


class _PairGenerator(Generator):
    def __init__(self, templates: Mapping[str, Sequence[str]], attributes: Sequence[str],
                 allowed: Sequence[str], text_fields: Sequence[str], max_partners: int,
                 enabled: bool, weight: float) -> None:
        super().__init__(enabled, weight)
        bad = [a for a in attributes if a not in allowed or a not in templates]
        if bad:
            why = " (E, engagement, is not in Ad Library data)" if "E" in bad else ""
            raise ValueError(f"{self.family} attributes {bad}: each must be one of {tuple(allowed)} and have "
                             f"templates{why}")
        self.templates, self.attributes = templates, list(attributes)
        self.text_fields, self.max_partners = tuple(text_fields), max_partners

    def _sample(self, task: str, ctx: Context, src: Entry, dst: Entry, fields: dict[str, Any],
                target: dict[str, Any]) -> dict:
        sid = sample_id(task, src.key, dst.key)
        template, ti = pick(self.templates[task.split("-")[1]], ctx.seed, sid)
        user = template.format(advertiser=src.item.advertiser, ad=ad_text(src, self.text_fields), **fields)
        answer = ad_text(dst, self.text_fields)
        target = {"text": answer, "title": dst.item.title, "body": dst.item.body, **target}
        return make_sample(task, sid, ctx, user, answer, target, [src, dst], ti)


class Transsuasion(_PairGenerator):
    family = "TS"

    def __init__(self, templates: Mapping[str, Sequence[str]], attributes: Sequence[str] = TS_ATTRIBUTES,
                 min_cosine: float = 0.7, min_word_edits: int = 15, min_ratio: float = 1.2,
                 min_gap: float = 0.05, max_partners: int = 20,
                 text_fields: Sequence[str] = ("title", "body"), enabled: bool = True,
                 weight: float = 1.0) -> None:
        super().__init__(templates, attributes, TS_ATTRIBUTES, text_fields, max_partners, enabled, weight)
        self.min_cosine, self.min_word_edits = min_cosine, min_word_edits
        self.min_ratio, self.min_gap = min_ratio, min_gap

    def _stronger(self, attr: str, a: Entry, b: Entry) -> tuple[Entry, Entry, dict[str, Any]] | None:
        if attr == "B":
            if a.ips is None or b.ips is None or min(a.ips, b.ips) <= 0:
                return None
            weak, strong = (a, b) if a.ips < b.ips else (b, a)
            if strong.ips / weak.ips < self.min_ratio:
                return None
            return weak, strong, {"impressions_per_spend": [weak.ips, strong.ips]}
        group = _group_value(attr, a)
        if group is None or group != _group_value(attr, b):
            return None
        weak, strong = (a, b) if _share(attr, a, group) < _share(attr, b, group) else (b, a)
        shares = [_share(attr, weak, group), _share(attr, strong, group)]
        if shares[1] - shares[0] < self.min_gap:
            return None
        return weak, strong, {"group": group, "shares": shares}

    def generate(self, group: Sequence[Entry], pool: Sequence[PoolEntry], ctx: Context) -> Iterator[dict]:
        if len(group) < 2:
            return
        texts = [ad_text(e, self.text_fields) for e in group]
        emb = ctx.get_embedder().encode(texts)
        for i, j in _pairs(group, ctx.seed, self.max_partners, ordered=False):
            if normalised(texts[i]) == normalised(texts[j]):
                ctx.skipped["TS: identical copies"] += 1
                continue
            cosine = float(emb[i] @ emb[j])
            if cosine <= self.min_cosine:
                ctx.skipped["TS: not similar enough"] += 1
                continue
            edits = word_levenshtein(texts[i], texts[j])
            if edits <= self.min_word_edits:
                ctx.skipped["TS: too few word edits"] += 1
                continue
            for attr in self.attributes:
                got = self._stronger(attr, group[i], group[j])
                if got is None:
                    continue
                weak, strong, facts = got
                fields = {"audience": _audience(attr, facts["group"], ctx)} if "group" in facts else {}
                yield self._sample(f"TS-{attr}", ctx, weak, strong, fields,
                                   {"attribute": attr, "cosine": cosine, "word_edits": edits, **facts})


class Transcreation(_PairGenerator):
    family = "TC"

    def __init__(self, templates: Mapping[str, Sequence[str]], attributes: Sequence[str] = TC_ATTRIBUTES,
                 min_rank_gap: int = 3, max_partners: int = 20,
                 text_fields: Sequence[str] = ("title", "body"), enabled: bool = True,
                 weight: float = 1.0) -> None:
        super().__init__(templates, attributes, TC_ATTRIBUTES, text_fields, max_partners, enabled, weight)
        self.min_rank_gap = min_rank_gap

    def _target_group(self, attr: str, src: Entry, dst: Entry) -> str | None:
        want, have = _group_value(attr, dst), _group_value(attr, src)
        if want is None or have is None or want == have:
            return None
        if attr == "R" and want in src.regions and src.regions.index(want) < self.min_rank_gap:
            return None
        return want

    def generate(self, group: Sequence[Entry], pool: Sequence[PoolEntry], ctx: Context) -> Iterator[dict]:
        texts = [normalised(ad_text(e, self.text_fields)) for e in group]
        for i, j in _pairs(group, ctx.seed, self.max_partners, ordered=True):
            if texts[i] == texts[j]:
                ctx.skipped["TC: identical copies"] += 1
                continue
            src, dst = group[i], group[j]
            for attr in self.attributes:
                want = self._target_group(attr, src, dst)
                if want is None:
                    continue
                have = _group_value(attr, src)
                fields = {"source_audience": _audience(attr, have, ctx),
                          "target_audience": _audience(attr, want, ctx)}
                yield self._sample(f"TC-{attr}", ctx, src, dst, fields,
                                   {"attribute": attr, "source_group": have, "target_group": want})
