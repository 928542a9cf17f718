"""python -m ava.build_dataset: one ad's audience behaviour as normalised distributions, ranges and rankings.

From an Ad Library record this builds the age, gender, age×gender and region distributions (each normalised
to sum 1), the impressions and spend ranges, one number for each range and impressions per unit of spend.
Whatever is missing or inconsistent is counted in an :class:`Issues` tally under a named kind and the
attribute is left out (``None``): it is never silently used.

Range → number (``range_point``): ``midpoint`` (default) takes (lower + upper) / 2; ``lower`` / ``upper``
take one bound. An open range (no upper bound, the Ad Library's top bucket such as ``1000000+``) always uses
its lower bound and is counted as ``open_range``. Impressions per spend = impressions number ÷ spend number
(left out, and counted, when the spend number is 0).

Regions are ranked per head of population (share ÷ population, the AVA paper's rule); regions the population
table does not know keep their raw share in the metadata but are left out of the ranking and counted.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

Dist = dict[str, float]


class Issues(Counter):
    """Counts of missing / inconsistent behaviour by kind (e.g. ``age_gender.sum_far_from_1``)."""


@dataclass(frozen=True)
class Range:
    lower: float
    upper: float | None  # None: open range ("1000000+")

    def point(self, rule: str) -> float:
        if self.upper is None:
            return self.lower
        if rule == "midpoint":
            return (self.lower + self.upper) / 2
        if rule == "lower":
            return self.lower
        if rule == "upper":
            return self.upper
        raise ValueError(f"range_point={rule!r} is not one of midpoint, lower, upper")

    def text(self, currency: str | None = None) -> str:
        unit = f" {currency}" if currency else ""
        if self.upper is None:
            return f"{_fmt(self.lower)}+{unit}"
        return f"{_fmt(self.lower)}-{_fmt(self.upper)}{unit}"

    def as_dict(self) -> dict[str, float | None]:
        return {"lower": self.lower, "upper": self.upper}


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass
class Behaviour:
    """Normalised behaviour of one ad (or of one merged dedup cluster)."""

    age_gender: Dist | None = None
    age: Dist | None = None
    gender: Dist | None = None
    region: Dist | None = None  # normalised shares of all regions, known to the population table or not
    impressions: Range | None = None
    spend: Range | None = None
    currency: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # shares as given (after parsing), for sample metadata


@dataclass(frozen=True)
class BehaviourConfig:
    age_buckets: tuple[str, ...]
    genders: tuple[str, ...]
    best_gender_from: tuple[str, ...]
    sum_tolerance: float
    range_point: str
    region_aliases: Mapping[str, str]

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any]) -> BehaviourConfig:
        return cls(
            age_buckets=tuple(cfg["age_buckets"]),
            genders=tuple(cfg["genders"]),
            best_gender_from=tuple(cfg["best_gender_from"]),
            sum_tolerance=float(cfg["sum_tolerance"]),
            range_point=str(cfg["range_point"]),
            region_aliases=dict(cfg.get("region_aliases") or {}),
        )


def load_population(path: str | Path | None) -> dict[str, float]:
    """Region → population from a CSV with columns ``region,population`` (``#`` lines are comments).

    ``None`` loads the bundled 2020 US census table (50 states + DC).
    """
    if path is None:
        text = resources.files("ava").joinpath("data", "us_state_population_2020.csv").read_text("utf-8")
        where = "ava/data/us_state_population_2020.csv"
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"population table not found: {p}; set population.path to a CSV "
                                    "with columns region,population (or null for the bundled US table)")
        text, where = p.read_text("utf-8"), str(p)
    rows = csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    if rows.fieldnames is None or not {"region", "population"} <= set(rows.fieldnames):
        raise ValueError(f"{where}: the header must name the columns region,population")
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


def _number(value: Any) -> float | None:
    """A finite number from an int, float or numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        x = float(value)
    elif isinstance(value, str):
        try:
            x = float(value.strip().replace(",", ""))
        except ValueError:
            return None
    else:
        return None
    return x if math.isfinite(x) else None


def parse_range(value: Any, name: str, issues: Issues) -> Range | None:
    if value is None:
        issues[f"{name}.missing"] += 1
        return None
    if not isinstance(value, Mapping):
        issues[f"{name}.malformed"] += 1
        return None
    lower = _number(value.get("lower_bound"))
    upper_raw = value.get("upper_bound")
    upper = None if upper_raw in (None, "") else _number(upper_raw)
    if lower is None or (upper_raw not in (None, "") and upper is None):
        issues[f"{name}.malformed"] += 1
        return None
    if lower < 0 or (upper is not None and upper < 0):
        issues[f"{name}.negative_value"] += 1
        return None
    if upper is not None and upper < lower:
        issues[f"{name}.lower_above_upper"] += 1
        return None
    if upper is None:
        issues[f"{name}.open_range"] += 1
    return Range(lower, upper)


def _checked(entries: list[tuple[str, float]], name: str, tol: float, issues: Issues) -> Dist | None:
    """Sum duplicate keys, reject negatives and sums far from 1, renormalise."""
    if not entries:
        issues[f"{name}.missing"] += 1
        return None
    if any(v < 0 for _, v in entries):
        issues[f"{name}.negative_value"] += 1
        return None
    dist: Dist = {}
    for k, v in entries:
        dist[k] = dist.get(k, 0.0) + v
    total = sum(dist.values())
    if abs(total - 1.0) > tol:
        issues[f"{name}.sum_far_from_1"] += 1
        return None
    return {k: v / total for k, v in dist.items()}


def parse_demographics(value: Any, cfg: BehaviourConfig, issues: Issues) -> tuple[Dist | None, dict]:
    """``demographic_distribution`` → normalised joint {"age|gender": share}; raw shares for metadata."""
    raw: dict[str, float] = {}
    if value is None or value == []:
        issues["age_gender.missing"] += 1
        return None, raw
    if not isinstance(value, list):
        issues["age_gender.malformed"] += 1
        return None, raw
    entries: list[tuple[str, float]] = []
    unknown = False
    for e in value:
        share = _number(e.get("percentage")) if isinstance(e, Mapping) else None
        if share is None:
            issues["age_gender.malformed"] += 1
            return None, raw
        age, gender = str(e.get("age", "")).strip(), str(e.get("gender", "")).strip().lower()
        raw[f"{age}|{gender}"] = raw.get(f"{age}|{gender}", 0.0) + share
        if age not in cfg.age_buckets or gender not in cfg.genders:
            unknown = True
            continue
        entries.append((f"{age}|{gender}", share))
    if unknown:
        issues["age_gender.unknown_bucket"] += 1
        return None, raw
    return _checked(entries, "age_gender", cfg.sum_tolerance, issues), raw


def parse_regions(value: Any, cfg: BehaviourConfig, issues: Issues) -> tuple[Dist | None, dict]:
    """``delivery_by_region`` → normalised {region: share} (aliases applied); raw shares for metadata."""
    raw: dict[str, float] = {}
    if value is None or value == []:
        issues["region.missing"] += 1
        return None, raw
    if not isinstance(value, list):
        issues["region.malformed"] += 1
        return None, raw
    entries = []
    for e in value:
        share = _number(e.get("percentage")) if isinstance(e, Mapping) else None
        region = str(e.get("region", "")).strip() if isinstance(e, Mapping) else ""
        if share is None or not region:
            issues["region.malformed"] += 1
            return None, raw
        region = cfg.region_aliases.get(region, region)
        raw[region] = raw.get(region, 0.0) + share
        entries.append((region, share))
    return _checked(entries, "region", cfg.sum_tolerance, issues), raw


def marginals(joint: Dist, cfg: BehaviourConfig) -> tuple[Dist, Dist]:
    """Age and gender marginals of a joint {"age|gender": share}, over every configured bucket."""
    age = {a: 0.0 for a in cfg.age_buckets}
    gender = {g: 0.0 for g in cfg.genders}
    for key, v in joint.items():
        a, g = key.split("|", 1)
        age[a] += v
        gender[g] += v
    return age, gender


def parse_behaviour(record: Mapping[str, Any], cfg: BehaviourConfig, issues: Issues) -> Behaviour:
    joint, raw_ag = parse_demographics(record.get("demographic_distribution"), cfg, issues)
    region, raw_region = parse_regions(record.get("delivery_by_region"), cfg, issues)
    b = Behaviour(age_gender=joint, region=region,
                  impressions=parse_range(record.get("impressions"), "impressions", issues),
                  spend=parse_range(record.get("spend"), "spend", issues),
                  currency=str(record["currency"]) if record.get("currency") else None,
                  raw={"age_gender": raw_ag, "region": raw_region,
                       "estimated_audience_size": record.get("estimated_audience_size")})
    if joint is not None:
        b.age, b.gender = marginals(joint, cfg)
    return b


def best(dist: Dist, among: Iterable[str] | None = None) -> str:
    """The bucket with the largest share (ties broken by bucket name, so the answer is deterministic)."""
    keys = [k for k in (among if among is not None else dist) if k in dist]
    return max(sorted(keys), key=lambda k: dist[k])


def rank_regions(shares: Dist, population: Mapping[str, float], per_head: bool = True
                 ) -> tuple[list[str], list[str]]:
    """Regions ranked by share ÷ population (or by raw share); also the regions without a population."""
    known = {r: s for r, s in shares.items() if r in population}
    missing = sorted(r for r in shares if r not in population)
    score = {r: (s / population[r] if per_head else s) for r, s in known.items()}
    ranked = sorted(known, key=lambda r: (-score[r], r))
    return ranked, missing


def impressions_per_spend(b: Behaviour, rule: str, issues: Issues) -> float | None:
    if b.impressions is None or b.spend is None:
        return None
    spend = b.spend.point(rule)
    if spend <= 0:
        issues["spend.zero_for_ratio"] += 1
        return None
    return b.impressions.point(rule) / spend


def merge(behaviours: list[Behaviour], rule: str, cfg: BehaviourConfig, issues: Issues) -> Behaviour:
    """Impressions-weighted average of the members' distributions; ranges add bound by bound.

    A member without an impressions range weighs 1 (counted as ``merge.unweighted_member``); a member
    without a distribution does not take part in that distribution's average.
    """
    if len(behaviours) == 1:
        return behaviours[0]
    weights = []
    for b in behaviours:
        if b.impressions is None:
            issues["merge.unweighted_member"] += 1
            weights.append(1.0)
        else:
            weights.append(max(b.impressions.point(rule), 1e-9))

    def avg(attr: str) -> Dist | None:
        parts = [(w, getattr(b, attr)) for w, b in zip(weights, behaviours, strict=True)
                 if getattr(b, attr) is not None]
        if not parts:
            return None
        total = sum(w for w, _ in parts)
        out: Dist = {}
        for w, d in parts:
            for k, v in d.items():
                out[k] = out.get(k, 0.0) + w * v / total
        return out

    def add(attr: str) -> Range | None:
        ranges = [getattr(b, attr) for b in behaviours]
        if any(r is None for r in ranges):
            return None
        upper = None if any(r.upper is None for r in ranges) else sum(r.upper for r in ranges)
        return Range(sum(r.lower for r in ranges), upper)

    currencies = {b.currency for b in behaviours if b.currency}
    spend = add("spend")
    if len(currencies) > 1:
        issues["merge.mixed_currency"] += 1
        spend = None
    merged = Behaviour(age_gender=avg("age_gender"), region=avg("region"), impressions=add("impressions"),
                       spend=spend, currency=next(iter(currencies)) if len(currencies) == 1 else None,
                       raw={"members": [b.raw for b in behaviours], "weights": weights})
    if merged.age_gender is not None:
        merged.age, merged.gender = marginals(merged.age_gender, cfg)
    return merged
