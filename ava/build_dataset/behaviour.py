"""python -m ava.build_dataset: one ad's audience behaviour as normalised distributions, ranges and rankings.

From an Ad Library record this builds the age, gender, age×gender and region distributions (each normalised
to sum 1), the impressions and spend ranges, one number for each range and impressions per unit of spend.
Whatever is missing or inconsistent is counted in an :class:`Issues` tally under a named kind and the
attribute is left out (``None``): it is never silently used.

Range → number (``range_point``): ``midpoint`` (default) takes (lower + upper) / 2; ``lower`` / ``upper``
take one bound. An open range (no upper bound, the Ad Library's top bucket such as ``1000000+``) always uses
its lower bound and is counted as ``open_range``. Impressions per spend = impressions number ÷ spend number
(left out, and counted, when the spend number is 0). Bounds so large that a midpoint, a ratio or a merged sum
is not a finite float (``1e308`` impressions, a spend of ``1e-300``) are left out and counted as
``non_finite``, so no ``Infinity`` reaches a sample.

EU records under the DSA carry no impressions: their ``age_country_gender_reach_breakdown`` (reach counts by
country, age and gender) gives the age×gender distribution and a country distribution (``region_kind`` =
``country``), weighted by reach; ``basis`` says, per attribute, whether a distribution counts impressions or
reach. Targeting (``target_ages``, ``target_gender``, ``target_locations``) is what the advertiser asked
for, not who saw the ad: it is kept in ``raw`` for the metadata and never used as behaviour.

The best bucket is the one with the largest share; when the top two shares are equal (within
``TIE_TOLERANCE``) there is no best bucket: the tie is counted (``age.tied_top``, ``gender.tied_top``) and the
tasks asking for it are skipped. Region rankings are in :mod:`ava.build_dataset.regions`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ava.sample import Range

Dist = dict[str, float]
# Ad Library shares arrive rounded to 6 decimals, so two real shares that differ do so by >= 1e-6; summing at
# most 21 cells in float64 moves a share by < 1e-15. Closer than this, two top shares are a tie.
TIE_TOLERANCE = 1e-9
TARGETING_FIELDS = ("target_ages", "target_gender", "target_locations")


class Issues(Counter):
    """Counts of missing / inconsistent behaviour by kind (e.g. ``age_gender.sum_far_from_1``)."""


@dataclass
class Behaviour:
    """Normalised behaviour of one ad (or of one merged dedup cluster)."""

    age_gender: Dist | None = None
    age: Dist | None = None
    gender: Dist | None = None
    region: Dist | None = None  # normalised shares of all regions, known to the population table or not
    region_kind: str = "region"  # region: delivery_by_region; country: the DSA reach breakdown's countries
    impressions: Range | None = None
    spend: Range | None = None
    currency: str | None = None
    reach: float | None = None  # eu_total_reach (DSA records), the weight when impressions are absent
    basis: dict[str, str] = field(default_factory=dict)  # attribute → "impressions" or "reach"
    raw: dict[str, Any] = field(default_factory=dict)  # shares as given (after parsing), for sample metadata


@dataclass(frozen=True)
class BehaviourConfig:
    age_buckets: tuple[str, ...]
    genders: tuple[str, ...]
    best_gender_from: tuple[str, ...]
    sum_tolerance: float
    range_point: str
    region_aliases: Mapping[str, str]
    country_names: Mapping[str, str] = field(default_factory=dict)  # ISO code → the country table's name

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


# A count with digit-group commas ("1,000", "1,00,000"): the last group has three digits
_GROUPED = re.compile(r"[+-]?\d+(?:,\d+)*,\d{3}(?:\.\d*)?")


def _number(value: Any, share: bool = False) -> float | None:
    """A finite number from an int, float or numeric string; None otherwise.

    Commas in a string: in a ``share`` (a percentage field) a lone comma with no point is a decimal comma
    (``"0,5"`` = 0.5); elsewhere commas group digits and must end in a group of three (``"1,000"``), so a
    count written ``"0,5"`` is malformed rather than read as 5.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        x = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if "," in text:
            if share and "." not in text and text.count(",") == 1:
                text = text.replace(",", ".")
            elif _GROUPED.fullmatch(text):
                text = text.replace(",", "")
            else:
                return None
        try:
            x = float(text)
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
    if upper is not None and not math.isfinite(lower + upper):  # 1e308 bounds: their midpoint overflows
        issues[f"{name}.non_finite"] += 1
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
        share = _number(e.get("percentage"), share=True) if isinstance(e, Mapping) else None
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
        share = _number(e.get("percentage"), share=True) if isinstance(e, Mapping) else None
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


def parse_reach_breakdown(value: Any, cfg: BehaviourConfig, issues: Issues
                          ) -> tuple[Dist | None, Dist | None, dict]:
    """``age_country_gender_reach_breakdown`` → (joint {"age|gender": share}, {country: share}, raw counts).

    Reach counts are summed over countries (joint) and over age and gender (countries), then normalised.
    Countries are named by ``cfg.country_names`` (ISO code → name; unknown codes stay codes).
    """
    raw: dict[str, Any] = {}
    if not isinstance(value, list) or not value:
        issues["reach_breakdown.malformed"] += 1
        return None, None, raw
    joint: Dist = {}
    countries: Dist = {}
    unknown = False
    for c in value:
        rows = c.get("age_gender_breakdowns") if isinstance(c, Mapping) else None
        code = str(c.get("country", "")).strip() if isinstance(c, Mapping) else ""
        if not code or not isinstance(rows, list):
            issues["reach_breakdown.malformed"] += 1
            return None, None, raw
        country = cfg.country_names.get(code, code)
        for row in rows:
            age = str(row.get("age_range", "")).strip() if isinstance(row, Mapping) else ""
            for gender, count in (row.items() if isinstance(row, Mapping) else ()):
                if gender == "age_range":
                    continue
                n = _number(count)
                if n is None or n < 0:
                    issues["reach_breakdown.malformed"] += 1
                    return None, None, raw
                raw[f"{code}|{age}|{gender}"] = raw.get(f"{code}|{age}|{gender}", 0.0) + n
                countries[country] = countries.get(country, 0.0) + n
                if age not in cfg.age_buckets or gender not in cfg.genders:
                    unknown = True
                    continue
                joint[f"{age}|{gender}"] = joint.get(f"{age}|{gender}", 0.0) + n
    total_c = sum(countries.values())
    if total_c <= 0:
        issues["reach_breakdown.zero_reach"] += 1
        return None, None, raw
    country_dist = {k: v / total_c for k, v in countries.items()}
    total_j = sum(joint.values())
    if unknown:
        issues["age_gender.unknown_bucket"] += 1
        return None, country_dist, raw
    return {k: v / total_j for k, v in joint.items()}, country_dist, raw


def parse_behaviour(record: Mapping[str, Any], cfg: BehaviourConfig, issues: Issues) -> Behaviour:
    """Delivery (impressions-based) fields first; a DSA reach breakdown fills what they leave out."""
    breakdown = record.get("age_country_gender_reach_breakdown")
    has_demo = record.get("demographic_distribution") not in (None, [])
    has_region = record.get("delivery_by_region") not in (None, [])
    quiet = Issues()  # a DSA record's missing distributions are not issues: its reach breakdown gives them
    joint, raw_ag = parse_demographics(record.get("demographic_distribution"),
                                       cfg, issues if has_demo or breakdown is None else quiet)
    region, raw_region = parse_regions(record.get("delivery_by_region"),
                                       cfg, issues if has_region or breakdown is None else quiet)
    basis = {"age_gender": "impressions", "region": "impressions"}
    kind = "region"
    raw: dict[str, Any] = {"age_gender": raw_ag, "region": raw_region,
                           "estimated_audience_size": record.get("estimated_audience_size")}
    reach = None
    if breakdown is not None:
        b_joint, countries, raw["reach_breakdown"] = parse_reach_breakdown(breakdown, cfg, issues)
        reach = _number(record.get("eu_total_reach"))
        if reach is None and b_joint is not None:
            reach = sum(raw["reach_breakdown"].values())
        if joint is None and not has_demo:
            joint, basis["age_gender"] = b_joint, "reach"
        if region is None and not has_region:
            region, kind, basis["region"] = countries, "country", "reach"
    targeting = {k: record[k] for k in TARGETING_FIELDS if k in record}
    if targeting:
        raw["targeting"] = targeting
    b = Behaviour(age_gender=joint, region=region, region_kind=kind,
                  impressions=parse_range(record.get("impressions"), "impressions", issues),
                  spend=parse_range(record.get("spend"), "spend", issues),
                  currency=str(record["currency"]) if record.get("currency") else None,
                  reach=reach, raw=raw,
                  basis={k: v for k, v in basis.items() if (joint if k == "age_gender" else region) is not None})
    if joint is not None:
        b.age, b.gender = marginals(joint, cfg)
    return b


def best(dist: Dist, among: Iterable[str] | None = None) -> str | None:
    """The bucket with the largest share; None when the top two are tied (within ``TIE_TOLERANCE``)."""
    keys = [k for k in (among if among is not None else dist) if k in dist]
    if not keys:
        return None
    ranked = sorted(keys, key=lambda k: -dist[k])
    if len(ranked) > 1 and dist[ranked[0]] - dist[ranked[1]] <= TIE_TOLERANCE:
        return None
    return ranked[0]


def impressions_per_spend(b: Behaviour, rule: str, issues: Issues) -> float | None:
    if b.impressions is None or b.spend is None:
        return None
    spend = b.spend.point(rule)
    if spend <= 0:
        issues["spend.zero_for_ratio"] += 1
        return None
    ratio = b.impressions.point(rule) / spend
    if not math.isfinite(ratio):  # a spend of 1e-300
        issues["impressions_per_spend.non_finite"] += 1
        return None
    return ratio


def merge(behaviours: list[Behaviour], rule: str, cfg: BehaviourConfig, issues: Issues) -> Behaviour:
    """Impressions-weighted average of the members' distributions; ranges add bound by bound.

    A member without an impressions range weighs its reach (DSA records), else 1 (counted as
    ``merge.unweighted_member``); a member without a distribution does not take part in that distribution's
    average. Members whose regions are of different kinds (states, countries) give no region distribution.
    """
    if len(behaviours) == 1:
        return behaviours[0]
    weights = []
    for b in behaviours:
        if b.impressions is not None:
            weights.append(max(b.impressions.point(rule), 1e-9))
        elif b.reach is not None:
            weights.append(max(b.reach, 1e-9))
        else:
            issues["merge.unweighted_member"] += 1
            weights.append(1.0)
    if not math.isfinite(sum(weights)):  # members of 1e308 impressions: a weighted average needs only ratios
        top = max(weights)
        weights = [w / top for w in weights]
    kinds = {b.region_kind for b in behaviours if b.region is not None}

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
        lower = sum(r.lower for r in ranges)
        if not math.isfinite(lower + (upper or 0.0)):
            issues[f"merge.{attr}_non_finite"] += 1
            return None
        return Range(lower, upper)

    currencies = {b.currency for b in behaviours if b.currency}
    spend = add("spend")
    if len(currencies) > 1:
        issues["merge.mixed_currency"] += 1
        spend = None
    if len(kinds) > 1:
        issues["merge.mixed_region_kind"] += 1
    basis = {}
    for attr in ("age_gender", "region"):
        used = sorted({b.basis[attr] for b in behaviours if attr in b.basis})
        if used:
            basis[attr] = "+".join(used)
    reaches = [b.reach for b in behaviours if b.reach is not None]
    merged = Behaviour(age_gender=avg("age_gender"), region=avg("region") if len(kinds) == 1 else None,
                       region_kind=next(iter(kinds)) if len(kinds) == 1 else "region",
                       impressions=add("impressions"), spend=spend,
                       currency=next(iter(currencies)) if len(currencies) == 1 else None,
                       reach=sum(reaches) if reaches else None, basis=basis,
                       raw={"members": [b.raw for b in behaviours], "weights": weights})
    if merged.age_gender is not None:
        merged.age, merged.gender = marginals(merged.age_gender, cfg)
    return merged
