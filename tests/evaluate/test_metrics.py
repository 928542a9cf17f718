"""ava.evaluate.metrics (SciPy's W1 and JS distance inside) against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from ava.evaluate import metrics


@pytest.mark.parametrize(("positions", "p", "q", "w1"), [
    ([1, 2, 3], [1, 0, 0], [0, 0, 1], 2.0),  # all mass moves two steps
    ([1, 2, 3], [0.5, 0.5, 0], [0, 0.5, 0.5], 1.0),  # |F_p - F_q| = 0.5 over [1, 2] and over [2, 3]
    ([1, 2, 3], [2, 2, 0], [0, 3, 3], 1.0),  # unnormalised: both sides normalise
    ([3, 1, 2], [0, 0.5, 0.5], [0.5, 0, 0.5], 1.0),  # positions in any order: the same case permuted
    ([1, 2, 1.5], [1, 0, 0], [0, 1, 0], 1.0),  # a non-1..N layout (OpinionQA's option_ordinal)
    ([1, 2, 1.5], [1, 0, 0], [0, 0, 1], 0.5),
    ([1, 1, 2], [1, 0, 0], [0, 1, 0], 0.0),  # a repeated position: no distance between its options
    ([1, 1, 2], [0.5, 0.5, 0], [0, 0, 1], 1.0),
])
def test_wasserstein_hand_computed(positions, p, q, w1):
    assert metrics.wasserstein_1d(positions, p, q) == pytest.approx(w1, abs=1e-12)
    assert metrics.wasserstein_1d(positions, p, p) == pytest.approx(0.0, abs=1e-12)


def test_ordinal_alignment_hand_cases_non_1_to_n():
    pos = [1.0, 2.0, 1.5]  # e.g. Positive / Negative / No impact (option_ordinal of a real question)
    assert metrics.ordinal_alignment(pos, [1, 0, 0], [0, 1, 0]) == pytest.approx(0.0)
    # all mass at 1 vs all at 1.5: W1 = 0.5, span 1 -> 0.5 (1..N positions would give 1 - 2/2 = 0)
    assert metrics.ordinal_alignment(pos, [1, 0, 0], [0, 0, 1]) == pytest.approx(0.5)
    assert metrics.ordinal_alignment(pos, [0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == pytest.approx(1.0)
    # half at 1, half at 2 vs all at 1.5: W1 = 0.5
    assert metrics.ordinal_alignment(pos, [0.5, 0.5, 0], [0, 0, 1]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="not ordinal"):
        metrics.ordinal_alignment([1, 1, 1], [1, 0, 0], [0, 1, 0])


def test_drop_refusal_renormalises_and_reports_mass():
    kept, refusal = metrics.drop_refusal([0.2, 0.2, 0.2, 0.4], [False, False, False, True])
    np.testing.assert_allclose(kept, [1 / 3] * 3)
    assert refusal == pytest.approx(0.4)
    # survey weights: A w=2, B w=1, Refused w=1, A w=1 -> D_H = [3/4, 1/4], R_H = 1/5
    kept, refusal = metrics.drop_refusal([3.0, 1.0, 1.0], [False, False, True])
    np.testing.assert_allclose(kept, [0.75, 0.25])
    assert refusal == pytest.approx(0.2)
    with pytest.raises(ValueError, match="refusal"):
        metrics.drop_refusal([0, 0, 1], [False, False, True])


def test_js_similarity_hand_cases():
    assert metrics.js_similarity([1, 0], [0, 1]) == pytest.approx(0.0)
    assert metrics.js_similarity([0.3, 0.7], [0.3, 0.7]) == pytest.approx(1.0)
    # p = [1, 0], q = [1/2, 1/2], m = [3/4, 1/4]: KL2(p||m) = log2(4/3), KL2(q||m) = (log2(2/3) + 1) / 2,
    # JSD = their mean = 0.311278; similarity = 1 - sqrt(JSD) (base 2: GlobalOpinionQA's definition)
    jsd = 0.5 * (np.log2(4 / 3) + 0.5 * (np.log2(2 / 3) + 1))
    assert metrics.js_similarity([1, 0], [0.5, 0.5]) == pytest.approx(1 - np.sqrt(jsd), abs=1e-12)
    assert metrics.js_similarity([2, 0], [3, 3]) == pytest.approx(1 - np.sqrt(jsd), abs=1e-12)  # unnormalised
    p = np.array([0.2, 0.3, 0.5])
    near = p * (1 + 1e-15 * np.array([1.0, -1.0, 0.5]))  # a divergence that may round below zero: still 1
    assert metrics.js_similarity(p, near) == pytest.approx(1.0, abs=1e-7)


def test_macro_f1_accuracy_and_thresholds_hand_computed():
    labels, preds = [1, 1, 0, 0], [1, 0, 0, 0]
    # F1(pos) = 2*1/(2+1) = 2/3; F1(neg) = 2*2/(2+3) = 4/5
    assert metrics.macro_f1(labels, preds) == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert metrics.accuracy(labels, preds) == pytest.approx(0.75)
    assert metrics.macro_f1([0, 0], [0, 0]) == pytest.approx(0.5)  # no positives: F1(pos) = 0
    best, t, per = metrics.best_threshold_macro_f1([1, 0, 1, 0], [0.95, 0.65, 0.75, 0.5], [0.6, 0.7, 1.0])
    assert per[0.7] == pytest.approx(1.0) and t == 0.7 and best == pytest.approx(1.0)
    assert per[1.0] == pytest.approx(metrics.macro_f1([1, 0, 1, 0], [0, 0, 0, 0]))


def test_metrics_reject_nan_and_negative():
    with pytest.raises(ValueError, match="finite"):
        metrics.js_similarity([np.nan, 1], [0.5, 0.5])
    with pytest.raises(ValueError, match="non-negative"):
        metrics.wasserstein_1d([1, 2], [-0.1, 1.1], [0.5, 0.5])
