"""The real Ad Library records in ../shared/data/real_ads.jsonl (skipped when absent) through
verbalize -> build_dataset -> train (tiny): old field names, EU (DSA) records, a usable validation set."""

import json
import math
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_module

from ava.build_dataset.run import build_dataset
from tests.build_dataset.helpers import cfg_for
from tests.helpers import read_split

SAMPLES = Path(__file__).resolve().parents[2] / "ava" / "samples" / "media"
EU_LINES = range(141, 191)  # real_ads.SOURCE.md: the DSA-era records
PR_LINE = 193  # delivered 99.3% to Puerto Rico's municipalities, territories and "Unknown"


@pytest.fixture(scope="module")
def real(shared_data, tmp_path_factory):
    """The real records with a ``media`` key added (two get a bundled sample image), verbalized and built."""
    from ava.verbalize.pipeline import verbalize

    d = tmp_path_factory.mktemp("real")
    records = [json.loads(x) for x in (shared_data / "real_ads.jsonl").read_text().splitlines()]
    shutil.copy(SAMPLES / "coffee.png", d / "coffee.png")
    with (d / "ads.jsonl").open("w") as fh:
        for n, r in enumerate(records, start=1):
            fh.write(json.dumps({**r, "media": ["coffee.png"] if n in (1, 142) else []}) + "\n")
    with initialize_config_module("ava_conf", version_base="1.3"):
        vcfg = compose("verbalize", overrides=[f"input={d / 'ads.jsonl'}", f"output_dir={d / 'verb'}",
                                               "vision=none", "ocr=none", "asr=none", "progress=false"])
    verbalize(vcfg)
    cfg = cfg_for(d, d / "ads.jsonl", d / "verb", out="dataset",
                  extra=["dataset_tasks.generators.ts.enabled=true", "text_embedder.max_length=128",
                         "limits.max_samples_per_task_per_item=3"])  # fewer pair samples: a shorter train test
    summary = build_dataset(cfg)
    return d, records, summary


def test_every_real_record_is_read(real):
    _, records, summary = real
    assert summary["manifest_errors"] == [] and summary["counts"]["ads_read"] == len(records) == 289
    counts = summary["counts"]
    for old, new in [("region_distribution", "delivery_by_region"), ("ad_creative_body", "ad_creative_bodies"),
                     ("ad_creative_link_title", "ad_creative_link_titles"), ("funding_entity", "bylines"),
                     ("potential_reach", "estimated_audience_size")]:
        assert counts[f"normalised.{old}->{new}"] == sum(old in r for r in records), old
    no_id = [r for r in records if "id" not in r]
    assert counts["normalised.ad_snapshot_url->id"] == sum("_id" not in r for r in no_id) == 26
    assert counts["normalised._id->id"] == 1 and counts["normalised._id dropped"] == 2


def test_real_records_give_train_and_val_and_eu_samples(real):
    d, records, summary = real
    train, val = read_split(d / "dataset" / "train.jsonl"), read_split(d / "dataset" / "val.jsonl")
    assert summary["samples"] == {"train": len(train), "val": len(val)} and train and val
    ids_of_line = {n: r.get("id") for n, r in enumerate(records, start=1)}
    eu_ids = {ids_of_line[n] for n in EU_LINES}
    eu = [s for s in train + val if set(s["meta"]["source"]["ad_ids"]) & eu_ids]
    tasks = Counter(s["task"] for s in eu)
    assert tasks["TAP-A"] > 20 and tasks["TAP-G"] > 20 and tasks["TAP-R"] > 5, tasks
    # one EU record's best age group and its share, by hand from the raw reach breakdown
    s = next(s for s in eu if s["task"] == "TAP-A")
    rec = next(r for r in records if r.get("id") == s["meta"]["source"]["ad_ids"][0])
    rows = [(b["age_range"], g, n) for c in rec["age_country_gender_reach_breakdown"]
            for b in c["age_gender_breakdowns"] for g, n in b.items() if g != "age_range"]
    age = pd.DataFrame(rows, columns=["age", "gender", "n"]).groupby("age").n.sum()
    assert s["target"]["age"] == age.idxmax()
    assert s["target"]["distribution"][age.idxmax()] == pytest.approx(age.max() / age.sum())
    assert s["meta"]["behaviour_basis"][0]["age_gender"] == "reach"
    # ids recovered from ad_snapshot_url (the 2019 EU records) are used
    assert "693682157733107" in {a for s in train + val for a in s["meta"]["source"]["ad_ids"]}
    # the Puerto Rico ad is not ranked by the 0.2% of its delivery that reached three states
    pr = ids_of_line[PR_LINE]
    assert not [s for s in train + val if s["task"] == "TAP-R" and pr in s["meta"]["source"]["ad_ids"]]
    assert summary["behaviour_issues"]["region.low_coverage"] >= 1
    assert any(s["task"].startswith("TS") for s in train)  # transsuasion pairs among real ads


def test_real_dataset_trains(real, tmp_path):
    from ava.train.run import train

    d, _, _ = real
    with initialize_config_module("ava_conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"dataset={d / 'dataset'}", f"output_dir={tmp_path / 'train'}",
                                          "model=tiny", "trainer.batch_size=4", "trainer.logging_steps=1",
                                          "trainer.num_workers=0", "device=cpu", "trainer.max_steps=2",
                                          "trainer.eval_steps=2", "trainer.save_steps=2", "max_length=256"])
    summary = train(cfg)
    assert summary["steps"] == 2 and summary["val_loss"]
    assert all(math.isfinite(v) for v in summary["val_loss"].values())
    assert (tmp_path / "train" / "adapter" / "adapter_model.safetensors").is_file()
