"""python -m ava.evaluate model=precomputed model.predictions=FILE.jsonl: read answer distributions made elsewhere.

One JSON object a line: ``{"id": QUESTION_ID, "probs": [p1, ..., pK]}`` with the probabilities in the
benchmark's option order (refusal option included where it has one), plus ``"group"`` for a steered run and
optionally ``"context"`` (OpinionQA's ``qa`` / ``bio`` / ``portray``); GSS lines carry ``"year"`` instead
(the year the prompt names; absent for the no-year prompt) and list probabilities in code order. A line
whose group the data does not hold for its question (an empty group, an unknown country) is valid but
cannot be scored: every suite counts it (``predictions_not_scored``, per group) in the results. Ids are
compared as strings, so the row-number ids of GlobalOpinionQA and CultureNLI may be written as ``3`` or ``"3"``.

Every problem is reported with its 1-based line number; the whole file is checked before anything is scored.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ava.evaluate.suites.base import DistKey, Question
from ava.jsonl import LineError, iter_jsonl

MAX_LISTED = 20  # bad lines quoted in the error; the count of all of them is given too


def bad_lines(path: Path, problems: list[str]) -> PredictionsError:
    """One error for all of a file's bad lines: the first ``MAX_LISTED`` quoted, the rest counted."""
    shown = "\n  ".join(problems[:MAX_LISTED])
    more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return PredictionsError(f"{path}: {len(problems)} bad line(s):\n  {shown}{more}")


class PredictionsError(ValueError):
    """The predictions file cannot be scored as given; the message lists each bad line."""


def read_predictions(
    path: str | Path, questions: dict[str, Question], sum_tolerance: float, on_bad_sum: str
) -> tuple[dict[DistKey, np.ndarray], Counter]:
    """Validate and load ``path`` against ``questions``; returns distributions and counts of fixes made.

    ``on_bad_sum``: ``error`` refuses a line whose probabilities do not sum to 1 within ``sum_tolerance``;
    ``renormalize`` divides by the sum and counts the line under ``renormalized``.
    """
    if on_bad_sum not in ("error", "renormalize"):
        raise ValueError(f"on_bad_sum must be 'error' or 'renormalize', got {on_bad_sum!r}")
    path = Path(path)
    if not path.is_file():
        raise PredictionsError(f"predictions file not found: {path}")
    dists: dict[DistKey, np.ndarray] = {}
    fixes: Counter = Counter()
    problems: list[str] = []
    for line_no, rec in iter_jsonl(path):
        err = _check_line(rec, questions, sum_tolerance, on_bad_sum, dists, fixes)
        if err:
            problems.append(f"line {line_no}: {err}")
    if problems:
        raise bad_lines(path, problems)
    if not dists:
        raise PredictionsError(f"{path}: no predictions in the file")
    return dists, fixes


def _line_error(err: LineError) -> str:
    """How a line that is not JSON is reported."""
    if err.kind == "non_finite":
        return f"non-finite number {err.exc.name} (NaN/Infinity are not probabilities)"
    if err.kind == "too_deep":
        return "malformed JSON (nested deeper than the parser's stack)"
    return f"malformed JSON ({err.exc})"


def _check_line(
    rec: Any,
    questions: dict[str, Question],
    tol: float,
    on_bad_sum: str,
    dists: dict[DistKey, np.ndarray],
    fixes: Counter,
) -> str | None:
    if isinstance(rec, LineError):
        return _line_error(rec)
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {type(rec).__name__}"
    qid = rec.get("id")
    if isinstance(qid, bool) or not isinstance(qid, (str, int)):
        return "missing or invalid 'id' (a string or integer question id)"
    qid = str(qid)
    if qid not in questions:
        return f"unknown question id {qid!r} (not in the benchmark's files; ids are keys or 0-based rows)"
    group, context = rec.get("group"), rec.get("context")
    for name, value in (("group", group), ("context", context)):
        if value is not None and not isinstance(value, str):
            return f"'{name}' must be a string when given"
    year = rec.get("year")
    if year is not None:
        if isinstance(year, bool) or not isinstance(year, int) or context is not None:
            return "'year' must be an integer (GSS: the year the prompt names), and not given with 'context'"
        context = str(year)
    probs = rec.get("probs")
    if not isinstance(probs, list) or not probs:
        return "'probs' must be a non-empty list of numbers"
    if not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in probs):
        return "'probs' must hold numbers only"
    if not all(math.isfinite(p) for p in probs):
        return "'probs' holds a non-finite value (infinity, or an integer too large for a float)"
    k = len(questions[qid].options)
    if len(probs) != k:
        return f"question {qid!r} has {k} options (refusal included) but 'probs' has {len(probs)} values"
    arr = np.asarray(probs, dtype=np.float64)
    if np.any(arr < 0):
        return "'probs' holds a negative value"
    total = float(arr.sum())
    if abs(total - 1.0) > tol:
        if on_bad_sum == "error" or total <= 0:
            return (
                f"'probs' sums to {total:.6g}, not 1 (tolerance {tol}); fix the file or set "
                "model.on_bad_sum=renormalize"
            )
        arr = arr / total
        fixes["renormalized"] += 1
    key: DistKey = (qid, group, context)
    if key in dists:
        return f"duplicate prediction for id={qid!r} group={group!r} context={context!r}"
    dists[key] = arr
    return None




class ReadLog(dict):
    """The predictions as a dict that remembers which keys scoring looked up (``get``, ``[]``, ``in``); iterating
    over the keys alone reads none of them."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: set = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        self.read.add(key)
        return super().__contains__(key)


def not_scored(dists: ReadLog) -> dict[str, Any]:
    """Predictions scoring never looked up (an empty or unknown ``group``: a country not in the question's
    data), counted per group (the first ``MAX_LISTED`` groups by count), so a misspelt country is reported,
    not silently ignored."""
    unread = [key for key in dists if key not in dists.read]
    groups: Counter = Counter(repr(group) for _, group, _ in unread)
    return {"predictions_not_scored": sum(groups.values()),
            "predictions_not_scored_by_group": dict(groups.most_common(MAX_LISTED))}
