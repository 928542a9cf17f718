"""GSS suite: a labelled Stata file the test writes (pyreadstat) covering the question file's quirks, scored
end to end from precomputed lines and re-computed here with pandas/SciPy; the real gssr files (skipped when
absent) against SOURCE.md's reference distributions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from scipy.stats import wasserstein_distance

from ava.evaluate.run import evaluate
from ava.evaluate.suites import gss, gss_options
from ava.evaluate.suites.base import SuiteDataError
from ava.evaluate.suites.labelled import read_labelled
from tests.evaluate import fixtures

CFG = OmegaConf.load(Path(__file__).resolve().parents[2] / "conf" / "suites" / "gss.yaml").gss
YEARS = [1980, 1990, 2000, 2010, 2020]  # 2020: not in the data
FEFAM_Q = "It is much better for everyone involved if the man is the achiever outside the home."
QUESTIONS = {
    # options in first-appearance order, not code order (codes 2, 1, 4, 3)
    "FEFAM": {"Question": FEFAM_Q, "Options": ["AGREE", "STRONGLY AGREE", "STRONGLY DISAGREE", "DISAGREE"]},
    # a missing-category option: shown, treated as a refusal
    "CAPPUN": {"Question": "Do you favor or oppose the death penalty for murder?",
               "Options": ["OPPOSE", "FAVOR", "REFUSED"]},
    # unlabelled codes written as numbers
    "TRUST": {"Question": "Can most people be trusted, on a scale of one to three?", "Options": [3.0, 1.0, 2.0]},
    # the old release's short labels: matched as abbreviations ("NOT LEGAL" first: "LEGAL" fits both labels)
    "GRASS": {"Question": "Do you think the use of marijuana should be made legal or not?",
              "Options": ["NOT LEGAL", "LEGAL"]},
    # labels that are no abbreviation of the data's: no code
    "RACOPEN": {"Question": "Which law would you vote for, the first or the second?",
                "Options": ["OWNER DECIDES", "CANT DISCRIMINATE", "NEITHER"]},
    "SHORT": {"Question": "Probe: in general", "Options": ["YES", "NO"]},
    "NOTAVAIL": {"Question": "Not available", "Options": ["YES", "NO"]},
    "ONEOPT": {"Question": "A question that lists a single option only?", "Options": ["YES"]},
    "NOVAR": {"Question": "A variable that the data file does not have at all?", "Options": ["YES", "NO"]},
}  # fmt: skip
LABELS = {
    "fefam": {1: "strongly agree", 2: "agree", 3: "disagree", 4: "strongly disagree"},
    "cappun": {1: "favor", 2: "oppose"},
    "grass": {1: "should be legal", 2: "should not be legal"},
    "racopen": {1: "first law", 2: "second law", 3: "neither"},
    "short": {1: "yes", 2: "no"},
    "notavail": {1: "yes", 2: "no"},
    "oneopt": {1: "yes"},
}
CODES = {"FEFAM": [1, 2, 3, 4], "CAPPUN": [1, 2], "TRUST": [1, 2, 3], "GRASS": [1, 2]}


def respondents(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for year, n in ((1980, 40), (1990, 35), (2000, 30), (2010, 45)):
        for _ in range(n):
            rows.append({
                "year": year,
                "fefam": np.nan if year == 2000 else float(rng.choice([1, 2, 3, 4, np.nan], p=[.2, .3, .3, .1, .1])),
                "cappun": float(rng.choice([1, 2])),
                "grass": float(rng.choice([1, 2])),
                "racopen": float(rng.choice([1, 2, 3])),
                "trust": float(rng.choice([1, 2, 3])),
                "short": 1.0, "notavail": 1.0, "oneopt": 1.0,
                "wtssps": np.nan if rng.random() < 0.05 else float(rng.uniform(0.3, 2.5)),
            })  # fmt: skip
    return pd.DataFrame(rows)


def write_gss(folder, df: pd.DataFrame, suffix: str = ".dta"):
    import pyreadstat

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "questions_final.json").write_text(json.dumps(QUESTIONS))
    path = folder / f"gss_test{suffix}"
    writer = pyreadstat.write_dta if suffix == ".dta" else pyreadstat.write_sav
    writer(df, str(path), variable_value_labels=LABELS)
    return folder


def human(df: pd.DataFrame, var: str, year: int | None = None) -> np.ndarray:
    """Weighted shares over the valid codes (pandas), the year's or pooled over all years."""
    d = df[df["wtssps"].notna() & df[var.lower()].isin(CODES[var])]
    if year is not None:
        d = d[d["year"] == year]
    s = d.groupby(var.lower())["wtssps"].sum().reindex(CODES[var], fill_value=0.0)
    return (s / s.sum()).to_numpy()


def rep(m, h) -> float:
    pos = np.arange(1, len(h) + 1)
    return 1 - wasserstein_distance(pos, pos, np.asarray(m) / np.sum(m), h) / (len(h) - 1)


def mean_pos(p) -> float:
    p = np.asarray(p) / np.sum(p)
    return float(np.dot(p, np.arange(len(p))) / (len(p) - 1))


def test_gss_dta_quirks_end_to_end(tmp_path):
    df = respondents()
    data = write_gss(tmp_path / "gss", df)
    cfg = OmegaConf.merge(CFG, {"years": YEARS})
    loaded = gss.load(data, cfg)
    assert [q.id for q in loaded.questions] == ["FEFAM", "CAPPUN", "TRUST", "GRASS"]
    assert loaded.by_id()["GRASS"].meta["letters"] == ("B", "A") and loaded.extra["stats"] == {
        "options_matched_as_abbreviations": 2}
    assert dict(loaded.skipped) == {
        "option text matches no value label or code": 1,
        "question of fewer than 6 words (infer-steer.py's filter)": 1,
        "question text 'Not available'": 1,
        "fewer than two options": 1,
        "variable not in the data files": 1,
    }
    assert loaded.extra["no_weight"] == int(df["wtssps"].isna().sum()) > 0
    fefam = loaded.by_id()["FEFAM"]
    assert fefam.options == ("STRONGLY AGREE", "AGREE", "DISAGREE", "STRONGLY DISAGREE")
    assert fefam.meta["letters"] == ("B", "A", "D", "C")
    assert loaded.by_id()["CAPPUN"].options == ("FAVOR", "OPPOSE", "REFUSED")
    assert loaded.by_id()["CAPPUN"].meta["refusal"] == [False, False, True]
    assert loaded.by_id()["TRUST"].options == ("1.0", "2.0", "3.0")
    reqs = {r.key: r for r in gss.requests(loaded, cfg)}
    assert ("FEFAM", None, "2000") not in reqs and ("FEFAM", None, "2020") not in reqs  # not asked
    assert reqs[("FEFAM", None, "1980")].prompt == (
        "Answer the following question as a person living in the year 1980.\n"
        f"Question: {FEFAM_Q}\nA. AGREE\nB. STRONGLY AGREE\nC. STRONGLY DISAGREE\nD. DISAGREE\n"
        "Answer only with A,B,C or D and nothing else :"
    )
    assert reqs[("TRUST", None, None)].prompt.startswith("Question: Can most")
    assert "\nA. 3.0\nB. 1.0\nC. 2.0\n" in reqs[("TRUST", None, None)].prompt

    rng = np.random.default_rng(1)
    probs = {key: rng.dirichlet(np.ones(len(r.letters))).tolist() for key, r in reqs.items()}
    lines = [{"id": q, "probs": p} | ({} if y is None else {"year": int(y)}) for (q, _, y), p in probs.items()]
    preds = fixtures.write_jsonl(tmp_path / "gss.jsonl", lines)
    out = tmp_path / "out"
    doc = evaluate(fixtures.compose_cfg([
        f"data={data}", "benchmark=gss", "model=precomputed", f"model.predictions={preds}", f"output_dir={out}",
        f"suites.gss.years={YEARS}",
    ]))  # fmt: skip
    r = doc["benchmarks"]["gss"]

    def model(q, y):
        p = np.asarray(probs[(q, None, None if y is None else str(y))])
        return p[:2] if q == "CAPPUN" else p  # the refusal-like option last, dropped

    per_year, reps, base, delta, fits = {}, [], {"uniform": [], "pooled": [], "previous_wave": []}, [], {}
    right = changes = 0
    for q in ["FEFAM", "CAPPUN", "TRUST", "GRASS"]:
        asked = [y for y in YEARS if y in df.loc[df[q.lower()].isin(CODES[q]), "year"].unique()]
        hs, ms = [], []
        for i, y in enumerate(asked):
            h = human(df, q, y)
            v = rep(model(q, y), h)
            per_year.setdefault(str(y), []).append(v)
            reps.append(v)
            base["uniform"].append(rep(np.ones(len(h)), h))
            base["pooled"].append(rep(human(df, q), h))
            if i:
                base["previous_wave"].append(rep(human(df, q, asked[i - 1]), h))
            delta.append(v - rep(model(q, None), h))
            hs.append(mean_pos(h))
            ms.append(mean_pos(model(q, y)))
        fits[q] = np.corrcoef(ms, hs)[0, 1]
        for i in range(len(hs) - 1):
            if abs(hs[i + 1] - hs[i]) >= 0.02:
                changes += 1
                right += np.sign(hs[i + 1] - hs[i]) == np.sign(ms[i + 1] - ms[i])
    assert r["headline"]["value"] == pytest.approx(np.mean(reps), abs=1e-12)
    assert r["per_group"] == pytest.approx({y: np.mean(v) for y, v in per_year.items()}, abs=1e-12)
    m = r["metrics"]
    for b, vals in base.items():
        assert m["baselines"][b]["overall"] == pytest.approx(np.mean(vals), abs=1e-12)
    assert m["delta_rep_year_minus_no_year"]["overall"] == pytest.approx(np.mean(delta), abs=1e-12)
    assert m["temporal_pearson_mean"] == pytest.approx(np.mean(list(fits.values())), abs=1e-12)
    assert m["temporal_direction_changes"] == changes > 0
    assert m["temporal_direction_share"] == pytest.approx(right / changes)
    assert m["pairs_skipped"] == {"variable not asked in the year": 4 + 1}  # 2020 x 4, FEFAM 2000
    assert m["respondents_without_weight"] == int(df["wtssps"].isna().sum())

    table = pd.read_csv(out / "gss" / "per_question.csv")
    row = table[(table["id"] == "FEFAM") & (table["year"] == 1990) & (table["group"] == "year prompt")].iloc[0]
    assert row["value"] == pytest.approx(rep(model("FEFAM", 1990), human(df, "FEFAM", 1990)), abs=1e-12)
    assert json.loads(row["options"]) == list(fefam.options) and json.loads(row["ordinals"]) == [1, 2, 3, 4]
    pearson = table[(table["id"] == "CAPPUN") & (table["group"] == "temporal fit: pearson")]["value"].item()
    assert pearson == pytest.approx(fits["CAPPUN"], abs=1e-12)


def test_gss_weights_and_bad_input(tmp_path):
    df = respondents(2)
    data = write_gss(tmp_path / "sav", df.rename(columns={"wtssps": "wtssall"}), ".sav")
    with pytest.raises(SuiteDataError, match="none of the weight columns"):
        gss.load(data, OmegaConf.merge(CFG, {"weights": ["wtssps"]}))
    loaded = gss.load(data, CFG)  # wtssps absent: wtssall, the next listed
    h = loaded.extra["human"]["FEFAM"][1990]
    assert h / h.sum() == pytest.approx(human(df, "FEFAM", 1990))
    (data / "questions_final.json").write_text("{broken")
    with pytest.raises(SuiteDataError, match="malformed JSON"):
        gss.load(data, CFG)
    with pytest.raises(SuiteDataError, match="questions_final.json"):
        gss.load(tmp_path, CFG)


def test_benchmark_all_includes_gss_and_oqa_xl(tmp_path):
    root = tmp_path / "data"
    fixtures.write_oqa_xl(root / "oqa_xl")
    write_gss(root / "gss", respondents())
    loaded = gss.load(root / "gss", CFG)
    preds = tmp_path / "preds"
    fixtures.write_jsonl(preds / "oqa_xl.jsonl", [{"id": "SPORTPOL_W54", "probs": [0.4, 0.1, 0.2, 0.3]}])
    lines = [{"id": r.qid, "probs": [1 / len(r.letters)] * len(r.letters)} | ({"year": int(r.context)} if r.context
             else {}) for r in gss.requests(loaded, CFG)]  # fmt: skip
    fixtures.write_jsonl(preds / "gss.jsonl", lines)
    doc = evaluate(fixtures.compose_cfg([f"data={root}", "benchmark=all", "model=precomputed",
                                         f"model.predictions={preds}", f"output_dir={tmp_path / 'out'}"]))
    assert list(doc["benchmarks"]) == ["oqa_xl", "gss"]
    assert doc["benchmarks"]["gss"]["headline"]["value"] is not None
    for name in ("oqa_xl", "gss"):
        assert (tmp_path / "out" / name / "per_question.csv").is_file()


# ---- the real gssr files ---------------------------------------------------------------------------------------

SOURCE_WTSSPS = {  # SOURCE.md section 2a: wtssps-weighted shares, (n, shares)
    ("fefam", 1977): (1503, [0.1815, 0.4648, 0.2929, 0.0607]),
    ("fefam", 1985): (1502, [0.0946, 0.3638, 0.4039, 0.1377]),
    ("fefam", 1996): (2353, [0.0809, 0.3218, 0.4306, 0.1668]),
    ("fefam", 2006): (1968, [0.0921, 0.2626, 0.4756, 0.1697]),
    ("fefam", 2022): (2348, [0.0615, 0.1892, 0.4371, 0.3121]),
    ("polviews", 1974): (1410, [0.0163, 0.1385, 0.1504, 0.4018, 0.1554, 0.1108, 0.0268]),
    ("polviews", 1994): (2879, [0.0273, 0.1114, 0.1309, 0.3636, 0.1655, 0.1644, 0.0370]),
    ("polviews", 2022): (3426, [0.0494, 0.1308, 0.1127, 0.3561, 0.1324, 0.1627, 0.0559]),
}
SOURCE_WTSSALL = {("fefam", 1977): [0.1897, 0.4698, 0.2817, 0.0588], ("fefam", 2006): [0.0907, 0.2622, 0.4739, 0.1732]}


@pytest.fixture(scope="module")
def gss_dir(shared_data):
    src = shared_data / "eval" / "gss"
    if not (src / "gss_sub.rda").is_file():
        pytest.skip(f"real GSS files not present at {src}")
    return src


def test_real_gss_sub_matches_source_distributions(gss_dir, tmp_path):
    frame = read_labelled(gss_dir / "gss_sub.rda", lambda cols: ["year", "fefam", "polviews", "wtssps", "wtssall"])
    assert frame.labels["fefam"] == {1.0: "strongly agree", 2.0: "agree", 3.0: "disagree", 4.0: "strongly disagree"}
    assert frame.labels["polviews"][4.0] == "moderate, middle of the road" and len(frame.labels["polviews"]) == 7
    d = frame.data
    for (var, year), (n, shares) in SOURCE_WTSSPS.items():
        sel = d[(d["year"] == year) & d[var].notna()]
        assert len(sel) == n
        got = sel.groupby(var)["wtssps"].sum() / sel["wtssps"].sum()
        assert got.round(4).tolist() == shares
    # the suite on gss_sub alone: FEFAM is a question of the authors' file; its human distributions
    (tmp_path / "questions_final.json.gz").symlink_to(gss_dir / "questions_final.json.gz")
    (tmp_path / "gss_sub.rda").symlink_to(gss_dir / "gss_sub.rda")
    for weights, table in ((["wtssps", "wtssall"], SOURCE_WTSSPS), (["wtssall"], SOURCE_WTSSALL)):
        loaded = gss.load(tmp_path, OmegaConf.merge(CFG, {"weights": weights}))
        # of the six keys gss_sub has, BALLOT is two words and OVERSAMP's options are weights
        assert {q.id for q in loaded.questions} == {"SEX", "RACE", "FEFAM", "VPSU"}
        assert loaded.skipped["non-integer numeric options (a weight or measure, not answer codes)"] == 1
        hum = loaded.extra["human"]["FEFAM"]
        for (var, year), ref in table.items():
            if var == "fefam":
                shares = ref[1] if isinstance(ref, tuple) else ref
                assert (hum[year] / hum[year].sum()).round(4).tolist() == shares
    assert loaded.extra["no_weight"] == 10_885  # wtssall is missing for 2021, 2022, 2024


@pytest.mark.slow
def test_real_gss_sub_and_panel_command(gss_dir, tmp_path):
    """Both gssr files (the panel's 4,296 columns parsed once), every question-year asked answered by a
    precomputed line; the run completes, 2016/2018 come from gss_sub, 2020 from the panel."""
    data = tmp_path / "gss"
    data.mkdir()
    for name in ("questions_final.json.gz", "gss_sub.rda", "gss_panel20.rda"):
        (data / name).symlink_to(gss_dir / name)
    years = [1977, 1996, 2016, 2018, 2020]
    cfg = OmegaConf.merge(CFG, {"years": years})
    loaded = gss.load(data, cfg)
    assert loaded.total == 3982 and loaded.skipped["variable not in the data files"] == 3982 - 824
    fefam = loaded.extra["human"]["FEFAM"]
    assert {1977, 1996, 2016, 2018, 2020} <= set(fefam)
    sub = read_labelled(gss_dir / "gss_sub.rda", lambda cols: ["year", "fefam", "wtssps"]).data
    sub = sub[(sub["year"] == 2016) & sub["fefam"].notna()]
    ref = sub.groupby("fefam")["wtssps"].sum() / sub["wtssps"].sum()
    assert fefam[2016] / fefam[2016].sum() == pytest.approx(ref.to_numpy(), abs=1e-12)  # gss_sub's, wtssps
    reqs = gss.requests(loaded, cfg)
    lines = [{"id": r.qid, "probs": [1 / len(r.letters)] * len(r.letters)} | ({"year": int(r.context)} if r.context
             else {}) for r in reqs]  # fmt: skip
    preds = fixtures.write_jsonl(tmp_path / "gss.jsonl", lines)
    doc = evaluate(fixtures.compose_cfg([
        f"data={data}", "benchmark=gss", "model=precomputed", f"model.predictions={preds}",
        f"output_dir={tmp_path / 'out'}", f"suites.gss.years={years}",
    ]))  # fmt: skip
    r = doc["benchmarks"]["gss"]
    # a uniform model is the uniform baseline, pair for pair
    assert r["headline"]["value"] == pytest.approx(r["metrics"]["baselines"]["uniform"]["overall"], abs=1e-12)
    assert r["counts"]["questions_used"] == len(loaded.questions) > 400
    assert set(r["per_group"]) == {str(y) for y in years}


@pytest.mark.slow
def test_tiny_model_reads_letters_in_code_order(tmp_path):
    """With a model, the distribution is read over the prompt's letters in code order: FEFAM's letters B, A,
    D, C give the probabilities of codes 1..4, the prompt-order reading permuted; a model run completes."""
    from ava.evaluate.scoring import letter_distributions
    from ava.evaluate.suites.base import Request
    from ava.models.load import load_model_and_tokenizer
    from tests.evaluate.fixtures import TINY

    data = write_gss(tmp_path / "gss", respondents())
    cfg = OmegaConf.merge(CFG, {"years": YEARS})
    req = next(r for r in gss.requests(gss.load(data, cfg), cfg) if r.key == ("FEFAM", None, "1990"))
    model, tok = load_model_and_tokenizer(TINY, device="cpu")
    plain = Request(req.qid, None, "plain", req.prompt, ("A", "B", "C", "D"))
    dists, _ = letter_distributions(model, tok, [req, plain], 2, False)
    assert dists[req.key] == pytest.approx(dists[plain.key][[1, 0, 3, 2]], abs=1e-12)
    doc = evaluate(fixtures.compose_cfg([f"data={data}", "benchmark=gss", "model=tiny", "device=cpu",
                                         f"output_dir={tmp_path / 'out'}", f"suites.gss.years={YEARS}"]))
    r = doc["benchmarks"]["gss"]
    assert r["headline"]["value"] is not None and r["counts"]["questions_used"] == 4


codes_of = gss_options.option_codes


def test_old_labels_matched_as_abbreviations():
    """The question file's labels from the 1972-2018 release (SOURCE.md, the real panel's value labels)."""
    premarsx = {1.0: "always wrong", 2.0: "almost always wrong", 3.0: "sometimes wrong", 4.0: "not wrong at all",
                5.0: "other"}  # fmt: skip
    codes, n = codes_of(["NOT WRONG AT ALL", "ALWAYS WRONG", "SOMETIMES WRONG", "ALMST ALWAYS WRG"],
                                 premarsx, set())  # fmt: skip
    assert codes == [4.0, 1.0, 3.0, 2.0] and n == 1
    mobile = {1.0: "same state, same city", 2.0: "same state, different city", 3.0: "different state"}
    assert codes_of(["DIFFERENT STATE", "SAME ST,DIF CITY", "SAME CITY"], mobile, set()) == ([3, 2, 1], 2)
    spkath = {1.0: "yes, allowed to speak", 2.0: "not allowed"}
    assert codes_of(["ALLOWED", "NOT ALLOWED"], spkath, set()) == ([1.0, 2.0], 1)
    reliten = {1.0: "strong", 2.0: "not very strong", 3.0: "somewhat strong (vol.)", 4.0: "no religion"}
    assert codes_of(["STRONG", "NOT VERY STRONG", "SOMEWHAT STRONG", "NO RELIGION"], reliten, set())[0] == [
        1.0, 2.0, 3.0, 4.0]  # fmt: skip
    # "AGREE" abbreviates both remaining labels: no guess; a number is never shortened
    assert codes_of(["AGREE", "DISAGREE"], {1.0: "agree strongly", 2.0: "agree somewhat",
                                                    3.0: "disagree"}, set()) == (None, 0)  # fmt: skip
    assert codes_of(["1 CHILD", "NONE"], {1.0: "10 children", 0.0: "none"}, set()) == (None, 0)
    trust = {1.0: "can trust", 2.0: "can't trust", 3.0: "depends"}
    assert codes_of(["CANT TRUST", "CAN TRUST", "DEPENDS"], trust, set())[0] == [2.0, 1.0, 3.0]
    assert codes_of(["CAN TRUST"], {2.0: "can't trust", 3.0: "other"}, set()) == (None, 0)
    helpful = {1.0: "try to be helpful", 2.0: "looking out for themselves", 3.0: "depends"}
    assert codes_of(["LOOKOUT FOR SELF", "HELPFUL", "DEPENDS"], helpful, set()) == (None, 0)
