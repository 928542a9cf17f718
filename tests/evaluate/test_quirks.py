"""Each quirk of the benchmarks' real files, on small files the tests write: the readers give the numbers of
the official code (helpers.py on pandas 1.x, refusals.ipynb, the CultureBank script), re-computed here with
SciPy from the written rows."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from scipy.stats import wasserstein_distance

from ava.evaluate.run import evaluate
from ava.evaluate.suites import culturebank, opinionqa, oqa_xl
from ava.evaluate.suites.base import SuiteDataError
from tests.evaluate import fixtures
from tests.evaluate.fixtures import CFG

CFG0 = OmegaConf.merge(CFG, {"steering": []})
NOT_ORDINAL = "option_ordinal positions all equal (not an ordinal question)"

# (key, question, references, option_ordinal): "None" an answer; one key, two texts (piped, one column);
# equal ordinals; humans who only refused
INFO = [
    ("FRIENDS_W98", "How many of your friends own guns?", ["All or most", "Some", "None", "Refused"], [1, 2, 3]),
    ("PIPED_W98", "How important is being white to you?", ["Very", "Not", "Refused"], [1, 2]),
    ("PIPED_W98", "How important is being black to you?", ["Very", "Not", "Refused"], [1, 2]),
    ("SECTOR_W98", "Which sector do you work in?", ["Retail", "Health", "Refused"], [1, 1]),
    ("REFONLY_W98", "Would you say yes or no?", ["Yes", "No", "Refused"], [1, 2]),
]
IDS = ["FRIENDS_W98", "PIPED_W98:1", "PIPED_W98:2", "SECTOR_W98", "REFONLY_W98"]
RESP = [
    {"FRIENDS_W98": "None", "PIPED_W98": "Very", "SECTOR_W98": "Retail", "REFONLY_W98": "Refused",
     "SEX": "Male", "POLPARTY": "Democrat", "W": 1.0},
    {"FRIENDS_W98": "Some", "PIPED_W98": "Not", "SECTOR_W98": "Health", "REFONLY_W98": "Refused",
     "SEX": "Female", "POLPARTY": "Republican", "W": 2.0},
    {"FRIENDS_W98": "None", "PIPED_W98": "Very", "SECTOR_W98": "Retail", "REFONLY_W98": None,
     "SEX": "Female", "POLPARTY": "Democrat", "W": 0.5},
    {"FRIENDS_W98": "All or most", "PIPED_W98": "Refused", "SECTOR_W98": "Health", "REFONLY_W98": "Refused",
     "SEX": "Male", "POLPARTY": "Republican", "W": 1.5},
    # sampled but never interviewed: no weight, no answers (W92 has 695)
    {"FRIENDS_W98": None, "PIPED_W98": None, "SECTOR_W98": None, "REFONLY_W98": None,
     "SEX": "Male", "POLPARTY": "Democrat", "W": None},
    {"FRIENDS_W98": None, "PIPED_W98": None, "SECTOR_W98": None, "REFONLY_W98": None,
     "SEX": "Female", "POLPARTY": "Democrat", "W": None},
]  # fmt: skip
PROBS = {
    "FRIENDS_W98": [0.2, 0.3, 0.4, 0.1],
    "PIPED_W98:1": [0.7, 0.2, 0.1],
    "PIPED_W98:2": [0.3, 0.5, 0.2],
    "SECTOR_W98": [0.5, 0.3, 0.2],
    "REFONLY_W98": [0.4, 0.4, 0.2],
}


def write_w98(root, with_key=True):
    fixtures.write_pew_survey(root / "human_resp" / "American_Trends_Panel_W98", 98, INFO, RESP)
    mi = root / "model_input"
    mi.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame([{"key": k, "question": q, "options": str(refs)} for k, q, refs, _ in INFO])
    df.drop(columns=[] if with_key else ["key"]).to_csv(mi / "Pew_American_Trends_Panel_W98.csv", sep="\t", index=False)
    return root


def weights_by_group(key):
    """Summed weight per group and answer, by plain loops; respondents without a weight left out."""
    out = defaultdict(lambda: defaultdict(float))
    for r in RESP:
        if r[key] is None or r["W"] is None:
            continue
        out["Overall"][r[key]] += r["W"]
        for attr, values in fixtures.OQA_METADATA.items():
            if r[attr] in values:
                out[f"{attr}={r[attr]}"][r[key]] += r["W"]
    return out


def expected():
    """helpers.py / the notebooks by hand: WD rows for ordinal questions with human ordinal answers, R_M over
    the questions with an Overall human row (equal-ordinal included)."""
    wd, refusal = defaultdict(list), []
    for (key, _, refs, ordinal), qid in zip(INFO, IDS, strict=True):
        n, p = len(ordinal), np.array(PROBS[qid])
        for g, dist in weights_by_group(key).items():
            d_h = np.array([dist.get(o, 0.0) for o in refs[:n]])
            if d_h.sum() == 0:
                continue
            if g == "Overall":
                refusal.append(p[n:].sum())
            if max(ordinal) > min(ordinal):
                d = wasserstein_distance(ordinal, ordinal, p[:n] / p[:n].sum(), d_h / d_h.sum())
                wd[g].append(d / (max(ordinal) - min(ordinal)))
    rep = {g: 1 - np.mean(v) for g, v in wd.items()}
    return rep, np.mean([v for g, v in rep.items() if g != "Overall"]), np.mean(refusal), len(refusal)


def run(root, tmp_path, rows, benchmark="opinionqa", extra=()):
    preds = fixtures.write_jsonl(tmp_path / "preds.jsonl", rows)
    cfg = fixtures.compose_cfg(
        [f"data={root}", f"benchmark={benchmark}", "model=precomputed", f"model.predictions={preds}",
         f"output_dir={tmp_path / 'out'}", *extra]
    )  # fmt: skip
    return evaluate(cfg)["benchmarks"][benchmark], tmp_path / "out"


@pytest.mark.parametrize("with_key", [True, False])
def test_pew_quirks_match_official(tmp_path, with_key):
    root = write_w98(tmp_path / "oqa", with_key)
    r, out = run(
        root, tmp_path, [{"id": q, "probs": p} for q, p in PROBS.items()],
        extra=["suites.opinionqa.attributes=[SEX,POLPARTY]"],
    )  # fmt: skip
    rep, headline, refusal, n_refusal = expected()
    assert r["per_group"] == pytest.approx(rep, abs=1e-12)
    assert r["headline"]["value"] == pytest.approx(headline, abs=1e-12)
    assert r["metrics"]["refusal_rate"] == pytest.approx(refusal, abs=1e-12)
    assert r["metrics"]["refusal_rate_questions"] == n_refusal == 4  # SECTOR in, REFONLY out
    assert r["metrics"]["respondents_without_weight"] == 2
    assert r["metrics"]["predictions_for_skipped_questions"] == 2
    assert r["counts"]["questions_used"] == 3 and r["counts"]["questions_total"] == 5
    assert r["counts"]["skipped"] == {NOT_ORDINAL: 1, "no human answers on the ordinal options": 1}
    report = (out / "report.md").read_text()
    assert f"- {NOT_ORDINAL}: 1" in report and "- respondents_without_weight: 2" in report
    assert json.loads((out / "results.json").read_text())["benchmarks"]["opinionqa"]["counts"] == r["counts"]


def test_none_answer_and_shared_column(tmp_path):
    loaded = opinionqa.load(write_w98(tmp_path), CFG0)
    human = loaded.extra["human"]
    assert human["FRIENDS_W98"]["Overall"] == {"None": 1.5, "Some": 2.0, "All or most": 1.5}
    piped = [q for q in loaded.questions if q.meta["key"] == "PIPED_W98"]
    assert [q.id for q in piped] == ["PIPED_W98:1", "PIPED_W98:2"] and piped[0].text != piped[1].text
    assert loaded.extra["no_weight"] == 2


def test_bad_weight_names_its_row(tmp_path):
    root = write_w98(tmp_path)
    path = root / "human_resp" / "American_Trends_Panel_W98" / "responses.csv"
    df = pd.read_csv(path, dtype=object, keep_default_na=False)
    df.loc[1, "WEIGHT_W98"] = "n/a"
    df.to_csv(path, index=False)
    with pytest.raises(SuiteDataError, match=r"WEIGHT_W98 is not a non-negative number in data row\(s\) \[2\]"):
        opinionqa.load(root, CFG0)


def test_released_disagreement_folder_is_the_steering_subset(tmp_path):
    """human_resp/Pew_American_Trends_Panel_disagreement_500/ holds info.csv + metadata.csv only, with keys
    of the waves: it must not be read as a survey (no responses.csv) nor override the waves' rows."""
    root = write_w98(tmp_path)
    sub = root / "human_resp" / "Pew_American_Trends_Panel_disagreement_500"
    sub.mkdir()
    pd.DataFrame(
        [{"key": "FRIENDS_W98", "question": INFO[0][1], "references": str(["Some", "Refused"]),
          "option_ordinal": "[1.0]", "survey": "Pew_American_Trends_Panel_W98"}]
    ).to_csv(sub / "info.csv")  # fmt: skip
    (sub / "metadata.csv").write_text(",key,options\n0,SEX,\"['Male', 'Female']\"\n")
    loaded = opinionqa.load(root, CFG0)
    assert loaded.extra["steer_subset"] == {"FRIENDS_W98"}
    assert loaded.by_id()["FRIENDS_W98"].options == ("All or most", "Some", "None", "Refused")


def test_oqa_xl_options_matched_after_normalisation(tmp_path):
    """OQA-XL writes curly apostrophes and capitals where the .sav labels have neither; matched and counted.
    OpinionQA's info.csv gives TRUST its curated ordinals (no difference between the poles), SHARE takes its
    SPSS codes; an option matching no label leaves its question loaded but skipped, with that reason."""
    info = [("TRUST_W54", "Does it change your trust?", ["Trust it more", "Trust it less", "No difference", "Refused"],
             [1, 3, 2])]  # fmt: skip
    fixtures.write_pew_survey(tmp_path / "human_resp" / "W54", 54, info, [])
    labels = {
        "TRUST_W54": {1: "Trust it more", 2: "Trust it less", 3: "No difference", 99: "Refused"},
        "SHARE_W54": {1: "Often", 2: "Never", 3: "I don't share news", 99: "Refused"},
        "OTHER_W54": {1: "Yes", 2: "No", 99: "Refused"},
        **fixtures.ATP_LABELS,
    }
    columns = {"TRUST_W54": [1, 3], "SHARE_W54": [3, 1], "OTHER_W54": [1, 2], "F_SEX_FINAL": [1, 2],
               "F_PARTY_FINAL": [2, 1], "WEIGHT_W54": [1.0, 3.0]}  # fmt: skip
    questions = {
        "W54": {
            "TRUST": {"question": info[0][1],
                      "options": ["Trust it MORE", "No  difference", "Trust it less", "Refused"]},
            "SHARE": {"question": "How often do you share news?",
                      "options": ["I don\u2019t share news", "Often", "Never", "Refused"]},
            "OTHER": {"question": "Another question", "options": ["Yes", "Maybe", "Refused"]},
        }
    }  # fmt: skip
    fixtures.write_atp_release(tmp_path, 54, questions, columns, labels, nested=False)
    loaded = oqa_xl.load(tmp_path, CFG0)
    by_id = loaded.by_id()
    assert list(by_id) == ["TRUST_W54", "SHARE_W54", "OTHER_W54"]
    assert by_id["TRUST_W54"].meta["positions"] == [1.0, 2.0, 3.0, None]
    assert by_id["TRUST_W54"].meta["source"] == "opinionqa" and by_id["SHARE_W54"].meta["source"] == "spss"
    assert by_id["SHARE_W54"].meta["positions"] == [3.0, 1.0, 2.0, None]
    probs = {"TRUST_W54": [0.5, 0.3, 0.1, 0.1], "SHARE_W54": [0.1, 0.6, 0.2, 0.1], "OTHER_W54": [0.5, 0.3, 0.2]}
    r, _ = run(tmp_path, tmp_path / "run", [{"id": k, "probs": p} for k, p in probs.items()], "oqa_xl",
               ["suites.oqa_xl.attributes=[SEX,POLPARTY]"])  # fmt: skip
    assert r["metrics"]["options_matched_after_normalisation"] == 2
    assert r["counts"]["skipped"] == {"option text not among the .sav value labels or unlabelled codes": 1}
    # Overall, TRUST: model [more .5, no diff .3, less .1] at [1, 2, 3]; humans more 1, no diff 3
    trust = 1 - wasserstein_distance([1, 2, 3], [1, 2, 3], [5 / 9, 3 / 9, 1 / 9], [0.25, 0.75, 0]) / 2
    # SHARE: model [don't .1, often .6, never .2] at [3, 1, 2]; humans don't 1, often 3
    share = 1 - wasserstein_distance([3, 1, 2], [3, 1, 2], [1 / 9, 6 / 9, 2 / 9], [0.25, 0.75, 0]) / 2
    assert r["per_group"]["Overall"] == pytest.approx((trust + share) / 2, abs=1e-12)
    table = pd.read_csv(tmp_path / "run" / "out" / "oqa_xl" / "per_question.csv")
    row = table[(table["id"] == "SHARE_W54") & (table["group"] == "Overall")].iloc[0]
    assert row["value"] == pytest.approx(share, abs=1e-12)
    assert json.loads(row["options"]) == ["I don\u2019t share news", "Often", "Never"]
    assert json.loads(row["ordinals"]) == [3.0, 1.0, 2.0]
    assert table.loc[table["id"] == "OTHER_W54", "skip_reason"].tolist() == [
        "option text not among the .sav value labels or unlabelled codes"
    ]


def test_goqa_all_zero_row_is_a_known_skipped_id(tmp_path):
    rows = [
        ("Q0", ["Yes", "No"], "defaultdict(<class 'list'>, {'Chile': [0.6, 0.4]})"),
        ("Q1", ["Yes", "No"], "defaultdict(<class 'list'>, {'Chile': [0.0, 0.0], 'Peru': [0, 0]})"),
    ]
    root = tmp_path / "goqa"
    root.mkdir()
    pd.DataFrame([{"question": q, "options": str(o), "selections": s, "source": "GAS"} for q, o, s in rows]).to_csv(
        root / "global_opinions.csv", index=False
    )
    preds = [{"id": 0, "probs": [0.5, 0.5], "group": "Chile"}, {"id": 1, "probs": [0.5, 0.5], "group": "Peru"}]
    r, _ = run(root, tmp_path, preds, "global_opinionqa")
    assert r["counts"]["skipped"] == {"no usable country distribution": 1}
    assert r["metrics"]["predictions_for_skipped_questions"] == 1 and r["metrics"]["jsd_log_base"] == 2
    assert set(r["per_group"]) == {"Chile"} and r["counts"]["questions_used"] == 1


def test_culturebank_unrounded_norm_when_present(tmp_path):
    cfg = OmegaConf.create(
        {"template": "{cultural_group}: {actor_behavior}", "option_format": "{letter}. {option}",
         "id_column": None, "threshold": 0.5}
    )  # fmt: skip
    rows = [("Japanese", "bow", 0.52, 0.5), ("Japanese", "whisper", 0.9, 0.9), ("Brazilian", "kiss", 0.3, 0.3)]
    df = pd.DataFrame([{"cultural group": g, "actor_behavior": b, "norm": n, "agreement": a} for g, b, n, a in rows])
    df.to_csv(tmp_path / "culturebank_tiktok.csv", index=False)
    loaded = culturebank.load(tmp_path, cfg)
    assert [q.meta["target"] for q in loaded.questions] == [1, 1, 0]  # 0.52 > 0.5 (agreement says 0.5)
    assert loaded.extra["target_column"] == "norm"
    df.drop(columns="norm").to_csv(tmp_path / "culturebank_tiktok.csv", index=False)
    loaded = culturebank.load(tmp_path, cfg)
    assert [q.meta["target"] for q in loaded.questions] == [0, 1, 0]
    result = culturebank.score(loaded, {(q.id, None, None): np.array([0.6, 0.4]) for q in loaded.questions}, cfg)
    assert result.metrics["target_column"] == "agreement" and "agreement > 0.5" in result.headline_metric
