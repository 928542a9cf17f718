"""The readers on the benchmarks' real files (``../shared/data/eval``; skipped when absent): a run with a
prediction for every question completes and matches an independent re-computation of the official code."""

from __future__ import annotations

import ast
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon

from ava.evaluate.run import evaluate
from ava.evaluate.suites import opinionqa
from tests.evaluate import fixtures, real_files
from tests.evaluate.fixtures import CFG

CFG12 = CFG.copy()
CFG12.attributes = real_files.ATTRIBUTES
CFG12.steering = []
RELEASE_W26 = "American_Trends_Panel_W26"


@pytest.fixture(scope="module")
def surveys(eval_dir, tmp_path_factory):
    """``{wave: human_resp folder}`` of the five waves with real respondents, written once per module."""
    root = tmp_path_factory.mktemp("human_resp")
    return {w: real_files.write_survey(eval_dir, w, root / f"American_Trends_Panel_{w}") for w in real_files.SAV_WAVES}


def opinionqa_root(tmp_path, eval_dir, surveys, waves, with_key=True):
    """An OpinionQA data folder for ``waves``: their human_resp folders linked, a model_input asking every
    info.csv row; returns (root, {wave: info frame})."""
    infos = {}
    for wave in waves:
        (tmp_path / "human_resp").mkdir(parents=True, exist_ok=True)
        (tmp_path / "human_resp" / surveys[wave].name).symlink_to(surveys[wave], target_is_directory=True)
        infos[wave] = real_files.info_frame(eval_dir, wave)
        mi = tmp_path / "model_input" / f"Pew_American_Trends_Panel_{wave}.csv"
        real_files.write_model_input(infos[wave], mi, with_key)
    return tmp_path, infos


def qids(info: pd.DataFrame) -> list[str]:
    """The documented ids: the key, or KEY:n for the n-th of several texts info.csv gives one key."""
    per_key = Counter(info["key"])
    seen: Counter = Counter()
    out = []
    for k in info["key"]:
        seen[k] += 1
        out.append(k if per_key[k] == 1 else f"{k}:{seen[k]}")
    return out


def random_probs(info: pd.DataFrame, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.dirichlet(np.ones(len(refs))) for refs in info["references"]]


def run_precomputed(data, preds_rows, tmp_path, benchmark="opinionqa", attributes="real"):
    preds = fixtures.write_jsonl(tmp_path / "preds.jsonl", preds_rows)
    over = [] if attributes == "real" else [f"suites.{benchmark}.attributes={attributes}"]
    cfg = fixtures.compose_cfg(
        [f"data={data}", f"benchmark={benchmark}", "model=precomputed", f"model.predictions={preds}",
         f"output_dir={tmp_path / 'out'}", *over]
    )  # fmt: skip
    return evaluate(cfg)["benchmarks"][benchmark]


def assert_matches(result: dict, ref: dict) -> None:
    assert result["per_group"].keys() == ref["per_group"].keys()
    for g, v in ref["per_group"].items():
        assert result["per_group"][g] == pytest.approx(v, abs=1e-12), g
    assert result["headline"]["value"] == pytest.approx(ref["headline"], abs=1e-12)
    assert result["metrics"]["refusal_rate"] == pytest.approx(ref["refusal_rate"], abs=1e-12)


def test_release_layout_every_question_predicted(eval_dir, tmp_path):
    """opinionqa_release/ as released (W26 + the disagreement_500 folder without responses.csv): a prediction
    for every model_input question; equal-ordinal IMPREASONGUN_W26 accepted, skipped, in the refusal rate."""
    data = eval_dir / "opinionqa_release"
    mi = pd.read_csv(data / "model_input" / "Pew_American_Trends_Panel_W26.csv", sep="\t", keep_default_na=False)
    info = real_files.info_frame(eval_dir, "W26")
    assert list(mi["key"]) == list(info["key"])
    probs = random_probs(info, 0)
    rows = []
    for qid, opts, refs, p in zip(qids(info), mi["options"], info["references"], probs, strict=True):
        order = [refs.index(o) for o in ast.literal_eval(opts)]
        rows.append({"id": qid, "probs": [float(p[i]) for i in order]})
    r = run_precomputed(data, rows, tmp_path)
    hdf = real_files.respondents(eval_dir, "W26")
    md = pd.read_csv(data / "human_resp" / RELEASE_W26 / "metadata.csv")
    combined = real_files.reference_scores(hdf, md, info, probs, "W26")
    assert_matches(r, real_files.reference_metrics(combined))
    equal = [k for k, o in zip(info["key"], info["option_ordinal"], strict=True) if len(set(o)) == 1]
    assert equal == ["IMPREASONGUN_W26"]
    assert r["counts"]["skipped"] == {"option_ordinal positions all equal (not an ordinal question)": 1}
    assert r["counts"]["questions_used"] == len(info) - 1
    assert r["metrics"]["predictions_for_skipped_questions"] == 1
    assert r["metrics"]["refusal_rate_questions"] == (combined["group"] == "Overall").sum()
    # the disagreement_500 folder: the steering subset (its W26 keys), not a survey
    dis = pd.read_csv(data / "human_resp" / "Pew_American_Trends_Panel_disagreement_500" / "info.csv")
    assert r["metrics"]["steer_subset_questions"] == dis["key"].isin(info["key"]).sum() > 0


def test_real_info_files_quirk_counts(eval_dir):
    """The 15 waves' info.csv (verbatim): 1506 rows, 12 with all-equal option_ordinal (left out of
    representativeness by helpers.py, kept in the refusal rate), 3 keys with five texts in W43."""
    waves = real_files.packed(eval_dir, "opinionqa_atp.json.gz")["waves"]
    infos = {w: real_files.info_frame(eval_dir, w) for w in waves}
    assert len(infos) == 15 and sum(len(i) for i in infos.values()) == 1506
    equal = [k for i in infos.values() for k, o in zip(i["key"], i["option_ordinal"], strict=True) if len(set(o)) == 1]
    assert len(equal) == 12 and "ELDFINANCEF1_W41" in equal
    repeated = {w: sorted(k for k, n in Counter(i["key"]).items() if n > 1) for w, i in infos.items()}
    assert {w: v for w, v in repeated.items() if v} == {"W43": ["IDIMPORT_W43", "RACESURV36_W43", "RACESURV37_W43"]}


def test_none_answer_is_an_answer(eval_dir):
    """GUNFRIEND_W26: 'None' is one of its options; pandas >= 2 would read it as missing by default."""
    data = eval_dir / "opinionqa_release"
    loaded = opinionqa.load(data, CFG12)
    hdf = real_files.respondents(eval_dir, "W26")
    none = hdf["GUNFRIEND_W26"] == "None"
    assert none.sum() > 0
    overall = loaded.extra["human"]["GUNFRIEND_W26"]["Overall"]
    assert overall["None"] == pytest.approx(hdf.loc[none, "WEIGHT_W26"].sum(), rel=1e-12)
    default = pd.read_csv(data / "human_resp" / RELEASE_W26 / "responses.csv", usecols=["GUNFRIEND_W26"])
    assert (default["GUNFRIEND_W26"] == "None").sum() == 0  # the quirk: the default reader loses them


def test_five_real_waves_match_official(eval_dir, surveys, tmp_path):
    """W26, W41, W42, W43, W92 (the waves with real respondents here), every info.csv row asked, in one run:
    the 'None' answers, W92's 695 panelists without a weight, W43's keys with five texts each, the
    equal-ordinal questions, and the refusal rate of refusals.ipynb."""
    data, infos = opinionqa_root(tmp_path / "oqa", eval_dir, surveys, real_files.SAV_WAVES)
    rows, combined = [], []
    for n, (wave, info) in enumerate(infos.items()):
        probs = random_probs(info, n + 1)
        rows += [{"id": q, "probs": p.tolist()} for q, p in zip(qids(info), probs, strict=True)]
        md = pd.read_csv(surveys[wave] / "metadata.csv")
        c = real_files.reference_scores(real_files.respondents(eval_dir, wave), md, info, probs, wave)
        combined.append(c.assign(wave=wave))
    combined = pd.concat(combined)
    r = run_precomputed(data, rows, tmp_path)
    assert_matches(r, real_files.reference_metrics(combined))
    assert r["metrics"]["respondents_without_weight"] == 695  # W92
    w43 = [q for q in (row["id"] for row in rows) if ":" in q]
    assert sorted({q.split(":")[0] for q in w43}) == ["IDIMPORT_W43", "RACESURV36_W43", "RACESURV37_W43"]
    assert len(w43) == 15
    equal = sum(len(set(o)) == 1 for info in infos.values() for o in info["option_ordinal"])
    assert r["counts"]["skipped"]["option_ordinal positions all equal (not an ordinal question)"] == equal == 5
    assert r["metrics"]["refusal_rate_questions"] == (combined["group"] == "Overall").sum()
    assert r["counts"]["questions_used"] + sum(r["counts"]["skipped"].values()) == r["counts"]["questions_total"]
    assert r["counts"]["questions_total"] == sum(len(i) for i in infos.values())
    # the answer "None" counts: left out (pandas >= 2's default), the headline moves
    nones = sum((real_files.respondents(eval_dir, w) == "None").to_numpy().sum() for w in infos)
    assert nones > 0


def test_w43_one_key_five_texts_kept_apart(eval_dir, surveys, tmp_path):
    """The five texts of IDIMPORT_W43 are five questions sharing one answer column: each its own id and
    prediction, the same human distribution; found by text and options when model_input has no key."""
    data, infos = opinionqa_root(tmp_path / "oqa", eval_dir, surveys, ["W43"], with_key=False)
    info = infos["W43"]
    loaded = opinionqa.load(data, CFG12)
    five = [q for q in loaded.questions if q.meta["key"] == "IDIMPORT_W43"]
    assert [q.id for q in five] == [f"IDIMPORT_W43:{n}" for n in range(1, 6)]
    assert len({q.text for q in five}) == 5
    assert len(loaded.questions) == len(info) == 114 and info["key"].nunique() == 102
    probs = random_probs(info, 43)
    r = run_precomputed(data, [{"id": q, "probs": p.tolist()} for q, p in zip(qids(info), probs, strict=True)],
                        tmp_path)  # fmt: skip
    md = pd.read_csv(surveys["W43"] / "metadata.csv")
    combined = real_files.reference_scores(real_files.respondents(eval_dir, "W43"), md, info, probs, "W43")
    ref = real_files.reference_metrics(combined)
    assert_matches(r, ref)
    # one question per key (a text index keeping one of the five) gives another number
    first = combined[~combined["qrow"].isin(np.flatnonzero(info["key"].duplicated()))]
    assert abs(real_files.reference_metrics(first)["headline"] - ref["headline"]) > 1e-4


def test_global_opinionqa_real_rows(eval_dir, tmp_path):
    """1301 real question rows over 130 countries, written as global_opinions.csv; a prediction for every
    row (all-zero rows included) completes; the headline equals SciPy's base-2 JS distance."""
    rows = real_files.packed(eval_dir, "goqa_awesel_eval.json.gz")["rows"]
    root = tmp_path / "goqa"
    root.mkdir()
    pd.DataFrame(
        [{"question": r["question"], "selections": f"defaultdict(<class 'list'>, {r['selections']!r})",
          "options": str(r["options"]), "source": "GAS"} for r in rows]
    ).to_csv(root / "global_opinions.csv", index=False)  # fmt: skip
    rng = np.random.default_rng(7)
    probs = [rng.dirichlet(np.ones(len(r["options"]))) for r in rows]
    preds = [{"id": i, "probs": p.tolist()} for i, p in enumerate(probs)]
    pred_file = fixtures.write_jsonl(tmp_path / "p.jsonl", preds)
    cfg = fixtures.compose_cfg(
        [f"data={root}", "benchmark=global_opinionqa", "model=precomputed", f"model.predictions={pred_file}",
         f"output_dir={tmp_path / 'out'}", "suites.global_opinionqa.steer_country=false"]
    )  # fmt: skip
    r = evaluate(cfg)["benchmarks"]["global_opinionqa"]
    per: dict[str, list[float]] = {}
    per_nat: dict[str, list[float]] = {}
    unusable = 0
    for r_, p in zip(rows, probs, strict=True):
        usable = {c: np.asarray(s, float) for c, s in r_["selections"].items()
                  if len(s) == len(r_["options"]) and sum(s) > 0}  # fmt: skip
        unusable += not usable
        for c, s in usable.items():
            per.setdefault(c, []).append(1 - jensenshannon(p, s / s.sum(), base=2))
            per_nat.setdefault(c, []).append(1 - jensenshannon(p, s / s.sum()))
    assert len(per) == 130 and unusable == 1  # one row all zeros; 9 (country, question) records are
    assert r["metrics"]["dropped_country_distributions"] == {"shares not a distribution": 9}
    assert r["counts"]["skipped"] == {"no usable country distribution": unusable}
    assert r["metrics"]["predictions_for_skipped_questions"] == unusable
    expected = np.mean([np.mean(v) for v in per.values()])
    assert r["headline"]["value"] == pytest.approx(expected, abs=1e-14)
    assert max(abs(r["per_group"][c] - np.mean(v)) for c, v in per.items()) < 1e-14
    # natural logs would shrink every distance by sqrt(ln 2): the 0.480 (base 2) -> 0.567 of the issue
    natural = np.mean([np.mean(v) for v in per_nat.values()])
    assert natural == pytest.approx(1 - math.sqrt(math.log(2)) * (1 - expected), abs=1e-12)
    assert 1 - math.sqrt(math.log(2)) * (1 - 0.480) == pytest.approx(0.567, abs=5e-4)
