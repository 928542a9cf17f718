"""benchmark=behaviour metrics against independent references: hand-computed BLEU / ROUGE-Lsum cases, SciPy's
Jensen-Shannon distance, hand-counted accuracies, overlaps and baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from ava.evaluate.behaviour import baselines, grading, measures
from tests.evaluate import behaviour_samples as bs


def test_topk_overlap_and_ranges_by_hand():
    assert measures.topk_overlap(["Ohio", "Texas", "Utah"], ["Texas", "Iowa", "Ohio"]) == pytest.approx(2 / 3)
    assert measures.topk_overlap(["Ohio", "Texas", "Utah", "Iowa"], ["Texas", "Iowa", "Ohio"]) == pytest.approx(2 / 3)
    assert measures.topk_overlap([], ["Texas"]) == 0.0
    true = {"lower": 100.0, "upper": 199.0}
    assert measures.in_range({"lower": 150, "upper": 150}, true)
    exact = {"lower": 100, "upper": 199}
    assert measures.in_range(exact, true) and measures.same_range(exact, true)
    assert measures.in_range({"lower": 50, "upper": 300}, true)  # midpoint 175 lies inside: range hit, not exact
    assert not measures.same_range({"lower": 50, "upper": 300}, true)
    assert not measures.in_range({"lower": 200, "upper": 299}, true)
    assert measures.in_range({"lower": 2e6, "upper": None}, {"lower": 1e6, "upper": None})  # open ranges
    assert not measures.in_range({"lower": 5e5, "upper": None}, {"lower": 1e6, "upper": None})


def test_js_distance_matches_scipy():
    rng = np.random.default_rng(0)
    labels = ["male", "female", "unknown"]
    for _ in range(5):
        p, q = rng.dirichlet(np.ones(3)), rng.dirichlet(np.ones(3))
        got = measures.js_distance(dict(zip(labels, p * 100, strict=True)), dict(zip(labels, q, strict=True)))
        assert got == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)
    # a label one side lacks counts as 0 there
    got = measures.js_distance({"female": 60, "male": 40}, {"male": 0.5, "female": 0.3, "unknown": 0.2})
    assert got == pytest.approx(jensenshannon([0.6, 0.4, 0.0], [0.3, 0.5, 0.2], base=2), abs=1e-12)


def test_bleu_by_hand():
    hyp, ref = "the cat sat on the mat", "the cat is on the mat"
    got = measures.bleu([hyp], [ref])
    # 1-grams 5/6, 2-grams 3/5, 3-grams 1/4, 4-grams 0/3 (sacrebleu's 'exp' smoothing: 1 / (2 * 3)); BP = 1
    p = [5 / 6, 3 / 5, 1 / 4, 1 / 6]
    for n in (1, 2, 3, 4):
        assert got[f"BLEU-{n}"] == pytest.approx(100 * math.prod(p[:n]) ** (1 / n), abs=1e-9)
    short = measures.bleu(["the cat"], [ref])  # brevity penalty exp(1 - 6/2)
    assert short["BLEU-1"] == pytest.approx(100 * math.exp(-2), abs=1e-9)
    # corpus level: counts add up over the pairs; an empty hypothesis adds nothing but the reference length
    got = measures.bleu([hyp, ""], [ref, "a b c d"])
    assert got["BLEU-1"] == pytest.approx(100 * (5 / 6) * math.exp(1 - 10 / 6), abs=1e-9)


def test_rouge_lsum_by_hand():
    # one line: LCS 5 of ref 6, hyp 5 -> F = 2 * 1 * 5/6 / (1 + 5/6) = 10/11
    assert measures.rouge_lsum(["the cat on the mat"], ["the cat sat on the mat"]) == pytest.approx(1000 / 11)
    # lines are sentences: union LCS of ref line 1 {alpha, gamma} and ref line 2 {delta, eps}: 4 of 5 both ways
    got = measures.rouge_lsum(["alpha gamma\ndelta zeta eps"], ["alpha beta gamma\ndelta eps"])
    assert got == pytest.approx(80.0)
    assert measures.rouge_lsum(["", "x"], ["a b", "x"]) == pytest.approx(50.0)  # mean over pairs; empty = 0


def test_classification_scores_count_unparseable_as_wrong():
    targets = [s["target"] for s in (bs.tap_g(0, "female"), bs.tap_g(1, "male"), bs.tap_g(2, "male"))]
    preds = [{"gender": "female", "distribution": {"female": 70, "male": 30}}, {"gender": "female"}, None]
    got = grading.score_classification("TAP-G", targets, preds)
    assert got["accuracy"] == pytest.approx(1 / 3) and got["distributions_predicted"] == 1
    assert got["js_distance"] == pytest.approx(jensenshannon([0.7, 0.3, 0.0], [0.7, 0.3, 0.0], base=2), abs=1e-9)
    r = [bs.tap_r(0, ["Vermont", "Massachusetts", "New York"])["target"]] * 2
    got = grading.score_classification("TAP-R", r, [{"regions": ["Vermont", "Ohio", "New York"]},
                                                  {"regions": ["Ohio", "Vermont"]}])
    assert got == {"top_k_overlap": pytest.approx(0.5), "first_state_accuracy": 0.5}
    i = [bs.tap_i(0, 5000, 9999)["target"], bs.tap_i(1, 1000, 4999)["target"]]
    got = grading.score_classification("TAP-I", i, [{"impressions": {"lower": 5000.0, "upper": 9999.0}},
                                                  {"impressions": {"lower": 2000.0, "upper": 2000.0}}])
    assert got == {"range_accuracy": 1.0, "exact_range_accuracy": 0.5}


def test_baselines_by_hand():
    val = [s["target"] for s in bs.val_samples() if s["task"] == "TAP-A"]      # 25-34, 65+
    train = [s["target"] for s in bs.train_samples() if s["task"] == "TAP-A"]  # 25-34, 18-24, 25-34
    classes = {"gender": ["male", "female"], "age": bs.AGES}
    assert baselines.random_baseline("TAP-A", val, train, classes, {})["accuracy"] == pytest.approx(1 / 7)
    got, pred = baselines.majority_baseline("TAP-A", val, train)
    assert pred == {"age": "25-34"} and got == {"accuracy": 0.5}

    tr = [s["target"] for s in bs.train_samples() if s["task"] == "TAP-R"]
    vr = [s["target"] for s in bs.val_samples() if s["task"] == "TAP-R"]
    # train top-3 lists name Texas twice, then Iowa, Maine, Ohio, Utah once: ties in name order
    got, pred = baselines.majority_baseline("TAP-R", vr, tr)
    assert pred == {"regions": ["Texas", "Iowa", "Maine"]}
    assert got["top_k_overlap"] == pytest.approx((0 + 2 / 3) / 2) and got["first_state_accuracy"] == 0.5
    table = {"region": ["Vermont", "Texas", "Ohio", "Utah"],  # N = 4; val 0 has 1 of its regions there, val 1 has 2
             "country": ["France", "Malta"]}
    got = baselines.random_baseline("TAP-R", vr, tr, classes, table)
    assert got["top_k_overlap"] == pytest.approx((1 / 4 + 2 / 4) / 2)
    assert got["first_state_accuracy"] == pytest.approx((1 / 4 + 1 / 4) / 2)
    # a DSA record's target ranks countries: the guess is drawn from the country table (N = 2), not the states
    eu = [{"regions": ["Malta", "Spain"], "region_kind": "country"}]
    assert baselines.random_baseline("TAP-R", eu, tr, classes, table) == {"top_k_overlap": 1 / 2,
                                                                            "first_state_accuracy": 1 / 2}

    # TAP-B: train ranges 100-199 (x2), 200-299; val 100-199 and 1000-4999
    tb = [s["target"] for s in bs.train_samples() if s["task"] == "TAP-B"]
    vb = [s["target"] for s in bs.val_samples() if s["task"] == "TAP-B"]
    got = baselines.random_baseline("TAP-B", vb, tb, classes, table)
    assert got == {"range_accuracy": pytest.approx(0.25), "exact_range_accuracy": pytest.approx(0.25)}
    assert baselines.majority_baseline("TAP-B", vb, tb)[0] == {"range_accuracy": 0.5, "exact_range_accuracy": 0.5}
    assert baselines.random_baseline("TAP-B", vb, [], classes, table) is None
    assert baselines.majority_baseline("TAP-B", vb, []) == (None, None)

    va = [s["target"] for s in bs.val_samples() if s["task"] == "AS"]  # choices 2 and 4 of 4
    ta = [s["target"] for s in bs.train_samples() if s["task"] == "AS"]  # 2, 3, 2
    assert baselines.random_baseline("AS", va, ta, classes, table) == {"accuracy": 0.25}
    assert baselines.majority_baseline("AS", va, ta) == ({"accuracy": 0.5}, {"choice": 2})
    vg = [s["target"] for s in bs.val_samples() if s["task"] == "TAP-G"]
    assert baselines.random_baseline("TAP-G", vg, [], classes, table) == {"accuracy": 0.5}
