"""OQA-XL from the release's .sav files: small release folders the tests write (unlabelled codes, missing
weights, "nan" options, too many options, the authors' metric by hand) and the real release (skipped when
absent): every question of every wave present is scored or counted, human distributions and groups equal
independent pandas computations and OpinionQA's released respondents, the authors' script's number is
reproduced, and the SPSS-code ordinal rule is measured against OpinionQA's curated ordinals."""

from __future__ import annotations

import ast
import io
import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance

from ava.evaluate.run import evaluate
from ava.evaluate.suites import atp_release, oqa_xl
from ava.evaluate.suites.pew import normalise_option
from tests.evaluate import fixtures, real_files
from tests.evaluate.fixtures import CFG


def run(data, tmp_path, lines, extra=()):
    preds = fixtures.write_jsonl(tmp_path / "preds.jsonl", lines)
    return evaluate(fixtures.compose_cfg([
        f"data={data}", "benchmark=oqa_xl", "model=precomputed", f"model.predictions={preds}",
        f"output_dir={tmp_path / 'out'}", *extra,
    ]))["benchmarks"]["oqa_xl"]  # fmt: skip


def test_unlabelled_codes_missing_weights_and_authors_metric(tmp_path):
    """GAME: "0.0" is an unlabelled code (W26 GAMETYPE_*); a respondent without weight is left out of the
    weighted distribution (and counted) but the authors' unweighted counts keep him; THERM lists 30 values."""
    questions = {"W7": {
        "GAME": {"question": "Which games do you play? Puzzle games", "options": ["0.0", "Puzzle games", "nan"]},
        "LIKE": {"question": "Do you like it?", "options": ["Not at all", "A lot", "Refused", "Somewhat"]},
        "THERM": {"question": "Rate it from 0 to 100", "options": [f"{v}.0" for v in range(30)]},
    }}  # fmt: skip
    labels = {"GAME_W7": {1: "Puzzle games", 99: "Refused"},
              "LIKE_W7": {1: "A lot", 2: "Somewhat", 3: "Not at all", 99: "Refused"},
              **fixtures.ATP_LABELS}  # fmt: skip
    columns = {"GAME_W7": [0, 1, 0, 1, 99], "LIKE_W7": [1, 2, 3, 99, 1], "THERM_W7": [0, 1, 2, 3, 4],
               "F_SEX_FINAL": [1, 2, 1, 2, 1], "F_PARTY_FINAL": [1, 2, 2, 1, None],
               "WEIGHT_W7": [1.0, 2.0, None, 0.5, 1.5]}  # fmt: skip
    data = fixtures.write_atp_release(tmp_path / "xl", 7, questions, columns, labels, nested=False)
    loaded = oqa_xl.load(data, CFG)
    game = loaded.by_id()["GAME_W7"]
    assert game.options == ("0.0", "Puzzle games") and game.meta["positions"] == [0.0, 1.0]
    assert loaded.skipped == {"more than 26 options (one letter each)": 1}
    stats = loaded.extra["stats"]
    assert stats["options_matched_as_unlabelled_codes"] == 1 and stats["nan_options_dropped"] == 1
    assert loaded.extra["no_weight"] == 1
    probs = {"GAME_W7": [0.3, 0.7], "LIKE_W7": [0.2, 0.5, 0.1, 0.2]}
    lines = [{"id": k, "probs": p} for k, p in probs.items()]
    r = run(data, tmp_path / "official", lines, ["suites.oqa_xl.attributes=[SEX,POLPARTY]"])
    # weighted (respondent 3 has no weight): GAME 0 -> 1.0, 1 -> 2.0 + 0.5; LIKE a lot 1.0 + 1.5, somewhat 2.0
    game_ref = 1 - wasserstein_distance([0, 1], [0, 1], [0.3, 0.7], [1.0, 2.5])
    like_ref = 1 - wasserstein_distance([3, 1, 2], [3, 1, 2], [0.2, 0.5, 0.2], [0.0, 2.5, 2.0]) / 2
    assert r["per_group"]["Overall"] == pytest.approx((game_ref + like_ref) / 2, abs=1e-12)
    assert r["metrics"]["respondents_without_weight"] == 1
    assert r["metrics"]["metric"].startswith("official")

    a = run(data, tmp_path / "authors", lines, ["suites.oqa_xl.metric=authors"])
    # the script: unweighted label counts (refusals out), probabilities as sample values, / (n - 1), sum / 6188
    v_game = 1 - wasserstein_distance([0, 1], [0.3, 0.7]) / 1  # "0.0" is no label: counted 0; Puzzle 2 of 2
    v_like = 1 - wasserstein_distance([1 / 4, 2 / 4, 0, 1 / 4], [0.2, 0.5, 0.1, 0.2]) / 3
    assert a["headline"]["value"] == pytest.approx((v_game + v_like) / 6188, abs=1e-15)
    assert "authors" in a["headline"]["metric"] and "not OpinionQA" in a["headline"]["metric"]
    assert a["metrics"]["authors_sum"] == pytest.approx(v_game + v_like, abs=1e-12)
    table = pd.read_csv(tmp_path / "authors" / "out" / "oqa_xl" / "per_question.csv")
    assert set(table["group"]) == {f"Overall ({oqa_xl.AUTHORS_LABEL})"}


def test_ordinal_rule_on_the_overlap(eval_dir):
    """OpinionQA's curated option_ordinal against the SPSS-code rule, on the OQA-XL entries of the 12 waves
    OpinionQA also covers (info.csv's option_mapping holds the SPSS codes: checked on the real W26 .sav)."""
    packed = real_files.packed(eval_dir, "opinionqa_atp.json.gz")["waves"]
    overlap = real_files.packed(eval_dir, "oqaxl_overlap.json.gz")["waves"]
    assert sum(len(v) for v in overlap.values()) == 808
    outcome: Counter = Counter()
    for wave, items in overlap.items():
        info = pd.read_csv(io.StringIO(packed[wave]["info_csv"])).drop_duplicates("key")
        for r in info.itertuples():
            if r.key.rsplit("_", 1)[0] not in items:
                continue
            mapping = {v: k for k, v in ast.literal_eval(r.option_mapping).items()}
            ordinal = [float(o) for o in ast.literal_eval(r.option_ordinal)]
            refs = ast.literal_eval(r.references)[: len(ordinal)]
            rule = oqa_xl.spss_positions(refs, [mapping[t] for t in refs])
            outcome["same" if rule == ordinal else "nominal" if len(set(ordinal)) == 1 else "other"] += 1
    assert outcome == {"same": 665, "nominal": 12, "other": 9}  # of 686 covered; README quotes these
    sav = eval_dir / "oqa_xl_release" / "ATP_data" / "PEW_ATP_Cleaned" / "W26_Apr17" / "W26_Apr17" / "ATP W26.sav"
    if sav.is_file():
        import pyreadstat

        _, meta = pyreadstat.read_sav(str(sav), metadataonly=True)
        info = pd.read_csv(io.StringIO(packed["W26"]["info_csv"])).drop_duplicates("key")
        checked = 0
        for r in info.itertuples():
            if r.key in meta.variable_value_labels:
                sav_codes = {float(k): normalise_option(v) for k, v in meta.variable_value_labels[r.key].items()}
                info_codes = {k: normalise_option(v) for k, v in ast.literal_eval(r.option_mapping).items()}
                assert sav_codes == info_codes, r.key  # same codes; texts equal up to case (NEVEROWN_W26)
                checked += 1
        assert checked > 60


@pytest.fixture(scope="module")
def release(eval_dir):
    path = eval_dir / "oqa_xl_release"
    if not (path / "opinionqa-xl.json").is_file():
        pytest.skip(f"OQA-XL release not present at {path}")
    return path


@pytest.mark.slow
def test_real_release_official_and_authors(eval_dir, release, tmp_path):
    info_dir = eval_dir / "opinionqa_release" / "human_resp"
    extra = [f"suites.oqa_xl.opinionqa_info={info_dir}"]
    cfg = CFG.copy()
    cfg.attributes, cfg.opinionqa_info = real_files.ATTRIBUTES, str(info_dir)
    loaded = oqa_xl.load(release, cfg)
    waves = json.loads((release / "opinionqa-xl.json").read_text())
    present = [w for w in waves if w in atp_release.find_sav_files(release)[0]]
    assert sorted(present) == ["W12", "W26", "W7", "W82"]
    in_present = sum(len(waves[w]) for w in present)
    assert loaded.total == 5753 and loaded.skipped["no .sav file for the wave"] == 5753 - in_present
    assert len(loaded.questions) + sum(loaded.skipped.values()) == 5753
    sources = Counter(q.meta.get("source") for q in loaded.questions if q.id.endswith("_W26"))
    assert sources == {"opinionqa": 39, "spss": 24}  # 39 of W26's 63 have an OpinionQA info.csv row

    # one question by hand: the W26 respondents as OpinionQA released them (answer texts, its 12 attributes)
    q = loaded.by_id()["WORLDDANGER_W26"]
    by_code = dict(zip(q.meta["answers"], q.meta["positions"], strict=True))
    assert by_code == {1.0: 1.0, 2.0: 2.0, 3.0: 1.5, 99.0: None} and q.meta["source"] == "opinionqa"
    resp = real_files.respondents(eval_dir, "W26")
    label = dict(zip(q.meta["labels"], q.meta["answers"], strict=True))
    human = loaded.extra["human"]["WORLDDANGER_W26"]
    w = resp["WEIGHT_W26"]
    masks = {"Overall": np.ones(len(resp), bool)} | {
        f"{a}={g}": (resp[a] == g).to_numpy() for a in real_files.ATTRIBUTES for g in atp_release.GROUPS[a]
    }
    for g, m in masks.items():
        ref = resp[m & w.notna().to_numpy()].groupby("WORLDDANGER_W26")["WEIGHT_W26"].sum()
        got = {k: v for k, v in human.get(g, {}).items() if v > 0}
        assert got == pytest.approx({label[t]: v for t, v in ref.items() if v > 0}), g

    rng = np.random.default_rng(0)
    probs = {q.id: rng.dirichlet(np.ones(len(q.options))) for q in loaded.questions}
    lines = [{"id": k, "probs": p.tolist()} for k, p in probs.items()]
    r = run(release, tmp_path / "official", lines, extra)
    assert r["counts"]["questions_total"] == 5753
    assert r["counts"]["questions_used"] + sum(r["counts"]["skipped"].values()) == 5753
    assert r["counts"]["questions_used"] > 180 and r["headline"]["value"] is not None

    import pyreadstat

    # the authors' script, written out from its text: pandas.read_spss labels, unweighted value counts without
    # refused / nan, the model's probabilities; wasserstein_distance on the two vectors as sample values
    total = 0.0
    for wave in present:
        sav = atp_release.find_sav_files(release)[0][wave]
        _, meta = pyreadstat.read_sav(str(sav), metadataonly=True)
        df = pd.read_spss(sav, usecols=[c for c in meta.column_names if c in probs])  # the columns scored
        for qcode in waves[wave]:
            qid = f"{qcode}_{wave}"
            if qid not in probs or qid not in df.columns:
                continue
            counts = Counter(v for v in df[qid].tolist() if str(v).lower() not in ("refused", "nan"))
            keys = loaded.by_id()[qid].options
            audience = np.array([counts.get(k, 0) for k in keys], dtype=float)
            if audience.sum() == 0 or len(keys) < 2:
                continue
            v = 1 - wasserstein_distance(audience / audience.sum(), probs[qid] / probs[qid].sum()) / (len(keys) - 1)
            total += v
    a = run(release, tmp_path / "authors", lines, [*extra, "suites.oqa_xl.metric=authors"])
    assert a["headline"]["value"] == pytest.approx(total / 6188, abs=1e-12)


def test_f_columns_and_labels_to_opinionqa_groups():
    """Column suffixes differ by wave; labels reach OpinionQA's groups (W7, W26, W82 label texts)."""
    assert atp_release.source_column_hisp(["F_HISP_ORIGIN", "F_HISP_RECRUITMENT"]) == "F_HISP_RECRUITMENT"
    assert atp_release.source_column(["F_PARTYLN_FINAL", "F_PARTY_TYPOLOGY"], "POLPARTY") == "F_PARTY_TYPOLOGY"
    assert atp_release.source_column(["F_EDUCCAT_FINAL"], "EDUCATION") is None  # 3 categories: not OpinionQA's
    cases = {
        ("INCOME", "10 to under $20,000"): "Less than $30,000",
        ("INCOME", "100 to under $150,000 [OR]"): "$100,000 or more",
        ("INCOME", "$30,000 to less than $40,000"): "$30,000-$50,000",
        ("INCOME", "$30-$74,999"): None,  # straddles two groups
        ("INCOME", "(VOL) Don't know/Refused"): None,
        ("RELIG", "Agnostic (not sure if there is a God)"): "Agnostic",
        ("RELIG", "Something else (SPECIFY)"): "Other",
        ("POLPARTY", "(VOL) Other party"): "Other",
        ("POLIDEOLOGY", "Liberal [OR]"): "Liberal",
        ("SEX", "A woman"): "Female",
        ("CITIZEN", "Not US Citizen"): "No",
        ("EDUCATION", "Associate\u2019s degree"): "Associate's degree",
        ("MARITAL", "Living with a partner"): None,
    }
    for (attr, label), group in cases.items():
        assert atp_release.label_group(attr, label) == group, (attr, label)
