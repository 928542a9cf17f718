"""model=precomputed end to end: every benchmark scored from a predictions file against SciPy references."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from ava.evaluate.run import evaluate
from ava.evaluate.suites import oqa_xl
from ava.evaluate.suites.base import PER_QUESTION_COLUMNS
from tests.evaluate import fixtures
from tests.evaluate.fixtures import human_reference

OQA_PROBS = {
    "CARS1_W99": [0.5, 0.2, 0.1, 0.2],  # model_input order: A lot, A little, Nothing at all, Refused
    "WORK3_W99": [0.1, 0.6, 0.25, 0.05],  # Negative, Positive, No impact, Refused
}
OQA_POS = {
    "CARS1_W99": {"A lot": 1.0, "A little": 2.0, "Nothing at all": 3.0},
    "WORK3_W99": {"Positive impact": 1.0, "Negative impact": 2.0, "No impact either way": 1.5},
}
OQA_OPTS = dict(fixtures.OQA_MODEL_INPUT)


def ref_alignment(qkey, probs, weights):
    opts = [o for o in OQA_OPTS[qkey] if o != "Refused"]
    pm = np.array([probs[OQA_OPTS[qkey].index(o)] for o in opts])
    ph = np.array([weights.get(o, 0.0) for o in opts])
    if ph.sum() == 0:
        return None
    pos = [OQA_POS[qkey][o] for o in opts]
    return 1 - wasserstein_distance(pos, pos, pm / pm.sum(), ph / ph.sum()) / (max(pos) - min(pos))


def predictions(root):
    """One predictions file per benchmark, in the benchmark=all folder layout."""
    rows = {
        "opinionqa": [{"id": k, "probs": p} for k, p in OQA_PROBS.items()]
        + [
            {"id": "CARS1_W99", "probs": [0.1, 0.1, 0.7, 0.1], "group": "POLPARTY=Democrat", "context": "qa"},
            {
                "id": "CARS1_W99",
                "probs": [0.1, 0.6, 0.2, 0.1],
                "group": "POLPARTY=Democrat",
                "context": "bio",
            },
        ],
        "oqa_xl": [{"id": "SPORTPOL_W54", "probs": [0.4, 0.1, 0.2, 0.3]}],
        "global_opinionqa": [
            {"id": 0, "probs": [0.5, 0.4, 0.1], "group": "Belgium"},
            {"id": "0", "probs": [0.1, 0.8, 0.1], "group": "Japan"},
            {"id": 1, "probs": [0.6, 0.4]},
        ],
        "culturenli": [
            {"id": i, "probs": p}
            for i, p in enumerate([[0.68, 0.22, 0.1], [0.95, 0.05, 0.0], [0.75, 0.2, 0.05], [0.1, 0.5, 0.4]])
        ]
        + [{"id": 0, "probs": [0.85, 0.1, 0.05], "group": "IN"}],
        "culturebank": [
            {"id": i, "probs": p} for i, p in enumerate([[0.8, 0.2], [0.7, 0.3], [0.9, 0.1], [0.2, 0.8]])
        ],
    }
    for name, lines in rows.items():
        fixtures.write_jsonl(root / f"{name}.jsonl", lines)
    return root


def test_all_benchmarks_precomputed_match_references(data_root, tmp_path):
    preds = predictions(tmp_path / "preds")
    out = tmp_path / "out"
    cfg = fixtures.compose_cfg(
        [
            f"data={data_root}",
            "benchmark=all",
            "model=precomputed",
            f"model.predictions={preds}",
            f"output_dir={out}",
            "suites.opinionqa.attributes=[SEX,POLPARTY]",
        ]
    )
    doc = evaluate(cfg)
    b = doc["benchmarks"]
    assert list(b) == ["opinionqa", "oqa_xl", "global_opinionqa", "culturenli", "culturebank"]

    # OpinionQA: representativeness per group = mean over questions of 1 - W1/span (SciPy, weighted)
    per_group = defaultdict(list)
    for key, probs in OQA_PROBS.items():
        for g, w in human_reference(fixtures.OQA_RESPONSES, key).items():
            a = ref_alignment(key, probs, w)
            if a is not None:
                per_group[g].append(a)
    expected = {g: np.mean(v) for g, v in per_group.items()}
    assert b["opinionqa"]["per_group"] == pytest.approx(expected)
    demo = [v for g, v in expected.items() if g != "Overall"]
    assert b["opinionqa"]["headline"]["value"] == pytest.approx(np.mean(demo))
    assert b["opinionqa"]["metrics"]["refusal_rate"] == pytest.approx(np.mean([0.2, 0.05]))
    dem = human_reference(fixtures.OQA_RESPONSES, "CARS1_W99")["POLPARTY=Democrat"]
    best = max(
        ref_alignment("CARS1_W99", [0.1, 0.1, 0.7, 0.1], dem),
        ref_alignment("CARS1_W99", [0.1, 0.6, 0.2, 0.1], dem),
    )
    assert b["opinionqa"]["metrics"]["steerability"] == pytest.approx({"POLPARTY=Democrat": best})
    assert b["opinionqa"]["counts"] == {
        "questions_total": 3,
        "questions_used": 2,
        "predictions_renormalized": 0,
        "predictions_not_scored": 0,
        "predictions_not_scored_by_group": {},
        "skipped": {"option_ordinal positions all equal (not an ordinal question)": 1},
    }

    # OQA-XL: options in the JSON's order, refusal second
    pos, pm = [3.0, 1.0, 2.0], np.array([0.4, 0.2, 0.3]) / 0.9
    overall = np.array([2.0, 1.0, 1.0])  # Not too / Very / Somewhat, weighted
    ref = 1 - wasserstein_distance(pos, pos, pm, overall) / 2.0
    assert b["oqa_xl"]["per_group"]["Overall"] == pytest.approx(ref)

    # GlobalOpinionQA: per-country mean of 1 - JSD(base 2); un-grouped line serves every country
    sims = {
        "Belgium": [
            1 - jensenshannon([0.5, 0.4, 0.1], [0.6, 0.3, 0.1], base=2),
            1 - jensenshannon([0.6, 0.4], [0.25, 0.75], base=2),
        ],
        "Japan": [1 - jensenshannon([0.1, 0.8, 0.1], [0.2, 0.7, 0.1], base=2)],
        "Nigeria": [1 - jensenshannon([0.6, 0.4], [0.9, 0.1], base=2)],
    }
    assert b["global_opinionqa"]["per_group"] == pytest.approx({c: np.mean(v) for c, v in sims.items()})
    assert b["global_opinionqa"]["headline"]["value"] == pytest.approx(
        np.mean([np.mean(v) for v in sims.values()])
    )

    # CultureNLI: US labels E? = [0,1,1,0]; P(E) = [.68,.95,.75,.1]: t=0.6 -> [1,1,1,0]: F1 0.8 / 0.667
    us = b["culturenli"]["metrics"]["per_culture"]["US"]
    assert us["macro_f1_by_threshold"]["0.6"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert us["macro_f1_by_threshold"]["0.7"] == pytest.approx(1.0)  # preds [0,1,1,0]
    assert us["macro_f1_by_threshold"]["1.0"] == pytest.approx((0 + 2 * 2 / (2 + 4)) / 2)  # nothing > 1
    assert b["culturenli"]["per_group"]["US"] == pytest.approx(1.0) and us["best_threshold"] == 0.7
    # IN labels E? = [1,0,1,0]; row 0 uses its IN line: P(E) = [.85,.95,.75,.1]; t=0.9 -> preds [0,1,0,0]
    assert b["culturenli"]["metrics"]["per_culture"]["IN"]["macro_f1_by_threshold"]["0.9"] == pytest.approx(
        (0.0 + 2 * 1 / (2 + 3)) / 2
    )

    # CultureBank: targets [1,0,1,0], P(yes) > .5 -> [1,1,1,0]
    assert b["culturebank"]["headline"]["value"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert b["culturebank"]["metrics"]["accuracy"] == pytest.approx(0.75)
    assert b["culturebank"]["per_group"] == pytest.approx({"Brazilian": 1.0, "Japanese": 0.5})

    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["benchmarks"]["culturebank"]["headline"] == b["culturebank"]["headline"]
    report = (out / "report.md").read_text()
    for name in b:
        assert f"| {name} |" in report and (out / "plots" / f"{name}_groups.png").stat().st_size > 1000
    # per_question.csv: each number read back to its question
    tables = {name: pd.read_csv(out / name / "per_question.csv") for name in b}
    assert all(list(t.columns) == PER_QUESTION_COLUMNS for t in tables.values())
    goqa = tables["global_opinionqa"].set_index(["id", "group"])["value"]
    assert goqa[(0, "Belgium")] == pytest.approx(sims["Belgium"][0]) and goqa[(1, "Nigeria")] == pytest.approx(
        sims["Nigeria"][0]
    )
    xl = tables["oqa_xl"]
    row = xl[(xl["id"] == "SPORTPOL_W54") & (xl["group"] == "Overall")].iloc[0]
    assert row["value"] == pytest.approx(ref) and json.loads(row["ordinals"]) == pos
    assert json.loads(row["options"]) == ["Not too important", "Very important", "Somewhat important"]
    assert xl.loc[xl["id"] == "NOHUMAN_W54", "skip_reason"].tolist() == [oqa_xl.NO_COLUMN]
    assert tables["culturenli"].set_index(["id", "group"])["value"][(0, "IN")] == pytest.approx(0.85)
    assert tables["culturebank"]["value"].tolist() == [1.0, 0.0, 1.0, 1.0]  # targets [1,0,1,0], preds [1,1,1,0]


def test_missing_predictions_are_counted_not_guessed(data_root, tmp_path):
    preds = fixtures.write_jsonl(tmp_path / "p.jsonl", [{"id": 1, "probs": [0.5, 0.5]}])
    cfg = fixtures.compose_cfg(
        [
            f"data={data_root / 'global_opinionqa'}",
            "benchmark=global_opinionqa",
            "model=precomputed",
            f"model.predictions={preds}",
            f"output_dir={tmp_path / 'o'}",
        ]
    )
    r = evaluate(cfg)["benchmarks"]["global_opinionqa"]
    assert r["counts"]["questions_used"] == 1 and r["counts"]["skipped"]["no model distribution"] == 1
    assert set(r["per_group"]) == {"Belgium", "Nigeria"}


def test_predictions_for_groups_not_in_the_data_are_counted(data_root, tmp_path):
    good = predictions(tmp_path / "preds")  # every line of these is read by scoring
    cfg = fixtures.compose_cfg([f"data={data_root}", "benchmark=all", "model=precomputed", f"model.predictions={good}",
                                f"output_dir={tmp_path / 'o'}", "suites.opinionqa.attributes=[SEX,POLPARTY]"])
    doc = evaluate(cfg)
    assert {n: b["counts"]["predictions_not_scored"] for n, b in doc["benchmarks"].items()} == dict.fromkeys(
        doc["benchmarks"], 0)
    bad = fixtures.write_jsonl(tmp_path / "bad.jsonl", [
        {"id": 0, "probs": [0.5, 0.4, 0.1], "group": "Belgium"},
        {"id": 0, "probs": [0.5, 0.4, 0.1], "group": ""},
        {"id": 0, "probs": [0.5, 0.4, 0.1], "group": "Atlantis"},
        {"id": 1, "probs": [0.6, 0.4], "group": "Atlantis"},
        {"id": 1, "probs": [0.6, 0.4]},
    ])
    cfg = fixtures.compose_cfg([f"data={data_root / 'global_opinionqa'}", "benchmark=global_opinionqa",
                                "model=precomputed", f"model.predictions={bad}", f"output_dir={tmp_path / 'b'}"])
    counts = evaluate(cfg)["benchmarks"]["global_opinionqa"]["counts"]
    assert counts["predictions_not_scored"] == 3
    assert counts["predictions_not_scored_by_group"] == {"'Atlantis'": 2, "''": 1}
    saved = json.loads((tmp_path / "b" / "results.json").read_text())["benchmarks"]["global_opinionqa"]["counts"]
    assert saved["predictions_not_scored"] == 3
    # OpinionQA's steering predictions: a group its surveys do not hold is counted, a real one is scored
    oqa = fixtures.write_jsonl(tmp_path / "oqa.jsonl", [
        *({"id": k, "probs": p} for k, p in OQA_PROBS.items()),
        {"id": "CARS1_W99", "probs": [0.1, 0.1, 0.7, 0.1], "group": "POLPARTY=Democrat", "context": "qa"},
        {"id": "CARS1_W99", "probs": [0.1, 0.1, 0.7, 0.1], "group": "POLPARTY=Atlantis", "context": "qa"},
    ])
    cfg = fixtures.compose_cfg([f"data={data_root / 'opinionqa'}", "benchmark=opinionqa", "model=precomputed",
                                f"model.predictions={oqa}", f"output_dir={tmp_path / 'q'}",
                                "suites.opinionqa.attributes=[SEX,POLPARTY]"])
    result = evaluate(cfg)["benchmarks"]["opinionqa"]
    assert result["counts"]["predictions_not_scored_by_group"] == {"'POLPARTY=Atlantis'": 1}
    assert set(result["metrics"]["steerability"]) == {"POLPARTY=Democrat"}
