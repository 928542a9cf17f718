"""python -m ava.evaluate benchmark=opinionqa|oqa_xl: Pew American Trends Panel human responses and the
OpinionQA metrics shared by OpinionQA and OpinionQA-XL.

Human side, one folder per survey (``human_resp/<survey>/``, the OpinionQA CodaLab layout):
``info.csv`` (``key, question, references, option_mapping, option_ordinal``: the references list the ordinal
options first, then the refusal option(s); ``option_ordinal`` gives the ordinal options' positions),
``responses.csv`` (one respondent a row: answer text per question key, demographic attributes,
``WEIGHT_W<wave>``) and ``metadata.csv`` (``key, options``: each demographic attribute and its groups).
A group's distribution is the survey-weighted share of each answer among its respondents; the refusal
option is removed and the rest renormalised (Santurkar et al. 2023, ``helpers.extract_human_opinions``).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ava.evaluate.benchmarks.base import (
    BenchmarkDataError,
    BenchmarkResult,
    DistKey,
    Loaded,
    Question,
    mean_or_none,
    parse_list,
    require_columns,
    require_file,
)
from ava.evaluate.metrics import drop_refusal, ordinal_alignment

OVERALL = "Overall"


@dataclass(frozen=True)
class InfoRow:
    key: str
    question: str
    references: tuple[str, ...]
    ordinal: tuple[float, ...]


def group_name(attribute: str, value: str) -> str:
    """Results key a demographic group by ``ATTRIBUTE=value`` (``POLPARTY=Democrat``); ``Overall`` is all."""
    return f"{attribute}={value}"


def read_info(survey_dir: Path) -> dict[str, InfoRow]:
    path = require_file(survey_dir / "info.csv", "OpinionQA info.csv")
    df = pd.read_csv(path)
    require_columns(df.columns, ["key", "question", "references", "option_ordinal"], path)
    rows = {}
    for i, r in df.iterrows():
        try:
            refs = tuple(str(x) for x in parse_list(r["references"], "references"))
            ordinal = tuple(float(x) for x in parse_list(r["option_ordinal"], "option_ordinal"))
        except ValueError as exc:
            raise BenchmarkDataError(f"{path} row {i}: {exc}") from None
        if len(ordinal) > len(refs):
            raise BenchmarkDataError(
                f"{path} row {i} ({r['key']}): more option_ordinal values than references"
            )
        rows[str(r["key"])] = InfoRow(str(r["key"]), str(r["question"]), refs, ordinal)
    return rows


def _weight_column(columns: list[str], survey_dir: Path) -> str:
    m = re.search(r"W(\d+)$", survey_dir.name)
    if m and f"WEIGHT_W{m.group(1)}" in columns:
        return f"WEIGHT_W{m.group(1)}"
    weights = [c for c in columns if c.startswith("WEIGHT_W")]
    if len(weights) != 1:
        raise BenchmarkDataError(
            f"{survey_dir / 'responses.csv'}: cannot tell the survey weight column "
            f"(want WEIGHT_W<wave> matching the folder name {survey_dir.name!r}); found {weights or 'none'}"
        )
    return weights[0]


def read_human(
    survey_dir: Path, keys: list[str], attributes: list[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """``{question key: {group: {answer text: summed weight}}}`` for the keys that responses.csv has."""
    resp_path = require_file(survey_dir / "responses.csv", "OpinionQA responses.csv")
    meta_path = require_file(survey_dir / "metadata.csv", "OpinionQA metadata.csv")
    meta = pd.read_csv(meta_path)
    require_columns(meta.columns, ["key", "options"], meta_path)
    groups = {
        str(k): [str(o) for o in parse_list(v, f"metadata options of {k}")]
        for k, v in zip(meta["key"], meta["options"], strict=True)
    }
    resp = pd.read_csv(resp_path, low_memory=False)
    wcol = _weight_column(list(resp.columns), survey_dir)
    weight = pd.to_numeric(resp[wcol], errors="coerce")
    if weight.isna().any() or (weight < 0).any():
        raise BenchmarkDataError(f"{resp_path}: {wcol} has missing, non-numeric or negative weights")
    attrs = [a for a in attributes if a in groups and a in resp.columns]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for key in keys:
        if key not in resp.columns:
            continue
        answered = resp[key].map(lambda v: isinstance(v, str))
        frame = pd.DataFrame({"answer": resp[key], "w": weight})[answered]
        per_group: dict[str, dict[str, float]] = {OVERALL: frame.groupby("answer")["w"].sum().to_dict()}
        for attr in attrs:
            values = resp.loc[answered, attr]
            sub = frame[values.isin(groups[attr])].assign(g=values)
            for (g, answer), w in sub.groupby(["g", "answer"])["w"].sum().items():
                per_group.setdefault(group_name(attr, str(g)), {})[str(answer)] = float(w)
        out[key] = per_group
    return out


def ordinal_question(qid: str, text: str, options: tuple[str, ...], info: InfoRow) -> Question | str:
    """Attach ordinal positions / refusal flags to ``options`` (benchmark order); a reason if it cannot."""
    n = len(info.ordinal)
    ordinal_refs, refusal_refs = info.references[:n], info.references[n:]
    positions: list[float | None] = []
    for o in options:
        if o in ordinal_refs:
            positions.append(info.ordinal[ordinal_refs.index(o)])
        elif o in refusal_refs:
            positions.append(None)
        else:
            return "option text not among info.csv references"
    if set(ordinal_refs) - set(options):
        return "an info.csv option is missing from the question's options"
    kept = [p for p in positions if p is not None]
    if len(kept) < 2 or max(kept) == min(kept):
        return "option_ordinal positions all equal (not an ordinal question)"
    return Question(qid, text, options, {"positions": positions, "refusal": [p is None for p in positions]})


def _alignment(q: Question, dist: np.ndarray, human: dict[str, float]) -> float | None:
    opts = [o for o, r in zip(q.options, q.meta["refusal"], strict=True) if not r]
    h = np.array([human.get(o, 0.0) for o in opts], dtype=np.float64)
    if h.sum() <= 0:
        return None
    if all(dist[i] <= 0 for i, r in enumerate(q.meta["refusal"]) if not r):
        return None
    pm, _ = drop_refusal(dist, q.meta["refusal"])
    pos = [p for p in q.meta["positions"] if p is not None]
    return ordinal_alignment(pos, pm, h)


def score_survey(
    name: str, loaded: Loaded, dists: dict[DistKey, np.ndarray], template: str, steer_subset: set[str] | None
) -> BenchmarkResult:
    """Representativeness per group (mean over questions of the OpinionQA alignment), refusal rate, and
    steerability (per group, per question the best of the steering contexts, averaged)."""
    human: dict[str, dict[str, dict[str, float]]] = loaded.extra["human"]
    skipped = Counter(loaded.skipped)
    per_group: dict[str, list[float]] = defaultdict(list)
    refusals: list[float] = []
    used = 0
    steer: dict[tuple[str, str], dict[str | None, np.ndarray]] = defaultdict(dict)
    for (qid, group, context), d in dists.items():
        if group is not None:
            steer[(qid, group)][context] = d
    steer_scores: dict[str, list[float]] = defaultdict(list)
    for q in loaded.questions:
        hq = human.get(q.id)
        if hq is None:
            skipped["no human responses for the question"] += 1
            continue
        d = dists.get((q.id, None, None))
        if d is None:
            skipped["no model distribution"] += 1
        elif all(d[i] <= 0 for i, r in enumerate(q.meta["refusal"]) if not r):
            skipped["model put all its mass on the refusal option"] += 1
        else:
            refusals.append(drop_refusal(d, q.meta["refusal"])[1])
            for g, counts in hq.items():
                a = _alignment(q, d, counts)
                if a is not None:
                    per_group[g].append(a)
            used += 1
        if steer_subset is not None and q.id not in steer_subset:
            continue
        for g, counts in hq.items():
            contexts = steer.get((q.id, g))
            if contexts:
                scores = [a for a in (_alignment(q, cd, counts) for cd in contexts.values()) if a is not None]
                if scores:
                    steer_scores[g].append(max(scores))
    groups = {g: float(np.mean(v)) for g, v in sorted(per_group.items())}
    demo = [v for g, v in groups.items() if g != OVERALL]
    steerability = {g: float(np.mean(v)) for g, v in sorted(steer_scores.items())}
    metrics: dict[str, Any] = {
        "overall_representativeness": groups.get(OVERALL),
        "refusal_rate": mean_or_none(refusals),
        "steerability": steerability,
        "steerability_mean": mean_or_none(list(steerability.values())),
        "steer_subset_questions": None if steer_subset is None else len(steer_subset),
    }
    return BenchmarkResult(
        benchmark=name,
        headline_metric="representativeness (mean over demographic groups)",
        headline=mean_or_none(demo),
        per_group=groups,
        group_questions={g: len(v) for g, v in sorted(per_group.items())},
        metrics=metrics,
        questions_total=loaded.total,
        questions_used=used,
        skipped=dict(skipped),
        prompt_template=template,
    )
