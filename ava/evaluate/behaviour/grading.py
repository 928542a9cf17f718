"""python -m ava.evaluate benchmark=behaviour: per-task scores of parsed answers (see ``measures`` for definitions).

Every sample of a task counts: an answer that is missing (precomputed mode) or unparseable scores 0 on every
classification metric and is an empty hypothesis for BLEU / ROUGE, and both are counted in the task's row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ava.evaluate.behaviour import measures
from ava.sample import LABEL_KEY, RANGE_KEY, is_generative

# The task's headline metric (first) and the others reported for it.
METRICS: dict[str, tuple[str, ...]] = {
    "TAP-G": ("accuracy",),
    "TAP-A": ("accuracy",),
    "TAP-R": ("top_k_overlap", "first_state_accuracy"),
    "TAP-B": ("range_accuracy", "exact_range_accuracy"),
    "TAP-I": ("range_accuracy", "exact_range_accuracy"),
    "AS": ("accuracy",),
}
GENERATIVE_METRICS = ("ROUGE-Lsum", *(f"BLEU-{n}" for n in measures.BLEU_ORDERS))


def metric_names(task: str) -> tuple[str, ...]:
    return GENERATIVE_METRICS if is_generative(task) else METRICS[task]


def sample_scores(task: str, pred: Mapping[str, Any] | None, target: Mapping[str, Any]) -> dict[str, float]:
    """Each classification metric of one sample (0 for a missing or unparseable prediction)."""
    names = METRICS[task]
    if pred is None:
        return dict.fromkeys(names, 0.0)
    if task in LABEL_KEY:
        key = LABEL_KEY[task]
        return {"accuracy": float(pred[key] == target[key])}
    if task == "TAP-R":
        got, true = list(pred["regions"]), list(target["regions"])
        return {"top_k_overlap": measures.topk_overlap(got, true),
                "first_state_accuracy": float(bool(got) and got[0] == true[0])}
    if task in RANGE_KEY:
        key = RANGE_KEY[task]
        return {"range_accuracy": float(measures.in_range(pred[key], target[key])),
                "exact_range_accuracy": float(measures.same_range(pred[key], target[key]))}
    return {"accuracy": float(pred["choice"] == target["choice"])}


def score_classification(task: str, targets: Sequence[Mapping[str, Any]],
                         preds: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Mean of each metric over all samples, plus the JS distance where a distribution was predicted."""
    rows = [sample_scores(task, p, t) for p, t in zip(preds, targets, strict=True)]
    out: dict[str, Any] = {m: float(np.mean([r[m] for r in rows])) for m in METRICS[task]}
    js = [measures.js_distance(p["distribution"], t["distribution"]) for p, t in zip(preds, targets, strict=True)
          if p is not None and p.get("distribution") and t.get("distribution")]
    if task in LABEL_KEY:
        out["distributions_predicted"] = len(js)
        out["js_distance"] = float(np.mean(js)) if js else None
    return out


def score_generative(hypotheses: Sequence[str | None], references: Sequence[str]) -> dict[str, Any]:
    hyps = [h or "" for h in hypotheses]
    return {"ROUGE-Lsum": measures.rouge_lsum(hyps, references), **measures.bleu(hyps, references)}


def headline(task: str) -> str:
    return metric_names(task)[0]
