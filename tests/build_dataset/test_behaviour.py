"""Behaviour distributions, ranges, rankings and merging against hand-computed values; bad inputs."""

from collections import Counter

import pytest

from ava.build_dataset.behaviour import (
    Issues,
    best,
    impressions_per_spend,
    merge,
    parse_behaviour,
)
from ava.build_dataset.regions import RegionRanker, rank_regions
from ava.build_dataset.synthetic import ad
from ava.populations import COUNTRY_TABLE, load_codes, load_population
from ava.sample import Range
from tests.build_dataset.helpers import BEHAVIOUR_CFG as CFG


def test_distributions_hand_computed():
    issues = Issues()
    rec = ad("1", joint={("25-34", "female"): 0.3, ("25-34", "male"): 0.2, ("55-64", "female"): 0.1,
                         ("55-64", "male"): 0.35, ("65+", "unknown"): 0.05},
             regions={"California": 0.6, "Washington, District of Columbia": 0.4},
             impressions=(1000, 1999), spend=(100, 199))
    b = parse_behaviour(rec, CFG, issues)
    assert not issues
    assert b.age == pytest.approx({"13-17": 0, "18-24": 0, "25-34": 0.5, "35-44": 0, "45-54": 0,
                                   "55-64": 0.45, "65+": 0.05})
    assert b.gender == pytest.approx({"male": 0.55, "female": 0.4, "unknown": 0.05})
    assert b.age_gender["55-64|male"] == pytest.approx(0.35)
    assert best(b.age) == "25-34"
    assert best(b.gender, CFG.best_gender_from) == "male"
    assert b.region == pytest.approx({"California": 0.6, "District of Columbia": 0.4})
    assert b.impressions.point("midpoint") == 1499.5 and b.spend.point("midpoint") == 149.5
    assert impressions_per_spend(b, "midpoint", issues) == pytest.approx(1499.5 / 149.5)
    assert b.spend.text("USD") == "100-199 USD"
    assert b.raw["region"]["District of Columbia"] == 0.4


def test_near_one_sum_is_renormalised():
    b = parse_behaviour(ad("1", joint={("25-34", "female"): 0.495, ("25-34", "male"): 0.495}), CFG, Issues())
    assert b.gender["female"] == pytest.approx(0.5)


def test_best_gender_never_unknown_and_ties_have_no_best():
    b = parse_behaviour(ad("1", joint={("25-34", "unknown"): 0.6, ("25-34", "male"): 0.3,
                                       ("25-34", "female"): 0.1}), CFG, Issues())
    assert best(b.gender, CFG.best_gender_from) == "male"  # unknown (0.6) is never the answer
    tied = parse_behaviour(ad("1", joint={("25-34", "unknown"): 0.6, ("25-34", "male"): 0.2,
                                          ("35-44", "female"): 0.2}), CFG, Issues())
    assert best(tied.gender, CFG.best_gender_from) is None  # 0.2 = 0.2: no best gender
    assert best(tied.age) == "25-34"  # 0.8 vs 0.2
    assert best({"a": 0.1 + 0.2, "b": 0.3}) is None  # float noise is still a tie
    assert best({"a": 0.300001, "b": 0.3}) == "a"  # one step of the Ad Library's 6-decimal rounding is not


def test_reach_breakdown_gives_distributions_by_reach():
    """A DSA record (no impressions): age×gender and countries from reach counts, by hand."""
    rec = {"id": "eu", "eu_total_reach": 40, "target_gender": "All", "target_ages": ["18", "65"],
           "age_country_gender_reach_breakdown": [
               {"country": "NL", "age_gender_breakdowns": [{"age_range": "25-34", "female": 10, "male": 6},
                                                           {"age_range": "65+", "unknown": 4}]},
               {"country": "BE", "age_gender_breakdowns": [{"age_range": "25-34", "male": 20}]}]}
    cfg = CFG.__class__(**{**CFG.__dict__, "country_names": load_codes(None)})
    issues = Issues()
    b = parse_behaviour(rec, cfg, issues)
    assert b.age_gender == pytest.approx({"25-34|female": 0.25, "25-34|male": 0.65, "65+|unknown": 0.1})
    assert b.gender == pytest.approx({"male": 0.65, "female": 0.25, "unknown": 0.1})
    assert b.region == pytest.approx({"Netherlands": 0.5, "Belgium": 0.5}) and b.region_kind == "country"
    assert b.basis == {"age_gender": "reach", "region": "reach"} and b.reach == 40
    assert b.raw["targeting"] == {"target_gender": "All", "target_ages": ["18", "65"]}  # kept, never used
    assert b.impressions is None and issues["impressions.missing"] == 1
    assert "age_gender.missing" not in issues and "region.missing" not in issues
    countries = load_population(None, COUNTRY_TABLE)
    ranker = RegionRanker({"region": load_population(None), "country": countries}, True, 0.9,
                          frozenset({"Unknown"}))
    ranked, by_share, why = ranker.rank(b.region, b.region_kind, issues, Counter())
    # equal shares: the smaller population wins per head (BE 11.7M < NL 17.8M); by share, ties go by name
    assert ranked == ["Belgium", "Netherlands"] and by_share == ["Belgium", "Netherlands"] and why is None


def test_per_head_ranking_differs_from_raw_share_ranking():
    pop = load_population(None)
    shares = {"California": 0.5, "Texas": 0.3, "Vermont": 0.15, "Wyoming": 0.05}
    per_head, missing = rank_regions(shares, pop)
    by_share, _ = rank_regions(shares, pop, per_head=False)
    # share / population, by hand: VT 0.15/643077 = 2.33e-7, WY 0.05/576851 = 8.67e-8,
    # CA 0.5/39538223 = 1.26e-8, TX 0.3/29145505 = 1.03e-8
    assert per_head == ["Vermont", "Wyoming", "California", "Texas"]
    assert by_share == ["California", "Texas", "Vermont", "Wyoming"]
    assert missing == []


def test_region_without_population_is_reported_not_ranked():
    ranked, missing = rank_regions({"California": 0.9, "Unknown": 0.1}, load_population(None))
    assert ranked == ["California"] and missing == ["Unknown"]


def test_ranking_needs_the_table_to_cover_the_delivery():
    """The real ad that went 99.3% to Puerto Rico's municipalities: no state ranking from its 0.2%."""
    pop = load_population(None)
    shares = {"San Juan": 0.6, "Ponce": 0.393, "Rhode Island": 0.001, "Florida": 0.001, "Unknown": 0.005}
    ranker = RegionRanker({"region": pop}, per_head=True, min_coverage=0.9, unnamed=frozenset({"Unknown"}))
    issues, unknown = Issues(), Counter()
    ranked, by_share, why = ranker.rank(shares, "region", issues, unknown)
    assert ranked is None and "covers less than 0.9" in why and issues["region.low_coverage"] == 1
    assert unknown == Counter({"San Juan": 1, "Ponce": 1, "Unknown": 1})
    # by share every named region is ranked, in or out of the table; "Unknown" never is
    assert by_share == ["San Juan", "Ponce", "Florida", "Rhode Island"]
    raw = RegionRanker({"region": pop}, per_head=False, min_coverage=0.9, unnamed=frozenset({"Unknown"}))
    assert raw.rank(shares, "region", Issues(), Counter())[0] == by_share
    covered = {"Texas": 0.95, "Guam": 0.01, "Unknown": 0.04}  # 0.96 covered: ranked, Guam included
    assert ranker.rank(covered, "region", Issues(), Counter())[0] == ["Guam", "Texas"]


def test_merge_is_impressions_weighted():
    issues = Issues()
    a = parse_behaviour(ad("a", joint={("25-34", "female"): 1.0}, regions={"Texas": 1.0},
                           impressions=(1000, 2000), spend=(100, 200)), CFG, issues)
    b = parse_behaviour(ad("b", joint={("65+", "male"): 1.0}, regions={"Ohio": 0.5, "Texas": 0.5},
                           impressions=(3000, 4000), spend=(100, 200)), CFG, issues)
    m = merge([a, b], "midpoint", CFG, issues)
    wa, wb = 1500 / 5000, 3500 / 5000  # midpoints 1500 and 3500
    assert m.age["25-34"] == pytest.approx(wa) and m.age["65+"] == pytest.approx(wb)
    assert m.gender == pytest.approx({"male": wb, "female": wa, "unknown": 0.0})
    assert m.region == pytest.approx({"Texas": wa + 0.5 * wb, "Ohio": 0.5 * wb})
    assert m.impressions == Range(4000, 6000) and m.spend == Range(200, 400)
    assert not issues


@pytest.mark.parametrize(
    "fields, kind",
    [
        ({"demographic_distribution": [{"age": "25-34", "gender": "female", "percentage": "0.5"}]},
         "age_gender.sum_far_from_1"),
        ({"delivery_by_region": [{"region": "Texas", "percentage": "0.7"},
                                 {"region": "Ohio", "percentage": "0.7"}]},
         "region.sum_far_from_1"),
        ({"demographic_distribution": [{"age": "25-34", "gender": "female", "percentage": "1.2"},
                                       {"age": "25-34", "gender": "male", "percentage": "-0.2"}]},
         "age_gender.negative_value"),
        ({"delivery_by_region": [{"region": "Texas", "percentage": "1.1"},
                                 {"region": "Ohio", "percentage": "-0.1"}]},
         "region.negative_value"),
        ({"demographic_distribution": [{"age": "25-34", "gender": "female", "percentage": "0.5"},
                                       {"age": "Unknown", "gender": "male", "percentage": "0.5"}]},
         "age_gender.unknown_bucket"),
        ({"demographic_distribution": [{"age": "25-34", "gender": "robot", "percentage": "1.0"}]},
         "age_gender.unknown_bucket"),
        ({"demographic_distribution": [{"age": "25-34", "gender": "female", "percentage": "lots"}]},
         "age_gender.malformed"),
        ({"demographic_distribution": [{"age": "25-34", "gender": "female", "percentage": "NaN"}]},
         "age_gender.malformed"),
        ({"demographic_distribution": None}, "age_gender.missing"),
        ({"delivery_by_region": "Texas"}, "region.malformed"),
        ({"impressions": {"lower_bound": "5000", "upper_bound": "1000"}}, "impressions.lower_above_upper"),
        ({"impressions": {"lower_bound": "-5", "upper_bound": "1000"}}, "impressions.negative_value"),
        ({"spend": {"lower_bound": "a lot"}}, "spend.malformed"),
        ({"spend": None}, "spend.missing"),
    ],
)
def test_bad_behaviour_is_counted_and_left_out(fields, kind):
    issues = Issues()
    b = parse_behaviour({**ad("x"), **fields}, CFG, issues)
    assert issues[kind] == 1, dict(issues)
    attr = kind.split(".")[0]
    assert getattr(b, attr) is None
    if attr == "age_gender":
        assert b.age is None and b.gender is None


def test_open_range_uses_lower_bound_and_is_counted():
    issues = Issues()
    b = parse_behaviour(ad("x", impressions=(1_000_000, None)) | {"impressions": {"lower_bound": "1000000"}},
                        CFG, issues)
    assert b.impressions == Range(1_000_000, None) and b.impressions.point("midpoint") == 1_000_000
    assert b.impressions.text() == "1000000+"
    assert issues["impressions.open_range"] == 1


def test_zero_spend_ratio_is_counted():
    issues = Issues()
    b = parse_behaviour(ad("x", spend=(0, 0)), CFG, issues)
    assert impressions_per_spend(b, "midpoint", issues) is None
    assert issues["spend.zero_for_ratio"] == 1
