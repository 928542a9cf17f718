"""ava.evaluate.metrics against SciPy and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from ava.evaluate import metrics


@pytest.mark.parametrize("seed", range(5))
def test_wasserstein_matches_scipy_with_ordinal_positions(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    positions = rng.permutation(np.arange(1, k + 1) * 1.0)
    positions[-1] = 1.5 if k > 2 else positions[-1]  # a repeated-free, non-1..N layout
    p, q = rng.random(k), rng.random(k)
    ref = wasserstein_distance(positions, positions, u_weights=p, v_weights=q)
    assert metrics.wasserstein_1d(positions, p, q) == pytest.approx(ref, abs=1e-12)


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


@pytest.mark.parametrize("seed", range(5))
def test_js_similarity_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    p, q = rng.random(4), rng.random(4)
    q[1] = 0.0
    assert metrics.js_similarity(p, q) == pytest.approx(1 - jensenshannon(p, q, base=2), abs=1e-12)


def test_js_similarity_hand_cases():
    assert metrics.js_similarity([1, 0], [0, 1]) == pytest.approx(0.0)
    assert metrics.js_similarity([0.3, 0.7], [0.3, 0.7]) == pytest.approx(1.0)


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
