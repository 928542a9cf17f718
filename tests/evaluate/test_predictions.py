"""Malformed predictions and bad benchmark input: each a clear error naming the line, or a counted fix."""

from __future__ import annotations

import pytest

from ava.evaluate.predictions import PredictionsError, read_predictions
from ava.evaluate.run import evaluate
from ava.evaluate.suites.base import Question, SuiteDataError
from tests.evaluate import fixtures

QS = {"q1": Question("q1", "?", ("A", "B", "C")), "7": Question("7", "?", ("Yes", "No"))}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "q1", "probs": [0.5, NaN, 0.5]}', "non-finite"),
        ('{"id": "q1", "probs": [0.5, Infinity, 0.5]}', "non-finite"),
        ('{"id": "q1", "probs": [0.5, ' + "1" + "0" * 400 + ', 0.5]}', "non-finite value .*too large for a float"),
        ('{"id": ' + "1" + "0" * 400 + ', "probs": [1, 0, 0]}', "missing or invalid 'id'"),
        ('{"id": "q1", "probs": [0.5, 0.5]}', "has 3 options"),
        ('{"id": "q1", "probs": [1.2, -0.2, 0.0]}', "negative"),
        ('{"id": "q1", "probs": [0.2, 0.2, 0.2]}', "sums to 0.6"),
        ('{"id": "nope", "probs": [1.0, 0.0, 0.0]}', "unknown question id 'nope'"),
        ('{"id": "q1", "probs": "0.5,0.5"}', "non-empty list"),
        ('{"id": "q1", "probs": [0.5, "0.5", 0.0]}', "numbers only"),
        ('{"probs": [1, 0, 0]}', "missing or invalid 'id'"),
        ('{"id": "q1", "probs": [1, 0, 0]', "malformed JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"id": "q1", "probs": [1, 0, 0], "group": 3}', "'group' must be a string"),
        ('{"id": "q1", "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested deeper than the parser's stack"),
    ],
)
def test_bad_line_reported_with_line_number(tmp_path, line, message):
    path = fixtures.write_jsonl(tmp_path / "p.jsonl", ['{"id": 7, "probs": [0.5, 0.5]}', "", line])
    with pytest.raises(PredictionsError, match=r"line 3: .*" + message.replace("(", r"\(")):
        read_predictions(path, QS, 1e-3, "error")


def test_duplicates_and_all_problems_listed(tmp_path):
    path = fixtures.write_jsonl(
        tmp_path / "p.jsonl",
        [
            '{"id": 7, "probs": [0.5, 0.5]}',
            '{"id": "7", "probs": [0.4, 0.6]}',
            '{"id": "q1", "probs": [NaN, 1, 0]}',
        ],
    )
    with pytest.raises(PredictionsError, match=r"2 bad line\(s\)") as err:
        read_predictions(path, QS, 1e-3, "error")
    assert "line 2: duplicate prediction" in str(err.value) and "line 3" in str(err.value)


def test_renormalize_mode_counts_the_fix(tmp_path):
    path = fixtures.write_jsonl(
        tmp_path / "p.jsonl",
        ['{"id": "q1", "probs": [2, 1, 1]}', '{"id": 7, "probs": [0.5, 0.5], "group": "US"}'],
    )
    dists, fixes = read_predictions(path, QS, 1e-3, "renormalize")
    assert dists[("q1", None, None)].tolist() == [0.5, 0.25, 0.25]
    assert ("7", "US", None) in dists and fixes["renormalized"] == 1


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(PredictionsError, match="not found"):
        read_predictions(tmp_path / "none.jsonl", QS, 1e-3, "error")
    with pytest.raises(PredictionsError, match="no predictions"):
        read_predictions(fixtures.write_jsonl(tmp_path / "e.jsonl", [""]), QS, 1e-3, "error")


def test_command_level_errors(data_root, tmp_path):
    base = ["model=precomputed", f"output_dir={tmp_path}"]
    with pytest.raises(ValueError, match="needs model.predictions"):
        evaluate(fixtures.compose_cfg([*base, "benchmark=culturenli", f"data={data_root / 'culturenli'}"]))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        evaluate(
            fixtures.compose_cfg([*base, "benchmark=culturenli", f"data={tmp_path / 'x'}", "model.predictions=p"])
        )
    with pytest.raises(SuiteDataError, match="questions_final.json"):
        evaluate(fixtures.compose_cfg([*base, "benchmark=gss", f"data={tmp_path}", "model.predictions=p"]))
    with pytest.raises(FileNotFoundError, match="predictions .*opinionqa.jsonl are missing"):
        evaluate(
            fixtures.compose_cfg([*base, "benchmark=all", f"data={data_root}", f"model.predictions={tmp_path}"])
        )
    bad = fixtures.write_jsonl(tmp_path / "bad.jsonl", ['{"id": 0, "probs": [0.5, 0.5]}'])
    with pytest.raises(PredictionsError, match="line 1: question '0' has 3 options"):
        evaluate(
            fixtures.compose_cfg(
                [*base, "benchmark=culturenli", f"data={data_root / 'culturenli'}", f"model.predictions={bad}"]
            )
        )


def test_a_byte_order_mark_loses_no_prediction(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "q1", "probs": [1, 0, 0]}\n{"id": 7, "probs": [0.5, 0.5]}\n')
    dists, _ = read_predictions(path, QS, 1e-3, "error")
    assert set(dists) == {("q1", None, None), ("7", None, None)}
