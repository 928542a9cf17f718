"""python -m ava.evaluate benchmark=culturenli data=FILE_OR_DIR: CultureNLI (Huang & Yang 2023).

``data.tsv`` (tab-separated, header): ``premise, hypothesis, us_ratings, in_ratings``; each ratings cell is
a list literal of ``'E'`` / ``'N'`` / ``'C'`` annotator labels. The question id is the 0-based data row. For
each culture (US, IN) the model is asked with the original prompt ("Let's think as someone who lives in
..."), P(entail) is the softmax over the E/N/C letters, the label is "the majority rating is E"
(``Counter.most_common``, ties to the first label seen, as in the CultureBank evaluation script), and the
score is binary macro-F1 of ``P(entail) > t`` at the original thresholds, best threshold reported.
Choosing that threshold on the test set itself is optimistic; every threshold's F1 is kept in results.
Unlike the original, duplicate (premise, hypothesis) rows are scored as separate rows, not merged.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ava.evaluate.metrics import accuracy, best_threshold_macro_f1
from ava.evaluate.suites.base import (
    DistKey,
    Loaded,
    Question,
    Request,
    SuiteResult,
    mean_or_none,
    parse_list,
    question_row,
    require_columns,
    require_file,
)

NAME = "culturenli"
FILE = "data.tsv"
LETTERS = ("E", "N", "C")
OPTIONS = ("Entail", "Neutral", "Contradict")
RATING_COLUMNS = {"US": "us_ratings", "IN": "in_ratings"}


def majority_label(ratings: list[str]) -> str:
    labels = [str(r).strip().upper() for r in ratings]
    if not labels or any(lab not in LETTERS for lab in labels):
        raise ValueError(f"ratings must be a non-empty list of E/N/C, got {ratings!r}")
    return Counter(labels).most_common(1)[0][0]


def load(path: Path, cfg: Any) -> Loaded:
    path = Path(path)
    file = require_file(path / FILE if path.is_dir() else path, "CultureNLI data.tsv")
    df = pd.read_csv(file, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False)
    require_columns(df.columns, ["premise", "hypothesis", *RATING_COLUMNS.values()], file)
    questions, skipped = [], Counter()
    for i, row in enumerate(df.to_dict("records")):
        try:
            labels = {c: majority_label(parse_list(row[col], col)) for c, col in RATING_COLUMNS.items()}
        except ValueError:
            skipped["unreadable ratings"] += 1
            continue
        questions.append(
            Question(str(i), row["premise"], OPTIONS, {"hypothesis": row["hypothesis"], "labels": labels})
        )
    return Loaded(questions, len(df), skipped)


def requests(loaded: Loaded, cfg: Any) -> list[Request]:
    return [
        Request(
            q.id,
            c,
            None,
            cfg.template.format(premise=q.text, hypothesis=q.meta["hypothesis"], culture=cfg.cultures[c]),
            LETTERS,
        )
        for c in RATING_COLUMNS
        for q in loaded.questions
    ]


def score(loaded: Loaded, dists: dict[DistKey, np.ndarray], cfg: Any) -> SuiteResult:
    per_group, counts, details = {}, {}, {}
    skipped, used_ids, rows = Counter(loaded.skipped), set(), []
    thresholds = [float(t) for t in cfg.thresholds]
    for culture in RATING_COLUMNS:
        labels, scores = [], []
        for q in loaded.questions:
            d = dists.get((q.id, culture, None))
            if d is None:
                d = dists.get((q.id, None, None))
            if d is None:
                skipped[f"no model distribution ({culture})"] += 1
                rows.append(question_row(q.id, culture, None, q.options, None, "no model distribution"))
                continue
            labels.append(int(q.meta["labels"][culture] == "E"))
            scores.append(float(d[0] / d.sum()))
            rows.append(question_row(q.id, culture, scores[-1], q.options, None))  # value: P(entail)
            used_ids.add(q.id)
        if not labels:
            continue
        best, best_t, all_t = best_threshold_macro_f1(labels, scores, thresholds)
        per_group[culture], counts[culture] = best, len(labels)
        details[culture] = {
            "macro_f1_by_threshold": {str(t): v for t, v in all_t.items()},
            "best_threshold": best_t,
            "accuracy_at_best": accuracy(labels, [int(s > best_t) for s in scores]),
            "positives": int(sum(labels)),
        }
    return SuiteResult(
        benchmark=NAME,
        headline_metric="macro-F1 of P(entail) at the best of the original thresholds (mean over cultures)",
        headline=mean_or_none(list(per_group.values())),
        per_group=per_group,
        group_questions=counts,
        metrics={
            "per_culture": details,
            "thresholds": thresholds,
            "note": "the threshold is picked on the evaluation set itself: optimistic (an upper bound)",
        },
        questions_total=loaded.total,
        questions_used=len(used_ids),
        skipped=dict(skipped),
        prompt_template=cfg.template,
        per_question=rows,
    )
