"""Real-world record shapes, in small cases the tests write: older API field names, EU (DSA) reach
breakdowns, dates with times, ties, raw-share rankings, bare domains, splits and builds without samples."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ava.build_dataset.run import build_dataset
from ava.build_dataset.split import after, parse_when
from ava.build_dataset.synthetic import ad, write_manifest
from ava.manifest import ManifestError, normalise_record, parse_line
from tests.build_dataset.helpers import cfg_for
from tests.helpers import read_split


def samples(out):
    return read_split(out / "train.jsonl") + read_split(out / "val.jsonl")


V5 = {  # API v5.0 shape (minimaxir's scraper era): no id, singular creative fields, old names
    "page_id": "9", "page_name": "Old Page", "ad_creative_body": "Vote early", "ad_creative_link_title": "Vote",
    "ad_creative_link_caption": "example.org", "ad_creative_link_description": "Polls open at 7",
    "funding_entity": "Committee", "potential_reach": {"lower_bound": "1000"},
    "region_distribution": [{"region": "Texas", "percentage": "0.5"}, {"region": "Ohio", "percentage": "0.3"},
                            {"region": "Vermont", "percentage": "0.2"}],
    "ad_snapshot_url": "https://www.facebook.com/ads/archive/render_ad/?id=1234567&access_token=REDACTED",
}


def test_normalise_record_renames_old_fields():
    rec, changes = normalise_record(V5)
    assert rec["id"] == "1234567" and "ad_snapshot_url->id" in changes
    assert rec["ad_creative_bodies"] == ["Vote early"] and rec["ad_creative_link_titles"] == ["Vote"]
    assert rec["ad_creative_link_captions"] == ["example.org"]
    assert rec["ad_creative_link_descriptions"] == ["Polls open at 7"]
    assert rec["bylines"] == "Committee" and rec["estimated_audience_size"] == {"lower_bound": "1000"}
    assert rec["delivery_by_region"] == V5["region_distribution"]
    assert not {"region_distribution", "funding_entity", "potential_reach", "ad_creative_body"} & set(rec)
    assert len(changes) == 8 and "region_distribution" in V5  # the input is left as it was
    # the current name wins; a Mongo _id string is the id, an ObjectId never is
    both, ch = normalise_record({"id": "1", "delivery_by_region": [], "region_distribution": [1]})
    assert both["delivery_by_region"] == [] and ch == ["region_distribution dropped (delivery_by_region present)"]
    mongo, ch = normalise_record({"_id": "679808276335343"})
    assert mongo == {"id": "679808276335343"} and ch == ["_id->id"]
    oid, ch = normalise_record({"_id": {"$oid": "601fde8c"}, "id": "5"})
    assert oid == {"id": "5"} and ch == ["_id dropped"]
    bad = parse_line(json.dumps({"_id": {"$oid": "601fde8c"}}), 4)
    assert isinstance(bad, ManifestError) and "missing or invalid 'id'" in bad.error and bad.line == 4


EU = {"id": "eu1", "page_id": "e", "page_name": "EU Page", "ad_creative_bodies": ["Lees het gratis"],
      "ad_creative_link_titles": ["Gratis"], "ad_delivery_start_time": "2023-10-12", "eu_total_reach": 100,
      "target_ages": ["18", "65"], "target_gender": "Women",
      "target_locations": [{"name": "Netherlands", "type": "countries", "excluded": False}],
      "age_country_gender_reach_breakdown": [
          {"country": "NL", "age_gender_breakdowns": [{"age_range": "25-34", "female": 30, "male": 5},
                                                      {"age_range": "45-54", "female": 10}]},
          {"country": "BE", "age_gender_breakdowns": [{"age_range": "18-24", "female": 20, "unknown": 2}]},
          {"country": "LU", "age_gender_breakdowns": [{"age_range": "25-34", "female": 3}]},
          {"country": "DE", "age_gender_breakdowns": [{"age_range": "65+", "male": 30}]}]}


def test_old_and_eu_records_give_samples(tmp_path):
    write_manifest(tmp_path / "ads.jsonl", [V5, EU, ad("new", "p2")])
    summary = build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", extra=["split.val_fraction=0"]))
    assert summary["manifest_errors"] == [] and summary["counts"]["ads_read"] == 3
    assert summary["counts"]["normalised.ad_snapshot_url->id"] == 1
    assert summary["counts"]["normalised.region_distribution->delivery_by_region"] == 1
    rows = samples(tmp_path / "out")
    by = {(s["meta"]["source"]["ad_ids"][0], s["task"]): s for s in rows if len(s["meta"]["source"]["ad_ids"]) == 1}
    old = by[("1234567", "TAP-R")]  # the v5.0 record: its singular fields and region_distribution are read
    assert "Title: Vote\n" in old["messages"][1]["content"] and "Content: Vote early" in old["messages"][1]["content"]
    assert old["target"]["regions"] == ["Vermont", "Ohio", "Texas"]  # per head: 0.2/643k > 0.3/11.8M > 0.5/29.1M
    # the EU record, by hand from its reach counts (100 in all)
    flat = [(c["country"], r["age_range"], g, n) for c in EU["age_country_gender_reach_breakdown"]
            for r in c["age_gender_breakdowns"] for g, n in r.items() if g != "age_range"]
    df = pd.DataFrame(flat, columns=["country", "age", "gender", "n"])
    age = df.groupby("age").n.sum() / df.n.sum()
    tap_a = by[("eu1", "TAP-A")]
    assert tap_a["target"]["age"] == age.idxmax() == "25-34"
    assert tap_a["target"]["distribution"]["25-34"] == pytest.approx(age["25-34"])  # 38 / 100
    assert tap_a["meta"]["behaviour_basis"] == [{"age_gender": "reach", "region": "reach"}]
    assert by[("eu1", "TAP-G")]["target"]["gender"] == "female"
    pop = pd.read_csv(Path(__file__).resolve().parents[2] / "ava" / "data" / "eu_eea_population_2023.csv",
                      comment="#")
    shares = df.groupby("country").n.sum() / df.n.sum()
    per_head = (shares / pop.set_index("code").population[shares.index]).sort_values(ascending=False)
    names = dict(zip(pop.code, pop.region, strict=True))
    tap_r = by[("eu1", "TAP-R")]
    assert tap_r["target"]["regions"] == [names[c] for c in per_head.index[:3]]  # LU (3 of 670k) first
    assert tap_r["target"]["region_kind"] == "country" and " 3 countries " in tap_r["messages"][1]["content"]
    assert tap_r["meta"]["raw_shares"][0]["targeting"]["target_gender"] == "Women"  # kept apart, in the metadata
    assert ("eu1", "TAP-I") not in by and ("eu1", "TAP-B") not in by  # no impressions, no spend: nothing invented


def test_ties_and_raw_share_ranking(tmp_path):
    tied = ad("tie", joint={("25-34", "female"): 0.4, ("25-34", "male"): 0.4, ("65+", "unknown"): 0.2})
    fr = ad("fr", "p2", regions={"Île-de-France": 0.5, "Bretagne": 0.3, "Normandie": 0.15, "Unknown": 0.05})
    write_manifest(tmp_path / "ads.jsonl", [tied, fr])
    per_head = build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", out="head", extra=["split.val_fraction=0"]))
    assert per_head["behaviour_issues"]["gender.tied_top"] == 1
    assert per_head["skipped_samples"]["TAP-G: top two shares tied"] == 1
    tasks = {(s["meta"]["source"]["ad_ids"][0], s["task"]) for s in samples(tmp_path / "head")}
    assert ("tie", "TAP-G") not in tasks and ("tie", "TAP-A") in tasks
    assert ("fr", "TAP-R") not in tasks  # no French region is in the US table: coverage 0
    build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", out="share",
                          extra=["split.val_fraction=0", "population.per_head=false"]))
    tap_r = next(s for s in samples(tmp_path / "share") if s["task"] == "TAP-R"
                 and s["meta"]["source"]["ad_ids"] == ["fr"])
    assert tap_r["target"]["regions"] == ["Île-de-France", "Bretagne", "Normandie"]  # every named region


def test_dates_are_parsed():
    assert parse_when("2019-10-30T22:24:19+0000").isoformat() == "2019-10-30T22:24:19+00:00"
    day = parse_when("2019-10-30")
    assert after("2019-10-30T22:24:19+0000", day) is False  # the same day, not after (string order said after)
    assert after("2019-10-31", day) is True and after("2019-10-29T23:59:59+0000", day) is False
    assert after(None, day) is None and after("soon", day) is None
    noon = parse_when("2019-10-30T12:00:00")
    assert after("2019-10-30T22:24:19+0000", noon) is True and after("2019-10-30", noon) is False


def test_temporal_holdout_by_date(tmp_path):
    ads = [ad("same-day", "p1", start="2024-02-15T22:24:19+0000"), ad("later", "p2", start="2024-02-16"),
           ad("early", "p3", start="2024-01-01")]
    write_manifest(tmp_path / "ads.jsonl", ads)
    summary = build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl",
                                    extra=["split.val_fraction=0", "split.val_after=2024-02-15"]))
    assert {s["meta"]["source"]["ad_ids"][0] for s in read_split(tmp_path / "out" / "val.jsonl")} == {"later"}
    assert summary["split_units"]["val_by_date"] == 1
    with pytest.raises(ValueError, match="val_after"):
        build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", out="bad", extra=["split.val_after=soon"]))


def bare(ad_id, page):
    """An ad with copy but no behaviour at all (what many real records look like)."""
    return {"id": ad_id, "page_id": page, "page_name": page, "ad_creative_bodies": [f"Copy {ad_id}"]}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_validation_is_drawn_among_units_with_samples(tmp_path, seed):
    ads = [ad("a", "p1"), ad("b", "p2")] + [bare(f"x{i}", f"q{i}") for i in range(30)]
    write_manifest(tmp_path / "ads.jsonl", ads)
    summary = build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", extra=[f"seed={seed}"]))
    assert summary["split_units"]["without_samples"] == 30
    assert summary["split_units"]["train"] + summary["split_units"]["val"] == 2
    assert summary["samples"]["val"] > 0 and summary["samples"]["train"] > 0


def test_a_build_without_samples_fails_with_reasons(tmp_path):
    write_manifest(tmp_path / "ads.jsonl", [bare("x1", "q1"), bare("x2", "q2"), "{oops"])
    proc = subprocess.run([sys.executable, "-m", "ava.build_dataset", f"manifest={tmp_path / 'ads.jsonl'}",
                           "verbalized=null", f"output_dir={tmp_path / 'out'}",
                           "dataset_tasks.generators.ts.enabled=false"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "no samples written (2 ads read, 2 items)" in proc.stderr
    assert "behaviour issue age_gender.missing: 2" in proc.stderr and "malformed manifest lines: 1" in proc.stderr
    summary = json.loads((tmp_path / "out" / "build_summary.json").read_text())  # still written
    assert summary["samples"] == {"train": 0, "val": 0}
