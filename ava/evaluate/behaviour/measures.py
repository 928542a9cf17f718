"""python -m ava.evaluate benchmark=behaviour: the behaviour-task metrics (the AVA paper's, §4), one per answer form.

* TAP-G / TAP-A / AS: accuracy of the first group (option) the answer names.
* TAP-R: top-k overlap ``|predicted[:k] ∩ true top k| / k`` and first-state accuracy.
* TAP-B / TAP-I: range accuracy (the predicted range's point, its midpoint or the lower bound of an open
  range or the number given, lies in the true range) and exact-range accuracy (both bounds equal).
* a predicted distribution (``"women 60%, men 40%"``): Jensen-Shannon distance (base 2, in [0, 1]) to the
  true one over the union of their labels.
* TAG / TS / TC: corpus BLEU-1..4 (sacrebleu, its 13a tokenizer, cumulative n-gram orders 1..n with brevity
  penalty, 0-100) and mean ROUGE-Lsum F1 (rouge-score, Porter stemmer, lines as sentences, 0-100).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ava.evaluate.metrics import js_similarity
from ava.sample import Range

BLEU_ORDERS = (1, 2, 3, 4)


def topk_overlap(predicted: Sequence[str], true: Sequence[str]) -> float:
    """Share of the true top ``k = len(true)`` found among the first ``k`` predicted names."""
    k = len(true)
    if k == 0:
        raise ValueError("the true top-k list is empty")
    return len(set(predicted[:k]) & set(true)) / k


def in_range(predicted: Mapping[str, float | None], true: Mapping[str, float | None]) -> bool:
    top = predicted.get("upper")
    x = Range(float(predicted["lower"]), None if top is None else float(top)).point("midpoint")
    upper = true.get("upper")
    return float(true["lower"]) <= x and (upper is None or x <= float(upper))


def same_range(predicted: Mapping[str, float | None], true: Mapping[str, float | None]) -> bool:
    def bound(v: float | None) -> float | None:
        return None if v is None else float(v)

    return (bound(predicted["lower"]), bound(predicted.get("upper"))) == (
        bound(true["lower"]), bound(true.get("upper")))


def js_distance(predicted: Mapping[str, float], true: Mapping[str, float]) -> float:
    """Jensen-Shannon distance (base 2) between two label → share maps, each normalised to sum 1."""
    labels = sorted(set(predicted) | set(true))
    return 1.0 - js_similarity([predicted.get(k, 0.0) for k in labels], [true.get(k, 0.0) for k in labels])


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus ``BLEU-n`` for n in 1..4 (one reference per hypothesis), on sacrebleu's 0-100 scale."""
    from sacrebleu.metrics import BLEU

    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError(f"need as many hypotheses as references (got {len(hypotheses)} and {len(references)})")
    return {f"BLEU-{n}": float(BLEU(max_ngram_order=n).corpus_score(list(hypotheses), [list(references)]).score)
            for n in BLEU_ORDERS}


def rouge_lsum(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Mean ROUGE-Lsum F1 over the pairs (rouge-score, Porter stemmer), 0-100."""
    from rouge_score import rouge_scorer

    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError(f"need as many hypotheses as references (got {len(hypotheses)} and {len(references)})")
    scorer = rouge_scorer.RougeScorer(["rougeLsum"], use_stemmer=True)
    scores = [scorer.score(ref, hyp)["rougeLsum"].fmeasure for hyp, ref in zip(hypotheses, references, strict=True)]
    return 100.0 * sum(scores) / len(scores)
