"""benchmark=behaviour: every task's answer parser on the training wording, variants, wrong and unparseable
answers."""

from __future__ import annotations

import pytest

from ava.evaluate.behaviour import parse
from ava.populations import load_population
from tests.evaluate import behaviour_samples as bs

NAMES = list(load_population(None))
REGIONS = (parse.region_pattern(NAMES), {n.lower(): n for n in NAMES})


def p(sample: dict, text: str | None = None):
    return parse.parse(sample["task"], sample["messages"][-1]["content"] if text is None else text,
                       sample["target"], REGIONS)


def test_training_answers_parse_back_to_their_targets():
    """What python -m ava.train teaches (the assistant replies) parses into the sample's own target."""
    for s in bs.val_samples():
        got = p(s)
        t = s["target"]
        if s["task"] in ("TAP-G", "TAP-A"):
            key = {"TAP-G": "gender", "TAP-A": "age"}[s["task"]]
            assert got == {key: t[key]}, s["id"]
        elif s["task"] == "TAP-R":
            assert got == {"regions": t["regions"]}
        elif s["task"] in ("TAP-B", "TAP-I"):
            key = {"TAP-B": "spend", "TAP-I": "impressions"}[s["task"]]
            assert got == {key: {"lower": t[key]["lower"], "upper": t[key]["upper"]}}, s["id"]
        elif s["task"] == "AS":
            assert got == {"choice": t["choice"]}
        else:
            assert got == {"text": s["messages"][-1]["content"]}


@pytest.mark.parametrize("text, want", [
    ("Women.", "female"), ("mostly men, some women", "male"), ("FEMALE audience", "female"),
    ("Best target audience for this ad is Male.", "male"),  # 'female' must not match inside 'Female'/'male'
    ("The unknown group", "unknown"),
])
def test_gender_first_named_wins(text, want):
    assert parse.parse_gender(text)["gender"] == want


def test_gender_and_age_distributions_when_given():
    got = parse.parse_gender("Women 60%, men 40%.")
    assert got == {"gender": "female", "distribution": {"female": 60.0, "male": 40.0}}
    assert "distribution" not in parse.parse_gender("Women 60%.")  # one share is not a distribution
    got = parse.parse_age("18-24: 30%, 25 to 34: 50%, 65+ 20%")
    assert got == {"age": "18-24", "distribution": {"18-24": 30.0, "25-34": 50.0, "65+": 20.0}}


@pytest.mark.parametrize("text, want", [
    ("the audience aged 25-34", "25-34"), ("25 to 34 year olds", "25-34"), ("ages 25 – 34", "25-34"),
    ("people 65 and over", "65+"), ("65+", "65+"), ("aged 30-40", "30-40"),  # wrong bucket, still parsed
    ("in 2024-01 it ran", None), ("young people", None), ("1.5-2 hours", None),
])
def test_age_forms(text, want):
    assert parse.normalise_age(text) == want


def test_regions_in_order_longest_name_first_and_deduplicated():
    got = parse.parse_regions("West Virginia, Virginia and west virginia again, then Kansas.",
                              *REGIONS)
    assert got == {"regions": ["West Virginia", "Virginia", "Kansas"]}
    assert parse.parse_regions("Arkansas", *REGIONS) == {"regions": ["Arkansas"]}
    assert parse.parse_regions("Somewhere in Canada", *REGIONS) is None


@pytest.mark.parametrize("text, want", [
    ("The budget for this ad is 100-199 USD.", (100.0, 199.0)),
    ("$1,000 to $4,999", (1000.0, 4999.0)), ("between 10k and 50k", (10000.0, 50000.0)),
    ("1M+ impressions", (1e6, None)), ("about 250 dollars", (250.0, 250.0)), ("1.5K-2K", (1500.0, 2000.0)),
    ("a lot of money", None), ("run 2024-03-01 to 2024-03-15 for 500-999", (500.0, 999.0)),  # dates skipped
    ("from 900 to 100", None),  # a range must not fall
])
def test_range_forms(text, want):
    got = parse.parse_range(text)
    assert (None if got is None else (got["lower"], got["upper"])) == want


@pytest.mark.parametrize("text, want", [
    ("The audience that engaged most with this ad is option 3: ...", 3), ("2", 2), ("2. Female audience", 2),
    ("Option #4", 4), ("option 7", 7),  # out of range: parsed, and scored wrong
    ("I would pick Male audience aged 65+ in Florida, Georgia, Alabama", 3),  # quotes the profile
    ("None of them", None), ("1 or 2", None),  # two numbers, no 'option': ambiguous
])
def test_audience_choice_forms(text, want):
    options = bs.audience(0, 1)["target"]["options"]
    got = parse.parse_choice(text, options)
    assert (None if got is None else got["choice"]) == want


def test_unparseable_and_generative_forms():
    s = {t.task if hasattr(t, "task") else t["task"]: t for t in bs.val_samples()}
    for task in ("TAP-G", "TAP-A", "TAP-R", "TAP-B", "TAP-I", "AS"):
        assert p(s[task], "I cannot answer that.") is None, task
    assert p(s["TAG-G"], "  ") is None and p(s["TS-B"], " New ad ") == {"text": "New ad"}
    with pytest.raises(ValueError, match="no answer parser for task 'XYZ'"):
        parse.parse("XYZ", "text", {}, REGIONS)
