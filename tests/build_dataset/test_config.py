"""Every build_dataset config composes and instantiates; weights and limits act."""


import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from ava.build_dataset.run import build_dataset
from ava.build_dataset.synthetic import random_ads, write_manifest
from ava.build_dataset.tasks.base import Generator
from ava.build_dataset.tasks.pairs import Transcreation, Transsuasion
from tests.build_dataset.helpers import cfg_for
from tests.helpers import read_split


def test_every_generator_instantiates():
    with initialize_config_module("ava_conf", version_base="1.3"):
        cfg = compose("build_dataset", overrides=["manifest=x", "verbalized=null", "output_dir=y"])
    gens = {name: instantiate(g, _convert_="all") for name, g in cfg.dataset_tasks.generators.items()}
    assert set(gens) == {"tap", "tag", "ts", "tc", "audience_selection"}
    assert all(isinstance(g, Generator) and g.enabled and g.weight == 1.0 for g in gens.values())
    assert cfg.text_embedder._target_.endswith("SentenceEmbedder")


def test_engagement_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="engagement"):
        Transsuasion(templates={"E": ["x"]}, attributes=["E"])


def test_pair_tasks_take_the_attributes_of_their_kind():
    templates = {a: ["x"] for a in "GARBI"}
    assert [a.letter for a in Transsuasion(templates, attributes=list("BAGR")).attributes] == list("BAGR")
    assert [a.letter for a in Transcreation(templates, attributes=list("AGR")).attributes] == list("AGR")
    with pytest.raises(ValueError, match=r"TS attributes \['I'\]"):  # impressions alone follow the spend
        Transsuasion(templates, attributes=["B", "I"])
    for rng in "BI":  # a range is not an audience group to rewrite an ad for
        with pytest.raises(ValueError, match=rf"TC attributes \['{rng}'\]"):
            Transcreation(templates, attributes=["A", rng])


def test_weight_and_limits(tmp_path):
    write_manifest(tmp_path / "ads.jsonl", random_ads(30, seed=2, pages=3))
    full = build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", out="full"))
    half = build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", out="half",
                                 extra=["dataset_tasks.generators.tag.weight=0.5",
                                        "dataset_tasks.generators.tap.enabled=false"]))
    assert not any(t.startswith("TAP") for t in half["samples_per_task"])
    n_full = sum(sum(v.values()) for t, v in full["samples_per_task"].items() if t.startswith("TAG"))
    n_half = sum(sum(v.values()) for t, v in half["samples_per_task"].items() if t.startswith("TAG"))
    assert 0.3 * n_full < n_half < 0.7 * n_full
    capped = build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", out="cap",
                                   extra=["limits.max_samples_per_item=3"]))
    per_item = {}
    for split in ("train", "val"):
        for s in read_split(tmp_path / "cap" / f"{split}.jsonl"):
            src = s["meta"]["source"]["items"][0]
            per_item[src] = per_item.get(src, 0) + 1
    assert max(per_item.values()) == 3 and capped["counts"]["samples_dropped_by_limit"] > 0


def test_other_population_table(tmp_path):
    table = tmp_path / "pop.csv"
    table.write_text("region,population\nCalifornia,10\nTexas,1000\nVermont,1000\nWyoming,1000\n"
                     "New York,1000\nMassachusetts,1000\nFlorida,1000\nOhio,1000\n")
    write_manifest(tmp_path / "ads.jsonl", random_ads(5, seed=1, pages=1))
    build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", extra=[f"population.path={table}",
                                                                    "split.val_fraction=0"]))
    for s in read_split(tmp_path / "out" / "train.jsonl"):
        if s["task"] == "TAP-R":
            assert s["target"]["regions"][0] == "California"  # 100× smaller population wins per head


def test_audience_selection_distractors_share_the_category(tmp_path):
    from ava.build_dataset.synthetic import ad

    ages = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
    ads = [ad(f"s{i}", f"p{i}", joint={(ages[i], "female"): 1.0}, category="shoes") for i in range(5)]
    ads += [ad(f"v{i}", f"q{i}", joint={(ages[i], "male"): 1.0}, category="politics") for i in range(5)]
    ads = [a | {"delivery_by_region": [{"region": r, "percentage": "0.25"}
                                       for r in ("Texas", "Ohio", "Vermont", "Florida")]} for a in ads]
    write_manifest(tmp_path / "ads.jsonl", ads)
    build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl",
                          extra=["category_field=category", "split.val_fraction=0"]))
    seen = 0
    for s in read_split(tmp_path / "out" / "train.jsonl"):
        if s["task"] == "AS":
            gender = "Female" if s["meta"]["source"]["ad_ids"][0].startswith("s") else "Male"
            assert all(o.startswith(gender) for o in s["target"]["options"]), s["target"]["options"]
            seen += 1
    assert seen == 10
