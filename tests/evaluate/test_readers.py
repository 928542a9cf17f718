"""Each benchmark reader on small files in the official layouts, plus missing files/columns."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from ava.evaluate.suites import SUITES, culturebank, culturenli, global_opinionqa, opinionqa, oqa_xl
from ava.evaluate.suites.base import SuiteDataError
from ava.evaluate.suites.global_opinionqa import parse_selections
from tests.evaluate import fixtures
from tests.evaluate.fixtures import CFG, human_reference


@pytest.mark.parametrize("with_key", [True, False])
def test_opinionqa_reader(tmp_path, with_key):
    loaded = opinionqa.load(fixtures.write_opinionqa(tmp_path, with_key=with_key), CFG)
    ids = [q.id for q in loaded.questions]
    assert ids == ["CARS1_W99", "WORK3_W99", "INDUSTRY_W99"]  # the equal-ordinal one: refusal rate only
    assert loaded.skipped == {}
    assert loaded.by_id()["INDUSTRY_W99"].meta["unscorable"].startswith("option_ordinal positions all equal")
    work = loaded.by_id()["WORK3_W99"]
    assert work.options == ("Negative impact", "Positive impact", "No impact either way", "Refused")
    assert work.meta["positions"] == [2.0, 1.0, 1.5, None]
    for key in ids[:2]:
        assert loaded.extra["human"][key] == human_reference(fixtures.OQA_RESPONSES, key)  # exact sums
    steer = loaded.extra["steer"]
    assert steer["qa"][0][:2] == ("POLPARTY=Democrat", "qa") and steer["qa"][0][2]["answer"] == "B"
    assert steer["portray"][0][0] == "POLPARTY=Republican"


def test_opinionqa_requests_follow_helm_prompt(tmp_path):
    loaded = opinionqa.load(fixtures.write_opinionqa(tmp_path), CFG)
    reqs = opinionqa.requests(loaded, CFG)
    plain = [r for r in reqs if r.group is None]
    assert plain[0].prompt == (
        "Question: How much have you heard about driverless cars?\nA. A lot\nB. A little\n"
        "C. Nothing at all\nD. Refused\nAnswer:"
    )
    assert plain[0].letters == ("A", "B", "C", "D")
    qa = next(r for r in reqs if r.context == "qa" and r.qid == "CARS1_W99")
    assert qa.prompt.startswith("Question: In politics today, do you consider yourself a\nA. Republican\n")
    assert "Answer: B\n\nQuestion: How much" in qa.prompt
    assert len(reqs) == 3 + 2 * 3  # every question unsteered; three steering contexts for the two ordinal ones


def test_opinionqa_missing_files_are_clear(tmp_path):
    with pytest.raises(SuiteDataError, match="human_resp"):
        opinionqa.load(tmp_path, CFG)
    root = fixtures.write_opinionqa(tmp_path / "q")
    (root / "human_resp" / "American_Trends_Panel_W99" / "responses.csv").unlink()
    with pytest.raises(SuiteDataError, match="responses.csv not found"):
        opinionqa.load(root, CFG)


def test_oqa_xl_reader(tmp_path):
    """The release layout: the .sav two folders down, the __MACOSX copy ignored and counted, "nan" dropped."""
    loaded = oqa_xl.load(fixtures.write_oqa_xl(tmp_path), CFG)
    q, nohuman = loaded.questions
    assert q.id == "SPORTPOL_W54"
    assert q.options == ("Not too important", "Refused", "Very important", "Somewhat important")
    assert q.meta["positions"] == [3.0, None, 1.0, 2.0] and q.meta["answers"] == [3.0, 99.0, 1.0, 2.0]
    assert nohuman.meta["unscorable"] == oqa_xl.NO_COLUMN and loaded.skipped == {}
    stats = loaded.extra["stats"]
    assert stats["nan_options_dropped"] == 1 and stats["sav_files"] == 1
    assert stats["sav_files_ignored"] == {"__MACOSX / ._ resource-fork files": 1}
    (tmp_path / "opinionqa-xl.json").write_text("{not json")
    with pytest.raises(SuiteDataError, match="malformed JSON"):
        oqa_xl.load(tmp_path, CFG)


def test_goqa_selections_parsed_safely(tmp_path):
    assert parse_selections("defaultdict(<class 'list'>, {'A': [0.5, 0.5]})") == {"A": [0.5, 0.5]}
    assert parse_selections("{'A': [1, 0]}") == {"A": [1.0, 0.0]}
    with pytest.raises(ValueError, match="selections is not a literal"):
        parse_selections("defaultdict(<class 'list'>, {'X': __import__('os').getcwd()})")
    loaded = global_opinionqa.load(fixtures.write_goqa(tmp_path), None)
    assert [q.id for q in loaded.questions] == ["0", "1"]  # 0-based rows
    assert set(loaded.questions[1].meta["countries"]) == {"Belgium", "Nigeria"}
    assert loaded.skipped == {"unreadable row (ValueError)": 1}
    assert loaded.extra["dropped_country_distributions"] == {"shares/options length mismatch": 1}


HOSTILE_CELLS = {
    "over-the-cap": "-" * 100_000 + "1",
    "deeply-nested": "-" * 90_000 + "1",
    "long-sum": "1" + "+1j" * 30_000,
    "nested-lists": "[" * 30_000 + "]" * 30_000,
}


@pytest.mark.parametrize("cell", HOSTILE_CELLS.values(), ids=HOSTILE_CELLS.keys())
def test_hostile_literal_cells_skip_their_row_only(tmp_path, cell):
    """A selections/options or rating cell that would exhaust the parser: that row is skipped and counted."""
    import pandas as pd

    good = {"question": "Q?", "selections": "{'Belgium': [0.25, 0.75]}", "options": "['Yes', 'No']", "source": "s"}
    rows = [good, {**good, "selections": cell}, {**good, "options": cell}, good]
    pd.DataFrame(rows).to_csv(tmp_path / "global_opinions.csv", index=False)
    loaded = global_opinionqa.load(tmp_path, None)
    assert [q.id for q in loaded.questions] == ["0", "3"]
    assert loaded.skipped == {"unreadable row (ValueError)": 2}

    lines = ["premise\thypothesis\tus_ratings\tin_ratings", "p\th\t['E', 'E']\t['C', 'N', 'C']",
             f"p2\th2\t{cell}\t['E']"]
    (tmp_path / "data.tsv").write_text("\n".join(lines) + "\n")
    loaded = culturenli.load(tmp_path, None)
    assert len(loaded.questions) == 1 and loaded.skipped == {"unreadable ratings": 1}


def test_culturenli_reader_majority_labels(tmp_path):
    loaded = culturenli.load(fixtures.write_culturenli(tmp_path), None)
    labels = [(q.meta["labels"]["US"], q.meta["labels"]["IN"]) for q in loaded.questions]
    assert labels == [("C", "E"), ("E", "C"), ("E", "E"), ("N", "C")]
    assert culturenli.majority_label(["N", "E", "E", "N"]) == "N"  # ties go to the first seen
    (tmp_path / "data.tsv").write_text("premise\thypothesis\tus_ratings\n")
    with pytest.raises(SuiteDataError, match="in_ratings"):
        culturenli.load(tmp_path, None)


def test_culturebank_reader(tmp_path):
    cfg = OmegaConf.create(
        {
            "template": "{cultural_group}: {actor} {actor_behavior} {context}\n{options}",
            "option_format": "{letter}. {option}",
            "id_column": None,
            "threshold": 0.5,
        }
    )
    loaded = culturebank.load(fixtures.write_culturebank(tmp_path), cfg)
    assert [q.meta["target"] for q in loaded.questions] == [1, 0, 1, 0]
    assert loaded.skipped == {"agreement missing or not a number": 1}
    assert (
        culturebank.requests(loaded, cfg)[0].prompt
        == "Japanese: people bow before eating at dinner\nA. Yes\nB. No"
    )
    bad = OmegaConf.merge(cfg, {"template": "{no_such_column}"})
    with pytest.raises(SuiteDataError, match="no_such_column"):
        culturebank.load(tmp_path, bad)


def test_registry_names():
    from ava.evaluate import suites

    assert set(SUITES) == {"opinionqa", "oqa_xl", "global_opinionqa", "culturenli", "culturebank", "gss"}
    with pytest.raises(ValueError, match="unknown benchmark"):
        suites.get("gss2")


def test_opinionqa_repeated_steering_group_and_bad_qa_answer(tmp_path):
    import pandas as pd

    root = fixtures.write_opinionqa(tmp_path)
    bios = [
        {"question": f"Description: I am a Democrat ({i}).", "md": "POLPARTY", "subgroup": "Democrat"}
        for i in range(2)
    ]
    pd.DataFrame(bios).to_csv(root / "model_input" / "steer-bio.csv", sep="\t", index=False)
    reqs = opinionqa.requests(opinionqa.load(root, CFG), CFG)
    assert {r.context for r in reqs if r.context and r.context.startswith("bio")} == {"bio", "bio:2"}
    qa = pd.read_csv(root / "model_input" / "steer-qa.csv", sep="\t").assign(correct="Green")
    qa.to_csv(root / "model_input" / "steer-qa.csv", sep="\t", index=False)
    with pytest.raises(SuiteDataError, match="correct='Green' is not among its options"):
        opinionqa.load(root, CFG)


def test_opinionqa_disagreement_subset_limits_steering(tmp_path):
    import pandas as pd

    root = fixtures.write_opinionqa(tmp_path)
    q = dict((k, q) for k, q, _, _ in fixtures.OQA_INFO)["CARS1_W99"]
    opts = str(["A lot", "A little", "Nothing at all", "Refused"])
    pd.DataFrame([{"question": q, "options": opts}]).to_csv(
        root / "model_input" / opinionqa.DISAGREEMENT, sep="\t", index=False
    )
    loaded = opinionqa.load(root, CFG)
    assert loaded.extra["steer_subset"] == {"CARS1_W99"} and len(loaded.questions) == 3
    steered = [r for r in opinionqa.requests(loaded, CFG) if r.group is not None]
    assert {r.qid for r in steered} == {"CARS1_W99"} and len(steered) == 3
