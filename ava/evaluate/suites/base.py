"""python -m ava.evaluate: what every benchmark reader produces and consumes.

A reader turns a benchmark's official files into :class:`Question` s (options in the benchmark's own order,
refusal option included where it has one), the model prompts to ask (:class:`Request`), and, given answer
distributions keyed by ``(question id, group, context)``, a :class:`SuiteResult`.

A question the files hold but the metric cannot score (OpinionQA's equal-ordinal questions, a
GlobalOpinionQA row without a usable country distribution) stays in ``Loaded.questions`` with
``meta["unscorable"]`` = the reason: predictions for it are accepted, and scoring counts it as skipped.
"""

from __future__ import annotations

import ast
import string
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LETTERS = string.ascii_uppercase

# (question id, group or None for an unsteered prompt, steering context or None)
DistKey = tuple[str, str | None, str | None]


class SuiteDataError(ValueError):
    """A benchmark file is missing, or lacks a column, or has a value that cannot be read."""


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    options: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Request:
    """One prompt whose next-token distribution over ``letters`` is wanted."""

    qid: str
    group: str | None
    context: str | None
    prompt: str
    letters: tuple[str, ...]

    @property
    def key(self) -> DistKey:
        return (self.qid, self.group, self.context)


@dataclass
class SuiteResult:
    benchmark: str
    headline_metric: str
    headline: float | None
    per_group: dict[str, float]
    group_questions: dict[str, int]
    metrics: dict[str, Any]
    questions_total: int
    questions_used: int
    skipped: dict[str, int]
    prompt_template: str
    # OUT/<benchmark>/per_question.csv: one :func:`question_row` per question and group (not in results.json)
    per_question: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "headline": {"metric": self.headline_metric, "value": self.headline},
            "per_group": self.per_group,
            "group_questions": self.group_questions,
            "metrics": self.metrics,
            "counts": {
                "questions_total": self.questions_total,
                "questions_used": self.questions_used,
                "skipped": dict(sorted(self.skipped.items())),
            },
            "prompt_template": self.prompt_template,
        }


@dataclass
class Loaded:
    """A benchmark's questions, how many its files hold, and the skips while reading (reason: count)."""

    questions: list[Question]
    total: int
    skipped: Counter = field(default_factory=Counter)
    extra: dict[str, Any] = field(default_factory=dict)

    def by_id(self) -> dict[str, Question]:
        return {q.id: q for q in self.questions}


PER_QUESTION_COLUMNS = ["id", "group", "year", "value", "options", "ordinals", "skip_reason"]


def question_row(
    qid: str,
    group: str | None,
    value: float | None,
    options: list[str] | tuple[str, ...],
    ordinals: list[float] | tuple[float, ...] | None,
    skip_reason: str | None = None,
    year: int | None = None,
) -> dict[str, Any]:
    """A per_question.csv row: ``options`` are the non-refusal options in the order the model saw them and
    ``ordinals`` the position each was given (None where the metric uses none); JSON lists in the file."""
    return {
        "id": qid, "group": group, "year": year, "value": value,
        "options": list(options), "ordinals": None if ordinals is None else [float(o) for o in ordinals],
        "skip_reason": skip_reason,
    }  # fmt: skip


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise SuiteDataError(f"{what} not found: {path} (check data=... points at the benchmark's files)")
    return path


def require_columns(columns: Any, needed: list[str], path: Path) -> None:
    missing = [c for c in needed if c not in set(columns)]
    if missing:
        raise SuiteDataError(f"{path}: missing column(s) {missing}; found {list(columns)}")


# Longest cell read as a Python literal. The released GlobalOpinionQA cells are at most 2,128 characters
# (selections; 1,301 rows of ../shared/data/eval/goqa_awesel_eval.json.gz); ast.literal_eval spent 3.4 GB on a
# hostile 12 MB cell, so cells are capped well above the real ones.
MAX_LITERAL_CHARS = 100_000


def parse_literal(text: Any, what: str) -> Any:
    """A Python literal (``ast.literal_eval``, never ``eval``) of at most ``MAX_LITERAL_CHARS``.

    Anything else, including input nested deeper than the parser's stack or too large to parse, is a
    ``ValueError`` naming ``what``, so the reader skips that row and counts it.
    """
    text = str(text)
    if len(text) > MAX_LITERAL_CHARS:
        raise ValueError(f"{what} is {len(text):,} characters, more than the {MAX_LITERAL_CHARS:,} read")
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(f"{what} is not a literal: {text[:80]!r} ({type(exc).__name__}: {exc})") from None


def parse_list(text: Any, what: str) -> list[Any]:
    """A Python-literal list such as ``"['Yes', 'No']"`` (:func:`parse_literal`)."""
    if isinstance(text, list):
        return text
    value = parse_literal(text, what)
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{what} is not a list: {str(text)[:80]!r}")
    return list(value)


def format_options(options: tuple[str, ...], option_format: str) -> str:
    return "\n".join(option_format.format(letter=LETTERS[i], option=o) for i, o in enumerate(options))


def mean_or_none(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None
