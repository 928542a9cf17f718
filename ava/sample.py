"""python -m ava.build_dataset writes it, python -m ava.train and python -m ava.evaluate read it: the instruction
sample, the one contract between those three stages.

A sample is one JSON object, one line of a split (``train-NNNNN.jsonl.zst`` shards or ``train.jsonl``, as
:mod:`ava.sample_files` stores them)::

    {"id": "3f2a…",                      # 16 hex digits: a hash of the task and the items it is made of
     "task": "TAP-G",                     # family-attribute, see FAMILIES and ATTRIBUTES below
     "messages": [{"role": "system", "content": …}, {"role": "user", "content": …},
                  {"role": "assistant", "content": …}],   # what a model is trained on (chat format)
     "target": {…},                       # the answer, machine-readable: what evaluate scores against
     "meta": {…}}                         # provenance (ad ids, manifest lines, raw shares, split, …)

:func:`check` says why an object is not a sample (train refuses the file then; evaluate too). The target by
task (``attribute`` is one of :data:`ATTRIBUTES`; a range is ``{"lower", "upper"}``, ``upper`` null when open):

=========  ===========================================================  ==========================================
task       ``target``                                                   what evaluate parses from an answer
=========  ===========================================================  ==========================================
TAP-G      ``{"gender", "distribution"}``                               ``{"gender"}`` (+ ``"distribution"``)
TAP-A      ``{"age", "distribution"}``                                  ``{"age"}`` (+ ``"distribution"``)
TAP-R      ``{"regions": [top k], "distribution", "region_kind"}``      ``{"regions": [in the answer's order]}``
TAP-B      ``{"spend": {"lower", "upper", "currency"}, "range"}``       ``{"spend": {"lower", "upper"}}``
TAP-I      ``{"impressions": {"lower", "upper"}, "range"}``             ``{"impressions": {"lower", "upper"}}``
AS         ``{"choice": 1-based, "options": [audience profiles]}``      ``{"choice"}``
TAG-*      ``{"title", "body", "creative", "condition": TAP target}``   ``{"text"}``
TS-*/TC-*  ``{"text", "title", "body", "attribute", …}``                ``{"text"}``
=========  ===========================================================  ==========================================

:func:`read_samples` / :func:`iter_samples` read a split of them (``DIR/SPLIT.jsonl`` or its zstd shards, as
:mod:`ava.sample_files` stores them): a line that is not UTF-8, not valid JSON (nested too deep included),
not an object, or fails :func:`check` stops the reader with the file and its 1-based line number; an empty split,
a missing one (:func:`require_split`, naming both forms) and one held both ways are errors too
(:class:`DatasetError`); a UTF-8 byte-order mark at the start of the file is accepted.

The pair tasks' prompts hold the source ad as :func:`ad_text` writes it: ``Label: value`` lines
(:data:`AD_TEXT_LABELS`), then a blank line; :func:`source_ad` reads it back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ava.jsonl import LineError
from ava.sample_files import DatasetError, iter_sample_lines, missing_split, split_files

ROLES = ("system", "user", "assistant")


# --- the task taxonomy ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Attribute:
    """A behaviour attribute a task asks about; its letter is the task name's suffix (TAP-G, TS-G, TC-G)."""

    letter: str
    name: str
    key: str  # the key of the value in a TAP target (and in TAG's ``condition``)
    kind: Literal["label", "ranking", "range"]


ATTRIBUTES: dict[str, Attribute] = {a.letter: a for a in (
    Attribute("G", "gender", "gender", "label"),
    Attribute("A", "age", "age", "label"),
    Attribute("R", "region", "regions", "ranking"),
    Attribute("B", "spend", "spend", "range"),
    Attribute("I", "impressions", "impressions", "range"),
)}

# task families: TAP (audience/behaviour prediction), AS (audience selection), TAG (ad generation for a
# wanted behaviour), TS (transsuasion: rewrite into the stronger ad), TC (transcreation: for another audience)
FAMILIES = ("TAP", "AS", "TAG", "TS", "TC")
GENERATIVE_FAMILIES = ("TAG", "TS", "TC")  # the answer is an ad text
CLASSIFICATION = (*(f"TAP-{a}" for a in ATTRIBUTES), "AS")  # the answer names a class, a ranking or a range


def family(task: str) -> str:
    return task.split("-")[0]


def attribute(task: str) -> Attribute | None:
    """The attribute of ``TAP-G`` / ``TS-B`` / …; None for a task without one (AS)."""
    _, _, letter = task.partition("-")
    return ATTRIBUTES.get(letter)


def is_generative(task: str) -> bool:
    return family(task) in GENERATIVE_FAMILIES


# --- ranges (spend, impressions) -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Range:
    lower: float
    upper: float | None  # None: open range ("1000000+")

    def point(self, rule: str) -> float:
        if self.upper is None:
            return self.lower
        if rule == "midpoint":
            return (self.lower + self.upper) / 2
        if rule == "lower":
            return self.lower
        if rule == "upper":
            return self.upper
        raise ValueError(f"range_point={rule!r} is not one of midpoint, lower, upper")

    def text(self, currency: str | None = None) -> str:
        unit = f" {currency}" if currency else ""
        if self.upper is None:
            return f"{_fmt(self.lower)}+{unit}"
        return f"{_fmt(self.lower)}-{_fmt(self.upper)}{unit}"

    def as_dict(self) -> dict[str, float | None]:
        return {"lower": self.lower, "upper": self.upper}


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


# --- the ad as text in prompts and pair answers ----------------------------------------------------------------

AD_TEXT_LABELS = {"title": "Title", "body": "Content", "description": "Description", "creative": "Creative"}
_SOURCE_AD = re.compile(r"^((?:" + "|".join(AD_TEXT_LABELS.values()) + r"): .*?)(?:\n\n|\Z)",
                        re.MULTILINE | re.DOTALL)


def ad_text(values: Mapping[str, str | None], fields: Sequence[str] = ("title", "body", "creative")) -> str:
    """``Title: …`` / ``Content: …`` lines of the non-empty ``fields`` of ``values``."""
    return "\n".join(f"{AD_TEXT_LABELS[f]}: {values.get(f)}" for f in fields if values.get(f))


def source_ad(sample: Mapping[str, Any]) -> str | None:
    """TS / TC: the source ad's text as it stands in the prompt (the labelled lines), or None."""
    user = next(m["content"] for m in sample["messages"] if m["role"] == "user")
    m = _SOURCE_AD.search(user)
    return m.group(1).strip() if m else None


def reply(sample: Mapping[str, Any]) -> str:
    """The last assistant message: the answer the sample teaches."""
    return [m["content"] for m in sample["messages"] if m["role"] == "assistant"][-1]


# --- the record -------------------------------------------------------------------------------------------------

def record(sid: str, task: str, system: str, user: str, answer: str, target: dict[str, Any],
           meta: dict[str, Any]) -> dict[str, Any]:
    """A sample as build_dataset writes it (key order is the file's)."""
    return {
        "id": sid,
        "task": task,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user},
                     {"role": "assistant", "content": answer}],
        "target": target,
        "meta": meta,
    }


def check(obj: Any, need_target: bool = False) -> str | None:
    """Why ``obj`` is not a valid sample, or None. Training accepts a hand-made sample without a target;
    ``need_target``: evaluation, which scores against it, does not."""
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    for key in ("id", "task"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            return f"field {key!r} must be a non-empty string"
    msgs = obj.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return "field 'messages' must be a non-empty list of {role, content}"
    for j, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            return f"messages[{j}] must be {{role: one of {'/'.join(ROLES)}, content: string}}, got {m!r:.80}"
    if not any(m["role"] == "assistant" for m in msgs):
        return "no assistant message: nothing to learn from"
    if msgs[0]["role"] == "assistant":
        return "messages[0] is the assistant's: a conversation opens with a system or user message"
    if need_target and not isinstance(obj.get("target"), dict):
        return "no 'target' object to score against (python -m ava.build_dataset writes one per sample)"
    return None


def require_split(path: str | Path) -> list[Path]:
    """The files of split ``DIR/SPLIT.jsonl`` (itself or its shards); :class:`DatasetError` naming both forms when
    neither exists (checked before a model is loaded)."""
    files = split_files(path)
    if not files:
        raise DatasetError(missing_split(path))
    return files


def read_samples(path: str | Path, need_target: bool = False) -> list[dict[str, Any]]:
    """All samples of ``DIR/SPLIT.jsonl`` or its shards (``ava.sample_files``); the first malformed line raises
    :class:`DatasetError` (``need_target``: see :func:`check`)."""
    return list(iter_samples(path, need_target))


def iter_samples(path: str | Path, need_target: bool = False) -> Iterator[dict[str, Any]]:
    """The samples of ``DIR/SPLIT.jsonl`` or its shards, one at a time; a malformed line raises
    :class:`DatasetError` naming the file and line, a split with no sample too (``need_target``: see
    :func:`check`)."""
    path = Path(path)
    require_split(path)
    n = 0
    for file, line_no, obj in iter_sample_lines(path):  # a UTF-8 BOM at the start of a file is accepted
        if isinstance(obj, LineError):
            if obj.kind == "not_utf8":
                raise DatasetError(f"{file}:{line_no}: not UTF-8 ({obj.exc}); fix or remove the line") from obj.exc
            why = f"{obj.exc.__class__.__name__}: {str(obj.exc):.200}"  # RecursionError: nested too deep
            raise DatasetError(f"{file}:{line_no}: not valid JSON ({why}); fix or remove the line") from obj.exc
        problem = check(obj, need_target)
        if problem:
            raise DatasetError(f"{file}:{line_no}: {problem}; fix or remove this line")
        n += 1
        yield obj
    if not n:
        raise DatasetError(f"{path} has no samples; rebuild it with python -m ava.build_dataset")


def target_label(sample: Mapping[str, Any]) -> str:
    """A short label of a sample's target (its class, first region, range or choice), to show class balance."""
    t = sample["target"]
    for key in ("age", "gender", "group", "target_group"):
        if key in t:
            return str(t[key])
    if "regions" in t:
        return str(t["regions"][0])
    if "condition" in t:
        return target_label({"target": t["condition"]})
    if "range" in t:
        return str(t["range"])
    if "choice" in t:
        return f"choice {t['choice']}"
    return "rewrite"
