"""python -m ava.evaluate benchmark=behaviour: per-task scores of parsed answers (see ``measures`` for definitions).

Every sample of a task counts: an answer that is missing (precomputed mode) or unparseable scores 0 on every
classification metric and is an empty hypothesis for BLEU / ROUGE, and both are counted in the task's row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ava.evaluate.behaviour import measures
from ava.sample import ATTRIBUTES, Attribute, attribute, family, is_generative

# The task's headline metric (first) and the others reported for it: a TAP task's follow its attribute's kind.
KIND_METRICS: dict[str, tuple[str, ...]] = {
    "label": ("accuracy",),
    "ranking": ("top_k_overlap", "first_state_accuracy"),
    "range": ("range_accuracy", "exact_range_accuracy"),
}
METRICS: dict[str, tuple[str, ...]] = {
    **{f"TAP-{a.letter}": KIND_METRICS[a.kind] for a in ATTRIBUTES.values()},
    "AS": ("accuracy",),
}
GENERATIVE_METRICS = ("ROUGE-Lsum", *(f"BLEU-{n}" for n in measures.BLEU_ORDERS))


def tap_attribute(task: str) -> Attribute | None:
    """The attribute a TAP task predicts (its kind says how it is scored); None for AS and the generative tasks."""
    return attribute(task) if family(task) == "TAP" else None


def metric_names(task: str) -> tuple[str, ...]:
    return GENERATIVE_METRICS if is_generative(task) else METRICS[task]


def sample_scores(task: str, pred: Mapping[str, Any] | None, target: Mapping[str, Any]) -> dict[str, float]:
    """Each classification metric of one sample (0 for a missing or unparseable prediction)."""
    names = METRICS[task]
    if pred is None:
        return dict.fromkeys(names, 0.0)
    a = tap_attribute(task)
    if a is None:  # AS
        return {"accuracy": float(pred["choice"] == target["choice"])}
    key = a.key
    if a.kind == "label":
        return {"accuracy": float(pred[key] == target[key])}
    if a.kind == "ranking":
        got, true = list(pred[key]), list(target[key])
        return {"top_k_overlap": measures.topk_overlap(got, true),
                "first_state_accuracy": float(bool(got) and got[0] == true[0])}
    return {"range_accuracy": float(measures.in_range(pred[key], target[key])),
            "exact_range_accuracy": float(measures.same_range(pred[key], target[key]))}


def score_classification(task: str, targets: Sequence[Mapping[str, Any]],
                         preds: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Mean of each metric over all samples, plus the JS distance where a distribution was predicted."""
    rows = [sample_scores(task, p, t) for p, t in zip(preds, targets, strict=True)]
    out: dict[str, Any] = {m: float(np.mean([r[m] for r in rows])) for m in METRICS[task]}
    js = [measures.js_distance(p["distribution"], t["distribution"]) for p, t in zip(preds, targets, strict=True)
          if p is not None and p.get("distribution") and t.get("distribution")]
    if (a := tap_attribute(task)) is not None and a.kind == "label":
        out["distributions_predicted"] = len(js)
        out["js_distance"] = float(np.mean(js)) if js else None
    return out


def score_generative(hypotheses: Sequence[str | None], references: Sequence[str]) -> dict[str, Any]:
    hyps = [h or "" for h in hypotheses]
    return {"ROUGE-Lsum": measures.rouge_lsum(hyps, references), **measures.bleu(hyps, references)}


def headline(task: str) -> str:
    return metric_names(task)[0]
