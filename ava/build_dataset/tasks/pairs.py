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

Work per ad is bounded, so time and memory grow with the number of ads, not with its square. TS partners
are an ad's ``neighbours`` nearest ads by cosine (FAISS over the advertiser's embeddings, the index chosen
as ``ava.dedup`` chooses it: exact below 20,000 ads, IVF above), kept when above ``min_cosine``. TC partners
are drawn per ad from the other top groups (ads bucketed by top age group, gender, region), at most
``max_partners`` per attribute, rotating through each bucket from a seeded offset. Candidates are then taken
in a seeded hash order; each ad joins at most ``max_partners`` pairs that gave samples. The checks run
cheapest first: identical copy, behaviour (is one ad stronger, are the top groups different), and only then
the word-level edit distance, thresholded at ``min_word_edits`` (rapidfuzz stops as soon as it is exceeded).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ava.build_dataset.tasks.base import (
    Context,
    Generator,
    ItemFacts,
    PoolEntry,
    ad_text,
    hash64,
    make_sample,
    pick,
    sample_id,
)
from ava.build_dataset.text import normalised, word_levenshtein
from ava.sample import ATTRIBUTES, Attribute

# TC rewrites an ad for another audience group, so its attributes are those whose values are groups (label,
# ranking: G, A, R); a spend or impressions range (B, I) is how an ad performed, not whom it reached.
TC_ATTRIBUTES = tuple(a.letter for a in ATTRIBUTES.values() if a.kind != "range")
# TS rewrites the weaker ad into the stronger: a larger share of the same top group (TC's attributes), or more
# impressions per spend. That one comparison uses both ranges and is named after spend ("more people for the
# same budget"); impressions alone are no TS attribute: without the spend they compare budgets, not ads.
TS_ATTRIBUTES = (*TC_ATTRIBUTES, *(a.letter for a in ATTRIBUTES.values() if a.name == "spend"))


# IVF lists searched per query when an advertiser has more ads than dedup's flat limit (20,000): a fixed count,
# so a query scans a bounded number of lists (at 64k ads, 32 of 1,024 lists: ~3% of the ads); not tuned for
# recall (a missed neighbour only loses a candidate pair).
NPROBE = 32


def _key_hashes(group: Sequence[ItemFacts], seed: int, salt: str) -> np.ndarray:
    """A seeded 64-bit hash of each entry's key (stable across runs and machines)."""
    return np.array([hash64(seed, salt, e.key) for e in group], dtype=np.uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a well-spread 64-bit hash of each uint64."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def seeded_order(pairs: np.ndarray, group: Sequence[ItemFacts], seed: int) -> np.ndarray:
    """Rows of ``pairs`` (m × 2 entry indices) in a seeded order that depends only on the entries' keys."""
    if len(pairs) == 0:
        return pairs
    h = _key_hashes(group, seed, "pair")
    with np.errstate(over="ignore"):
        ph = _mix(h[pairs[:, 0]] * np.uint64(0x9E3779B97F4A7C15) + _mix(h[pairs[:, 1]]))
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0], ph))]


class _Partners:
    """How many sample-giving pairs each entry has joined, capped at ``cap``."""

    def __init__(self, n: int, cap: int) -> None:
        self.used, self.cap = np.zeros(n, dtype=np.int32), cap

    def full(self, i: int, j: int) -> bool:
        return self.used[i] >= self.cap or self.used[j] >= self.cap

    def take(self, i: int, j: int) -> None:
        self.used[i] += 1
        self.used[j] += 1


def similar_pairs(emb: np.ndarray, min_cosine: float, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Unordered pairs (i < j) among each row's ``k`` nearest rows with cosine above ``min_cosine``.

    Returns (pairs m × 2, their exact cosines, how many rows had all ``k`` neighbours above the threshold:
    those may have more similar ads than were looked at).
    """
    from ava.vector_index import IndexChooser, build_index, rescore

    n = len(emb)
    x = np.ascontiguousarray(emb, dtype=np.float32)
    built = build_index(x, IndexChooser().plan(n, x.shape[1]), gpu=False, seed=seed)
    if built.param == "nprobe":
        built.set_param(min(NPROBE, built.values[-1]))
    kk = min(k + 1, n)  # the row itself is its own nearest neighbour
    scores, nbr = built.index.search(x, kk)
    rows = np.broadcast_to(np.arange(n)[:, None], nbr.shape)
    hit = (nbr >= 0) & (nbr != rows) & (scores > min_cosine)
    saturated = int((hit.sum(1) >= k).sum())
    a, b = rows[hit].astype(np.int64), nbr[hit].astype(np.int64)
    pairs = np.unique(np.stack([np.minimum(a, b), np.maximum(a, b)], 1), axis=0) if a.size else \
        np.zeros((0, 2), np.int64)
    cos = rescore(x, pairs[:, 0], pairs[:, 1]) if len(pairs) else np.zeros(0, np.float32)
    keep = cos > min_cosine
    return pairs[keep], cos[keep], saturated


def _share(a: Attribute, e: ItemFacts, group: str) -> float:
    return (e.observed(a) or {}).get(group, 0.0)


def _audience(a: Attribute, group: str, ctx: Context) -> str:
    value = ctx.group_name(a, group)
    return ctx.audience[a.letter].format(age=value, gender=value, region=value)


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
        self.templates, self.attributes = templates, [ATTRIBUTES[a] for a in attributes]
        self.text_fields, self.max_partners = tuple(text_fields), max_partners

    def _sample(self, a: Attribute, ctx: Context, src: ItemFacts, dst: ItemFacts, fields: dict[str, Any],
                target: dict[str, Any]) -> dict:
        task = f"{self.family}-{a.letter}"
        sid = sample_id(task, src.key, dst.key)
        template, ti = pick(self.templates[a.letter], ctx.seed, sid)
        user = template.format(advertiser=src.item.advertiser, ad=ad_text(src, self.text_fields), **fields)
        answer = ad_text(dst, self.text_fields)
        target = {"text": answer, "title": dst.item.title, "body": dst.item.body, **target}
        return make_sample(task, sid, ctx, user, answer, target, [src, dst], ti)


class Transsuasion(_PairGenerator):
    family = "TS"

    def __init__(self, templates: Mapping[str, Sequence[str]], attributes: Sequence[str] = TS_ATTRIBUTES,
                 min_cosine: float = 0.7, min_word_edits: int = 15, min_ratio: float = 1.2,
                 min_gap: float = 0.05, max_partners: int = 20, neighbours: int = 50,
                 text_fields: Sequence[str] = ("title", "body"), enabled: bool = True,
                 weight: float = 1.0) -> None:
        super().__init__(templates, attributes, TS_ATTRIBUTES, text_fields, max_partners, enabled, weight)
        if neighbours < 1:
            raise ValueError(f"Transsuasion: neighbours={neighbours} must be at least 1")
        self.min_cosine, self.min_word_edits = min_cosine, min_word_edits
        self.min_ratio, self.min_gap, self.neighbours = min_ratio, min_gap, neighbours

    def _stronger(self, attr: Attribute, a: ItemFacts,
                  b: ItemFacts) -> tuple[ItemFacts, ItemFacts, dict[str, Any]] | None:
        if attr.kind == "range":  # spend, the only range attribute TS allows: impressions per spend
            if a.ips is None or b.ips is None or min(a.ips, b.ips) <= 0:
                return None
            weak, strong = (a, b) if a.ips < b.ips else (b, a)
            if strong.ips / weak.ips < self.min_ratio:
                return None
            return weak, strong, {"impressions_per_spend": [weak.ips, strong.ips]}
        group = a.top_group(attr)
        if group is None or group != b.top_group(attr):
            return None
        weak, strong = (a, b) if _share(attr, a, group) < _share(attr, b, group) else (b, a)
        shares = [_share(attr, weak, group), _share(attr, strong, group)]
        if shares[1] - shares[0] < self.min_gap:
            return None
        return weak, strong, {"group": group, "shares": shares}

    def generate(self, group: Sequence[ItemFacts], pool: Sequence[PoolEntry], ctx: Context) -> Iterator[dict]:
        if len(group) < 2:
            return
        texts = [ad_text(e, self.text_fields) for e in group]
        pairs, cosines, saturated = similar_pairs(ctx.get_embedder().encode(texts), self.min_cosine,
                                                  self.neighbours, ctx.seed)
        ctx.skipped["TS: ads whose neighbour list was full (more similar ads than neighbours)"] += saturated
        cos_of = {(int(i), int(j)): float(c) for (i, j), c in zip(pairs, cosines, strict=True)}
        partners = _Partners(len(group), self.max_partners)
        for i, j in seeded_order(pairs, group, ctx.seed).tolist():
            if partners.full(i, j):
                ctx.skipped["TS: partner limit reached"] += 1
                continue
            if normalised(texts[i]) == normalised(texts[j]):
                ctx.skipped["TS: identical copies"] += 1
                continue
            found = [(attr, got) for attr in self.attributes
                     if (got := self._stronger(attr, group[i], group[j])) is not None]
            if not found:
                ctx.skipped["TS: no attribute with a stronger ad"] += 1
                continue
            if word_levenshtein(texts[i], texts[j], cutoff=self.min_word_edits) <= self.min_word_edits:
                ctx.skipped["TS: too few word edits"] += 1
                continue
            partners.take(i, j)
            for attr, (weak, strong, facts) in found:
                fields = {"audience": _audience(attr, facts["group"], ctx)} if "group" in facts else {}
                yield self._sample(attr, ctx, weak, strong, fields,
                                   {"attribute": attr.letter, "cosine": cos_of[(i, j)],
                                    "word_edits_above": self.min_word_edits, **facts})


class Transcreation(_PairGenerator):
    family = "TC"

    def __init__(self, templates: Mapping[str, Sequence[str]], attributes: Sequence[str] = TC_ATTRIBUTES,
                 min_rank_gap: int = 3, max_partners: int = 20,
                 text_fields: Sequence[str] = ("title", "body"), enabled: bool = True,
                 weight: float = 1.0) -> None:
        super().__init__(templates, attributes, TC_ATTRIBUTES, text_fields, max_partners, enabled, weight)
        self.min_rank_gap = min_rank_gap

    def _target_group(self, attr: Attribute, src: ItemFacts, dst: ItemFacts) -> str | None:
        want, have = dst.top_group(attr), src.top_group(attr)
        if want is None or have is None or want == have:
            return None
        if attr.kind == "ranking" and want in src.regions and src.regions.index(want) < self.min_rank_gap:
            return None
        return want

    def candidates(self, group: Sequence[ItemFacts], seed: int) -> np.ndarray:
        """Ordered pairs (src, dst): per attribute, up to ``max_partners`` dsts from other top groups."""
        h = _key_hashes(group, seed, "tc")
        out = []
        for attr in self.attributes:
            buckets: dict[str, list[int]] = defaultdict(list)
            for idx, e in enumerate(group):
                value = e.top_group(attr)
                if value is not None:
                    buckets[value].append(idx)
            for members in buckets.values():
                members.sort(key=lambda m: (int(h[m]), m))
            values = sorted(buckets)
            for i, e in enumerate(group):
                have = e.top_group(attr)
                if have is None:
                    continue
                near = set(e.regions[: self.min_rank_gap]) if attr.kind == "ranking" and e.regions else set()
                others = [buckets[v] for v in values if v != have and v not in near]
                if not others:
                    continue
                start = int(h[i] % np.uint64(len(others)))
                others = others[start:] + others[:start]
                offsets = [int((h[i] >> np.uint64(16)) % np.uint64(len(m))) for m in others]
                picked = 0
                for r in range(self.max_partners):  # round robin over the other groups
                    for m, off in zip(others, offsets, strict=True):
                        if r < len(m) and picked < self.max_partners:
                            out.append((i, m[(off + r) % len(m)]))
                            picked += 1
                    if picked >= self.max_partners:
                        break
        if not out:
            return np.zeros((0, 2), np.int64)
        return np.unique(np.array(out, dtype=np.int64), axis=0)

    def generate(self, group: Sequence[ItemFacts], pool: Sequence[PoolEntry], ctx: Context) -> Iterator[dict]:
        texts = [normalised(ad_text(e, self.text_fields)) for e in group]
        partners = _Partners(len(group), self.max_partners)
        for i, j in seeded_order(self.candidates(group, ctx.seed), group, ctx.seed).tolist():
            if partners.full(i, j):
                ctx.skipped["TC: partner limit reached"] += 1
                continue
            if texts[i] == texts[j]:
                ctx.skipped["TC: identical copies"] += 1
                continue
            src, dst = group[i], group[j]
            wanted = [(attr, want) for attr in self.attributes
                      if (want := self._target_group(attr, src, dst)) is not None]
            if wanted:
                partners.take(i, j)
            for attr, want in wanted:
                have = src.top_group(attr)
                fields = {"source_audience": _audience(attr, have, ctx),
                          "target_audience": _audience(attr, want, ctx)}
                yield self._sample(attr, ctx, src, dst, fields,
                                   {"attribute": attr.letter, "source_group": have, "target_group": want})
