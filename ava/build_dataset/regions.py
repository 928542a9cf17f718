"""python -m ava.build_dataset: region rankings (per head of population, or by share).

The population tables come from :mod:`ava.populations`. Ranking per head (the AVA paper's rule): share ÷
population, over the regions the table knows. It is made only when those regions carry at least ``min_coverage`` of
the delivery; otherwise the ad gets no ranking and the reason is counted (an ad delivered 99% in Puerto Rico's
municipalities must not be ranked by the 0.2% it sent to three states). By share (``per_head=false``): every named
region, table or not, by its raw share. Ties in either ranking are broken by region name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from ava.build_dataset.behaviour import Dist, Issues


def rank_regions(shares: Dist, population: Mapping[str, float], per_head: bool = True,
                 unnamed: frozenset[str] = frozenset()) -> tuple[list[str], list[str]]:
    """Regions ranked by share ÷ population (or by raw share); also the regions without a population.

    Per head, only regions in ``population`` are ranked. By share, every region except the ``unnamed`` ones
    (``Unknown``) is ranked, whether the table knows it or not.
    """
    named = {r: s for r, s in shares.items() if r not in unnamed}
    missing = sorted(r for r in shares if r not in population)
    if per_head:
        score = {r: s / population[r] for r, s in named.items() if r in population}
    else:
        score = dict(named)
    return sorted(score, key=lambda r: (-score[r], r)), missing


def coverage(shares: Dist, population: Mapping[str, float]) -> float:
    """Share of the delivery that went to regions the population table knows."""
    return sum(s for r, s in shares.items() if r in population)


@dataclass(frozen=True)
class RegionRanker:
    """How an item's regions are ranked: one population table per region kind (``region``, ``country``)."""

    tables: Mapping[str, Mapping[str, float]]
    per_head: bool
    min_coverage: float
    unnamed: frozenset[str]

    def rank(self, shares: Dist, kind: str, issues: Issues, unknown: Counter
             ) -> tuple[list[str] | None, list[str], str | None]:
        """(ranking used by the tasks or None, ranking by share, why there is no ranking)."""
        table = self.tables[kind]
        by_share, _ = rank_regions(shares, table, per_head=False, unnamed=self.unnamed)
        if not self.per_head:
            return by_share or None, by_share, None if by_share else "no named region"
        ranked, missing = rank_regions(shares, table, per_head=True, unnamed=self.unnamed)
        if missing:
            issues[f"{kind}.without_population"] += 1
            unknown.update(missing)
        covered = coverage(shares, table)
        if covered < self.min_coverage:
            issues[f"{kind}.low_coverage"] += 1
            return None, by_share, f"population table covers less than {self.min_coverage:g} of delivery"
        return ranked or None, by_share, None
