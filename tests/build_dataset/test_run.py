"""build_dataset(cfg) end to end on generated manifests: targets, merging, bad input, split, determinism."""

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pyarrow.json as pa_json
import pytest

from ava.build_dataset.run import build_dataset
from ava.build_dataset.synthetic import ad, random_ads, write_dedup, write_manifest, write_verbalized
from ava.sample_files import split_files
from tests.build_dataset.helpers import cfg_for, leftovers
from tests.helpers import read_split

POP_CSV = Path(__file__).resolve().parents[2] / "ava" / "data" / "us_population_2020.csv"


def reference_targets(record, pop):
    """Best age, best gender and per-head top-3 from a raw record, computed independently with pandas."""
    demo = pd.DataFrame(record["demographic_distribution"]).astype({"percentage": float})
    age = demo.groupby("age")["percentage"].sum().sort_index()
    gender = demo[demo.gender.isin(["male", "female"])].groupby("gender")["percentage"].sum().sort_index()
    reg = pd.DataFrame(record["delivery_by_region"]).astype({"percentage": float}).merge(pop, on="region")
    reg["per_head"] = reg.percentage / reg.population
    top = reg.sort_values(["per_head", "region"], ascending=[False, True]).region.head(3).tolist()
    return age.idxmax(), gender.idxmax(), top


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    ads = random_ads(60, seed=3)
    write_manifest(d / "ads.jsonl", ads)
    write_verbalized(d / "verb", [{"ad_id": a["id"], "media_index": 0, "verbalization": f"Photo of {a['id']}"}
                                  for a in ads])
    return d, ads


def test_targets_split_and_rerun(synthetic, tmp_path):
    d, ads = synthetic
    summary = build_dataset(cfg_for(tmp_path, d / "ads.jsonl", d / "verb", out="a"))
    build_dataset(cfg_for(tmp_path, d / "ads.jsonl", d / "verb", out="b"))
    for split in ("train", "val"):  # reruns are byte-identical, shard for shard
        a, b = ({p.name: p.read_bytes() for p in split_files(tmp_path / run / f"{split}.jsonl")} for run in "ab")
        assert a and a == b
    train, val = read_split(tmp_path / "a" / "train.jsonl"), read_split(tmp_path / "a" / "val.jsonl")
    assert train and val
    assert summary["samples"] == {"train": len(train), "val": len(val)}
    pop = pd.read_csv(POP_CSV, comment="#")
    by_id = {a["id"]: a for a in ads}
    refs = {a["id"]: reference_targets(a, pop) for a in ads}
    checked = defaultdict(int)
    for s in train + val:
        assert [m["role"] for m in s["messages"]] == ["system", "user", "assistant"]
        assert "http" not in json.dumps(s["messages"])  # URLs masked
        ad_id = s["meta"]["source"]["ad_ids"][0]
        age, gender, top = refs[ad_id]
        if s["task"] == "TAP-A":
            assert s["target"]["age"] == age
            answer = f"Best target age group for this ad is the audience aged {age}."
            assert s["messages"][2]["content"] == answer
        elif s["task"] == "TAP-G":
            assert s["target"]["gender"] == gender
            assert s["messages"][2]["content"] == f"Best target audience for this ad is {gender.title()}."
        elif s["task"] == "TAP-R":
            assert s["target"]["regions"] == top
            assert s["messages"][2]["content"].endswith(f"are {', '.join(top)}.")
            assert s["meta"]["raw_shares"][0]["region"]["California"] > 0
        elif s["task"] == "TAP-B":
            assert "Spend:" not in s["messages"][1]["content"]
            assert s["target"]["range"] == f"{by_id[ad_id]['spend']['lower_bound']}-299 USD"
        elif s["task"] == "TAP-I":
            assert "Spend:" in s["messages"][1]["content"]  # the paper's TAP-I sees the budget
        elif s["task"] == "AS":
            options = s["target"]["options"]
            assert len(options) == len(set(options)) == 4
            real = f"{gender.title()} audience aged {age} in {', '.join(top)}"
            assert options[s["target"]["choice"] - 1] == real
        elif s["task"].startswith("TC"):
            src, dst = s["meta"]["source"]["ad_ids"]
            assert by_id[src]["page_id"] == by_id[dst]["page_id"]  # same advertiser
            if s["task"] == "TC-A":
                assert s["target"]["target_group"] == refs[dst][0] != refs[src][0]
            if s["task"] == "TC-R":
                want = refs[dst][2][0]
                assert s["target"]["target_group"] == want and want not in refs[src][2]  # rank gap ≥ 3
            assert s["messages"][2]["content"] == f"Title: {by_id[dst]['ad_creative_link_titles'][0]}\n" + \
                f"Content: {by_id[dst]['ad_creative_bodies'][0].split(' https')[0]} [URL]"
        elif s["task"] == "TAG-A":
            assert s["target"]["condition"]["age"] == age and f"aged {age}" in s["messages"][1]["content"]
            assert s["target"]["title"] == by_id[ad_id]["ad_creative_link_titles"][0]
        checked[s["task"]] += 1
    assert {"TAP-A", "TAP-G", "TAP-R", "TAP-B", "TAP-I", "TAG-A", "TAG-R", "AS", "TC-A", "TC-G"} <= set(
        checked)
    # no advertiser in both splits, and pair samples never cross the split
    pages = {sp: {p for s in rows for p in s["meta"]["source"]["page_ids"]} for sp, rows in
             (("train", train), ("val", val))}
    assert not pages["train"] & pages["val"]
    assert (tmp_path / "a" / "build_summary.png").is_file()
    # loadable as Arrow tables (what datasets.load_dataset("json") does), across small parse blocks; pyarrow
    # decompresses a .zst shard by its name
    small_blocks = pa_json.ReadOptions(block_size=1 << 14)
    shards = split_files(tmp_path / "a" / "train.jsonl")
    assert shards[0].name == "train-00000.jsonl.zst"
    assert sum(pa_json.read_json(p, read_options=small_blocks).num_rows for p in shards) == len(train)
    assert len({s["id"] for s in train + val}) == len(train) + len(val)


def test_dedup_cluster_is_one_item_with_weighted_behaviour(tmp_path):
    ads = [
        ad("a1", joint={("25-34", "female"): 1.0}, impressions=(1000, 2000), body="Copy 1", media=["m1.jpg"]),
        ad("a2", joint={("65+", "male"): 1.0}, impressions=(3000, 4000), body="Copy 2", media=["m2.jpg"]),
        ad("a3", joint={("18-24", "male"): 1.0}, body="Copy three", media=["m3.jpg", "m4.jpg"]),
        ad("a4", joint={("18-24", "female"): 1.0}, body="Copy four", media=["m5.jpg"]),
    ]
    write_manifest(tmp_path / "ads.jsonl", ads)
    # a1 + a2 share cluster 7 (a2 representative); a3's two media join clusters 8 and 9, a4 sits in 9
    write_dedup(tmp_path / "dedup", [("a1", 7, False), ("a2", 7, True), ("a3", 8, True), ("a3", 9, False),
                                     ("a4", 9, True)])
    summary = build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", dedup=tmp_path / "dedup",
                                    extra=["split.by=cluster", "split.val_fraction=0"]))
    assert summary["items"] == 2 and summary["counts"]["clusters_merged"] == 2
    rows = read_split(tmp_path / "out" / "train.jsonl")
    tap_a = {s["meta"]["source"]["items"][0]: s for s in rows if s["task"] == "TAP-A"}
    assert set(tap_a) == {"cluster:7", "cluster:8"}
    merged = tap_a["cluster:7"]
    assert merged["meta"]["source"]["ad_ids"] == ["a1", "a2"]
    assert "Copy 2" in merged["messages"][1]["content"] and "Copy 1" not in merged["messages"][1]["content"]
    assert merged["target"]["age"] == "65+"
    assert merged["target"]["distribution"]["65+"] == pytest.approx(3500 / 5000)
    assert merged["target"]["distribution"]["25-34"] == pytest.approx(1500 / 5000)
    tap_i = next(s for s in rows if s["task"] == "TAP-I" and s["meta"]["source"]["items"] == ["cluster:7"])
    assert tap_i["target"]["impressions"] == {"lower": 4000, "upper": 6000}


def test_split_never_separates_clusters_or_advertisers(tmp_path):
    ads = random_ads(40, seed=5, pages=20)
    write_manifest(tmp_path / "ads.jsonl", ads)
    # clusters of 2 ads from different advertisers: with by=page_id both advertisers go together
    write_dedup(tmp_path / "dedup", [(a["id"], i // 2, i % 2 == 0) for i, a in enumerate(ads)])
    for by in ("cluster", "page_id"):
        build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", dedup=tmp_path / "dedup", out=by,
                              extra=[f"split.by={by}", "split.val_fraction=0.4", "seed=1"]))
        split_of = defaultdict(set)
        for sp in ("train", "val"):
            for s in read_split(tmp_path / by / f"{sp}.jsonl"):
                for c in s["meta"]["source"]["cluster_ids"]:
                    split_of[("cluster", c)].add(sp)
                if by == "page_id":
                    for p in s["meta"]["source"]["page_ids"]:
                        split_of[("page", p)].add(sp)
        assert split_of and all(len(v) == 1 for v in split_of.values()), by
        assert {sp for v in split_of.values() for sp in v} == {"train", "val"}


def test_temporal_holdout(tmp_path):
    ads = [ad(f"a{i}", f"p{i}", start=f"2024-0{i + 1}-01") for i in range(4)]
    write_manifest(tmp_path / "ads.jsonl", ads)
    summary = build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl",
                                    extra=["split.val_fraction=0", "split.val_after=2024-02-15"]))
    assert summary["items_per_split"] == {"train": 2, "val": 2}
    val_ads = {s["meta"]["source"]["ad_ids"][0] for s in read_split(tmp_path / "out" / "val.jsonl")}
    assert val_ads == {"a2", "a3"}


def test_verbalized_media_combined_in_order_and_errors_counted(tmp_path):
    ads = [ad("v1", media=["x.jpg", "y.jpg", "z.jpg"], body="Body one"),
           ad("v2", "p2", media=["w.jpg"], body="Body two")]
    write_manifest(tmp_path / "ads.jsonl", ads)
    write_verbalized(tmp_path / "verb", [
        {"ad_id": "v1", "media_index": 1, "verbalization": "SECOND"},
        {"ad_id": "v1", "media_index": 0, "verbalization": "FIRST"},
        {"ad_id": "v1", "media_index": 2, "status": "error", "verbalization": ""},
        {"ad_id": "v2", "media_index": 0, "status": "error", "verbalization": ""},
        {"ad_id": "gone", "media_index": 0, "verbalization": "not in the manifest"},
    ])
    summary = build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", tmp_path / "verb",
                                    extra=["split.val_fraction=0"]))
    assert summary["counts"]["media_error"] == 2
    assert summary["counts"]["ads_with_only_failed_media"] == 1
    assert summary["counts"]["verbalized_ads_not_in_manifest"] == 1
    rows = {s["meta"]["source"]["ad_ids"][0]: s for s in read_split(tmp_path / "out" / "train.jsonl")
            if s["task"] == "TAP-A"}
    user = rows["v1"]["messages"][1]["content"]
    assert user.index("FIRST") < user.index("SECOND")
    v2 = rows["v2"]["messages"][1]["content"]
    assert "Creative:" not in v2 and "Body two" in v2


def test_bad_input_is_reported(tmp_path):
    lines = [
        ad("ok1"),
        "{not json",
        "[1, 2]",
        ad("sum", joint={("25-34", "female"): 0.5}),
        ad("neg", regions={"Texas": 1.2, "Ohio": -0.2}),
        ad("unk", joint={("Unknown", "female"): 0.5, ("25-34", "male"): 0.5}),
        ad("pr", regions={"Texas": 0.5, "Puerto Rico": 0.3, "Unknown": 0.2}),
        ad("ok1"),
    ]
    write_manifest(tmp_path / "ads.jsonl", lines)
    summary = build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl"))
    errs = {e["line"]: e["error"] for e in summary["manifest_errors"]}
    assert "malformed JSON" in errs[2] and "expected a JSON object" in errs[3]
    assert "duplicate ad id" in errs[8]
    assert summary["counts"]["manifest_errors"] == 2 and summary["counts"]["duplicate_ad_ids"] == 1
    issues = summary["behaviour_issues"]
    assert issues["age_gender.sum_far_from_1"] == 1
    assert issues["region.negative_value"] == 1
    assert issues["age_gender.unknown_bucket"] == 1
    assert issues["region.without_population"] == 1
    assert summary["regions_without_population"] == {"Unknown": 1}  # Puerto Rico is in the 2020 table
    assert issues["region.low_coverage"] == 1  # "pr": the table's regions hold 0.8 < min_coverage 0.9
    rows = read_split(tmp_path / "out" / "train.jsonl") + read_split(tmp_path / "out" / "val.jsonl")
    tasks_of = defaultdict(set)
    for s in rows:
        tasks_of[s["meta"]["source"]["ad_ids"][0]].add(s["task"])
    assert "TAP-A" not in tasks_of["sum"] and "TAP-I" in tasks_of["sum"]  # bad attribute left out, rest kept
    assert "TAP-R" not in tasks_of["neg"]
    assert "TAP-R" not in tasks_of["pr"]
    assert summary["skipped_samples"]["TAP-R: population table covers less than 0.9 of delivery"] == 1
    assert summary["skipped_samples"]["TAP-A: behaviour missing"] == 2  # "sum" and "unk"


def test_missing_inputs_fail_clearly(tmp_path):
    write_manifest(tmp_path / "ads.jsonl", [ad("a")])
    with pytest.raises(FileNotFoundError, match="python -m ava.verbalize"):
        build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="ava.dedup"):
        build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", dedup=tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        build_dataset(cfg_for(tmp_path, tmp_path / "missing.jsonl"))


def test_command_line(tmp_path):
    ads = random_ads(12, seed=9, pages=3)
    write_manifest(tmp_path / "ads.jsonl", ads)
    write_verbalized(tmp_path / "verb", [{"ad_id": a["id"], "media_index": 0, "verbalization": "A red shoe"}
                                         for a in ads])
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "ava.build_dataset", f"manifest={tmp_path / 'ads.jsonl'}",
         f"verbalized={tmp_path / 'verb'}", f"output_dir={out}", "dataset_tasks.generators.ts.enabled=false",
         "parquet=true"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "build_summary.json").read_text())
    n = sum(summary["samples"].values())
    assert n == len(read_split(out / "train.jsonl")) + len(read_split(out / "val.jsonl")) > 0
    assert summary["sample_files"]["train"]["files"] == ["train-00000.jsonl.zst"]  # the default: shards
    import pyarrow.parquet as pq

    assert pq.read_table(out / "train.parquet").num_rows == summary["samples"]["train"]
    assert not leftovers(out)  # work dir and temp files removed


def test_small_inputs_still_get_one_validation_unit():
    from ava.build_dataset.split import assign_splits
    from ava.build_dataset.tasks.base import PoolEntry

    def entry(i):
        return PoolEntry(f"ad:{i}", i, f"page{i}", (f"page{i}",), None, None, None, None, ())

    for n in (2, 3, 5):
        entries = [entry(i) for i in range(n)]
        counts = assign_splits(entries, "page_id", 0.1, seed=0)
        assert counts["val"] >= 1 and counts["train"] == n - counts["val"]
        assert sum(e.split == "val" for e in entries) == counts["val"]
    one = [entry(0)]
    assert assign_splits(one, "page_id", 0.1, seed=0)["val"] == 0  # the only unit stays in train
    none = [entry(i) for i in range(5)]
    assert assign_splits(none, "page_id", 0.0, seed=0)["val"] == 0
