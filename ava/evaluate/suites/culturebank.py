"""python -m ava.evaluate benchmark=culturebank data=FILE_OR_DIR: CultureBank (Shi et al. 2024).

One CSV of the release (``culturebank_tiktok.csv`` / ``culturebank_reddit.csv``, or a folder holding exactly
one CSV) with ``cultural group, context, goal, relation, actor, actor_behavior, recipient,
recipient_behavior, other_descriptions, topic, agreement, ...``. Each row becomes a yes/no question "does
the majority of this group agree with this description?"; the target is ``norm > 0.5`` as in the official
evaluation script. The release's ``agreement`` column is ``norm`` rounded to one decimal, so clusters with
0.5 < norm < 0.55 read 0.5 there and flip to "disagree": the unrounded ``norm`` column is used when the file
has it, else ``agreement`` (``metrics.target_column`` says which). The prediction
``P(Yes) > threshold`` with P(Yes) the softmax over the A/B letters. Reported: accuracy and macro-F1 overall
(headline: macro-F1), accuracy per cultural group. The files carry no question id: the id is the 0-based data
row unless ``id_column`` names one.
"""

from __future__ import annotations

import math
import string
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ava.evaluate.metrics import accuracy, macro_f1
from ava.evaluate.suites.base import (
    DistKey,
    Loaded,
    Question,
    Request,
    SuiteDataError,
    SuiteResult,
    format_options,
    question_row,
    require_columns,
    require_file,
)

NAME = "culturebank"
OPTIONS = ("Yes", "No")
LETTERS = ("A", "B")


def _field(name: str) -> str:
    return name.strip().replace(" ", "_")


def _csv(path: Path) -> Path:
    if path.is_dir():
        found = sorted(path.glob("*.csv"))
        if len(found) != 1:
            raise SuiteDataError(
                f"{path}: expected exactly one CultureBank CSV, found {[p.name for p in found]}"
            )
        return found[0]
    return require_file(path, "CultureBank CSV")


def load(path: Path, cfg: Any) -> Loaded:
    file = _csv(Path(path))
    df = pd.read_csv(file, dtype=str, keep_default_na=False)
    fields = [f for _, f, _, _ in string.Formatter().parse(cfg.template) if f]
    columns = {_field(c): c for c in df.columns}
    target = "norm" if "norm" in columns else "agreement"  # norm: unrounded (see the module docstring)
    require_columns(columns, ["cultural_group", target, *[f for f in fields if f != "options"]], file)
    if cfg.id_column is not None:
        require_columns(df.columns, [cfg.id_column], file)
    questions, skipped, seen = [], Counter(), set()
    for i, row in enumerate(df.to_dict("records")):
        try:
            agreement = float(row[columns[target]])
        except ValueError:
            agreement = math.nan
        if not math.isfinite(agreement):
            skipped[f"{target} missing or not a number"] += 1
            continue
        qid = str(i) if cfg.id_column is None else str(row[cfg.id_column])
        if qid in seen:
            raise SuiteDataError(f"{file}: duplicate id {qid!r} in column {cfg.id_column!r}")
        seen.add(qid)
        values = {f: row[c] for f, c in columns.items()}
        questions.append(
            Question(
                qid, values["cultural_group"], OPTIONS, {"values": values, "target": int(agreement > 0.5)}
            )
        )
    return Loaded(questions, len(df), skipped, {"target_column": target})


def requests(loaded: Loaded, cfg: Any) -> list[Request]:
    opts = format_options(OPTIONS, cfg.option_format)
    return [
        Request(q.id, None, None, cfg.template.format(options=opts, **q.meta["values"]), LETTERS)
        for q in loaded.questions
    ]


def score(loaded: Loaded, dists: dict[DistKey, np.ndarray], cfg: Any) -> SuiteResult:
    skipped = Counter(loaded.skipped)
    labels, preds = [], []
    by_group: dict[str, list[tuple[int, int]]] = defaultdict(list)
    rows = []
    for q in loaded.questions:
        d = dists.get((q.id, None, None))
        if d is None:
            skipped["no model distribution"] += 1
            rows.append(question_row(q.id, q.text, None, q.options, None, "no model distribution"))
            continue
        pred = int(d[0] / d.sum() > cfg.threshold)
        rows.append(question_row(q.id, q.text, float(pred == q.meta["target"]), q.options, None))  # value: correct
        labels.append(q.meta["target"])
        preds.append(pred)
        by_group[q.text].append((q.meta["target"], pred))
    per_group = {g: accuracy(*zip(*v, strict=True)) for g, v in sorted(by_group.items())}
    return SuiteResult(
        benchmark=NAME,
        headline_metric=f"macro-F1 of 'the majority agrees' ({loaded.extra['target_column']} > 0.5)",
        headline=macro_f1(labels, preds) if labels else None,
        per_group=per_group,
        group_questions={g: len(v) for g, v in sorted(by_group.items())},
        metrics={
            "accuracy": accuracy(labels, preds) if labels else None,
            "positives": int(sum(labels)),
            "threshold": float(cfg.threshold),
            "target_column": loaded.extra["target_column"],
            "per_group_metric": "accuracy",
        },
        questions_total=loaded.total,
        questions_used=len(labels),
        skipped=dict(skipped),
        prompt_template=cfg.template,
        per_question=rows,
    )
