"""python -m ava.evaluate benchmark=behaviour: a model's free-text answer → the sample's ``target`` schema
(``ava/sample.py`` has the table of targets and of what is parsed for each task).

Each parser reads what the answer names first, in the order it names things, with the wording of the training
answers (``conf/dataset_tasks/paper.yaml``) and the usual variants (``women`` for female, ``25 to 34`` for
``25-34``, ``$1,000`` for ``1000``). A parser returns ``None`` when the answer names nothing of the kind asked:
that answer is counted as unparseable (and wrong), never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ava.evaluate.behaviour.grading import tap_attribute
from ava.sample import CLASSIFICATION, GENERATIVE_FAMILIES, is_generative

GENDER_WORDS = {
    "female": "female", "females": "female", "woman": "female", "women": "female",
    "male": "male", "males": "male", "man": "male", "men": "male",
    "unknown": "unknown",
}
_GENDER = re.compile(r"\b(" + "|".join(sorted(GENDER_WORDS, key=len, reverse=True)) + r")\b", re.IGNORECASE)
_DASH = r"(?:-|–|—|to)"
# 25-34, 25 – 34, 25 to 34, 65+, 65 and over / and older / or older
_AGE = re.compile(
    rf"(?<!\d)(?<!\d\.)(\d{{1,2}})\s*(?:{_DASH}\s*(\d{{1,2}})(?!\d|\.\d)|\+|\s+(?:and|or)\s+(?:over|older|above))",
    re.IGNORECASE,
)
# 1,000 / 1000 / 1.5 / 10k / 2M, optionally after a currency sign
_NUM = r"[$€£]?\s*(\d[\d,]*(?:\.\d+)?)\s*([kKmM](?![a-zA-Z]))?"
_RANGE = re.compile(rf"{_NUM}\s*(?:(?:-|–|—|to|and)\s*{_NUM}|(\+))?", re.IGNORECASE)
_DATE = re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b")
_SHARE = r"\s*(?:[:=(]|is|at)?\s*(\d+(?:\.\d+)?)\s*%"
_OPTION = re.compile(r"\b(?:option|choice|number|no\.?|#)\s*(\d+)\b", re.IGNORECASE)
_INT = re.compile(r"(?<![\d.])(\d+)(?![\d.])")
_LEADING_INT = re.compile(r"\s*(\d+)\s*(?:[.:)]\s|[.:)]?\s*$)")  # "2", "2. Female …", "3) …"

def _number(digits: str, suffix: str | None) -> float:
    value = float(digits.replace(",", ""))
    return value * {"k": 1e3, "m": 1e6}.get((suffix or "").lower(), 1.0)


def parse_gender(text: str) -> dict[str, Any] | None:
    found = [GENDER_WORDS[m.group(1).lower()] for m in _GENDER.finditer(text)]
    if not found:
        return None
    out: dict[str, Any] = {"gender": found[0]}
    shares = _shares(text, GENDER_WORDS)
    if shares:
        out["distribution"] = shares
    return out


def normalise_age(text: str) -> str | None:
    """``"25 to 34"`` → ``"25-34"``, ``"65 and over"`` → ``"65+"``; ``None`` when it names no age range."""
    m = _AGE.search(text)
    if m is None:
        return None
    return f"{m.group(1)}-{m.group(2)}" if m.group(2) else f"{m.group(1)}+"


def parse_age(text: str) -> dict[str, Any] | None:
    age = normalise_age(text)
    if age is None:
        return None
    out: dict[str, Any] = {"age": age}
    dist: dict[str, float] = {}
    for m in re.finditer(rf"({_AGE.pattern}){_SHARE}", text, re.IGNORECASE):
        bucket = normalise_age(m.group(1))
        if bucket is not None:
            dist[bucket] = dist.get(bucket, 0.0) + float(m.group(m.lastindex))
    if len(dist) >= 2:
        out["distribution"] = dist
    return out


def _shares(text: str, words: Mapping[str, str]) -> dict[str, float] | None:
    """``{label: share}`` from ``"women 60%, men 40%"`` style answers (two or more labels), else ``None``."""
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")\b"
                         + _SHARE, re.IGNORECASE)
    dist: dict[str, float] = {}
    for m in pattern.finditer(text):
        label = words[m.group(1).lower()]
        dist[label] = dist.get(label, 0.0) + float(m.group(2))
    return dist if len(dist) >= 2 else None


def region_pattern(names: Iterable[str]) -> re.Pattern[str]:
    """Whole-name matches of ``names``, longest first (``West Virginia`` before ``Virginia``)."""
    ordered = sorted({n for n in names if n}, key=len, reverse=True)
    return re.compile(r"(?<![\w])(" + "|".join(map(re.escape, ordered)) + r")(?![\w])", re.IGNORECASE)


def parse_regions(text: str, pattern: re.Pattern[str], canonical: Mapping[str, str]) -> dict[str, Any] | None:
    """Region names in the answer's order, each once; ``canonical`` maps a lower-cased name to its spelling."""
    seen: list[str] = []
    for m in pattern.finditer(text):
        name = canonical[m.group(1).lower()]
        if name not in seen:
            seen.append(name)
    return {"regions": seen} if seen else None


def parse_range(text: str) -> dict[str, float | None] | None:
    """The first number range: ``"100-199 USD"``, ``"$1,000 to $4,999"``, ``"1M+"`` (upper None) or a number.

    Dates (``2024-03-01``) and falling ranges (``900 to 100``) are passed over."""
    text = _DATE.sub(" ", text)
    for m in _RANGE.finditer(text):
        lower = _number(m.group(1), m.group(2))
        if m.group(3) is not None:
            upper = _number(m.group(3), m.group(4))
            if upper >= lower:
                return {"lower": lower, "upper": upper}
            continue
        return {"lower": lower, "upper": None if m.group(5) else lower}
    return None


def parse_choice(text: str, options: list[str]) -> dict[str, Any] | None:
    """``"option 2"`` (or a leading/only number); else the option whose profile text the answer quotes first."""
    m = _OPTION.search(text) or _LEADING_INT.match(text)
    if m is None:
        numbers = [int(x) for x in _INT.findall(text)]
        valid = [n for n in numbers if 1 <= n <= len(options)]
        if len(set(valid)) == 1 and len(numbers) == len(valid):
            return {"choice": valid[0]}
        low = text.lower()
        hits = sorted((low.find(o.lower()), i + 1) for i, o in enumerate(options) if o and o.lower() in low)
        return {"choice": hits[0][1]} if hits else None
    return {"choice": int(m.group(1))}


LABEL_PARSERS = {"gender": parse_gender, "age": parse_age}  # a label attribute's key → its parser


def parse(task: str, text: str, target: Mapping[str, Any], regions: tuple[re.Pattern[str], Mapping[str, str]]
          ) -> dict[str, Any] | None:
    """The prediction for one sample, in its target's schema, or ``None`` when unparseable."""
    if is_generative(task):
        return {"text": text.strip()} if text.strip() else None
    a = tap_attribute(task)
    if a is not None and a.kind == "label":
        return LABEL_PARSERS[a.key](text)
    if a is not None and a.kind == "ranking":
        return parse_regions(text, *regions)
    if a is not None:  # a range
        got = parse_range(text)
        return None if got is None else {a.key: got}
    if task == "AS":
        return parse_choice(text, list(target.get("options") or []))
    raise ValueError(f"no answer parser for task {task!r}; known: {', '.join(CLASSIFICATION)}, "
                     f"{'/'.join(GENERATIVE_FAMILIES)}-*")
