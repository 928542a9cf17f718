"""python -m ava.build_dataset: population tables and region rankings (per head of population, or by share).

Two tables ship in ``ava/data``: ``us_population_2020.csv`` (2020 US Census: 50 states, DC, Puerto Rico and
the island areas; ranks ``delivery_by_region``) and ``eu_eea_population_2023.csv`` (Eurostat, 1 January 2023:
EU27 + Iceland, Liechtenstein, Norway; ranks the countries of a DSA ``age_country_gender_reach_breakdown``).

Ranking per head (the AVA paper's rule): share ÷ population, over the regions the table knows. It is made only
when those regions carry at least ``min_coverage`` of the delivery; otherwise the ad gets no ranking and the
reason is counted (an ad delivered 99% in Puerto Rico's municipalities must not be ranked by the 0.2% it sent
to three states). By share (``per_head=false``): every named region, table or not, by its raw share. Ties in
either ranking are broken by region name.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ava.build_dataset.behaviour import Dist, Issues

US_TABLE = "us_population_2020.csv"
COUNTRY_TABLE = "eu_eea_population_2023.csv"


def _rows(path: str | Path | None, bundled: str) -> tuple[list[dict[str, str]], str]:
    if path is None:
        text = resources.files("ava").joinpath("data", bundled).read_text("utf-8")
        where = f"ava/data/{bundled}"
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"population table not found: {p}; set population.path (or countries_path) "
                                    "to a CSV with columns region,population (or null for the bundled table)")
        text, where = p.read_text("utf-8"), str(p)
    rows = csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    if rows.fieldnames is None or not {"region", "population"} <= set(rows.fieldnames):
        raise ValueError(f"{where}: the header must name the columns region,population")
    return list(rows), where


def load_population(path: str | Path | None, bundled: str = US_TABLE) -> dict[str, float]:
    """Region → population from a CSV with columns ``region,population`` (``#`` lines are comments).

    ``None`` loads the bundled table ``ava/data/<bundled>`` (by default the 2020 US census one).
    """
    rows, where = _rows(path, bundled)
    table: dict[str, float] = {}
    for i, row in enumerate(rows, start=2):
        try:
            pop = float(row["population"])
        except (TypeError, ValueError):
            raise ValueError(f"{where}: row {i}: population {row['population']!r} is not a number") from None
        if not math.isfinite(pop) or pop <= 0:
            raise ValueError(f"{where}: row {i}: population must be a positive number, got {pop}")
        table[row["region"].strip()] = pop
    if not table:
        raise ValueError(f"{where}: no rows")
    return table


def load_codes(path: str | Path | None, bundled: str = COUNTRY_TABLE) -> dict[str, str]:
    """Code → region name from the table's optional ``code`` column (empty when it has none)."""
    rows, _ = _rows(path, bundled)
    return {row["code"].strip(): row["region"].strip() for row in rows if (row.get("code") or "").strip()}


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
