"""python -m ava.evaluate benchmark=behaviour: chance baselines for every classification task.

* ``random``: the exact expected score of a uniform random guess, no sampling. TAP-G / TAP-A: one of the
  configured classes (``behaviour.classes``); TAP-R: ``k`` distinct regions of the ``N`` of the table the
  target ranks (its ``region_kind``: US states or EU/EEA countries; top-k overlap ``|true ∩ table| / N``,
  first-state accuracy ``1/N``); TAP-B / TAP-I: one of the distinct ranges of
  that task in the training split; AS: one of the sample's options.
* ``majority``: the same answer for every sample, the most frequent one in the training split (ties: the
  first in sorted order). TAP-R: the ``k`` regions named most often in the training top-k lists.

A baseline that needs the training split and finds no training sample of the task is ``None``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ava.evaluate.behaviour.grading import METRICS, sample_scores, score_classification, tap_attribute


def _range_of(target: Mapping[str, Any], key: str) -> dict[str, float | None]:
    r = target[key]
    return {"lower": float(r["lower"]), "upper": None if r.get("upper") is None else float(r["upper"])}


def _expected(task: str, target: Mapping[str, Any], candidates: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    rows = [sample_scores(task, c, target) for c in candidates]
    return {m: float(np.mean([r[m] for r in rows])) for m in METRICS[task]}


def random_baseline(task: str, targets: Sequence[Mapping[str, Any]], train: Sequence[Mapping[str, Any]],
                    classes: Mapping[str, Sequence[str]], regions: Mapping[str, Sequence[str]]
                    ) -> dict[str, Any] | None:
    """``regions``: the names of each region table by kind (``region``: US states, ``country``: EU/EEA)."""
    per_sample: list[dict[str, float]]
    a = tap_attribute(task)
    if a is None:  # AS
        per_sample = [_expected(task, t, [{"choice": c} for c in range(1, len(t["options"]) + 1)]) for t in targets]
    elif a.kind == "label":
        cands = [{a.key: c} for c in classes[a.key]]
        per_sample = [_expected(task, t, cands) for t in targets]
    elif a.kind == "ranking":
        per_sample = []
        for t in targets:
            table = set(regions[t.get("region_kind", "region")])
            per_sample.append({"top_k_overlap": len(set(t[a.key]) & table) / len(table),
                               "first_state_accuracy": float(t[a.key][0] in table) / len(table)})
    else:  # a range
        key = a.key
        seen = sorted({tuple(_range_of(t, key).values()) for t in train}, key=lambda r: (r[0], r[1] is None, r[1]))
        if not seen:
            return None
        cands = [{key: {"lower": lo, "upper": hi}} for lo, hi in seen]
        per_sample = [_expected(task, t, cands) for t in targets]
    return {m: float(np.mean([r[m] for r in per_sample])) for m in METRICS[task]}


def majority_prediction(task: str, train: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The constant answer of the majority baseline, from the training targets of ``task``."""
    if not train:
        return None

    def most_common(values: list[Any]) -> Any:
        counts = Counter(values)
        best = max(counts.values())
        return sorted((v for v, n in counts.items() if n == best), key=str)[0]

    a = tap_attribute(task)
    if a is None:  # AS
        return {"choice": most_common([int(t["choice"]) for t in train])}
    key = a.key
    if a.kind == "label":
        return {key: most_common([t[key] for t in train])}
    if a.kind == "ranking":
        counts = Counter(r for t in train for r in t[key])
        k = len(train[0][key])
        return {key: [r for r, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]}
    lo, hi = most_common([tuple(_range_of(t, key).values()) for t in train])
    return {key: {"lower": lo, "upper": hi}}


def majority_baseline(task: str, targets: Sequence[Mapping[str, Any]], train: Sequence[Mapping[str, Any]]
                      ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(scores, the constant prediction) of the majority baseline; (None, None) without training samples."""
    pred = majority_prediction(task, train)
    if pred is None:
        return None, None
    scores = score_classification(task, targets, [pred] * len(targets))
    return {m: scores[m] for m in METRICS[task]}, pred
