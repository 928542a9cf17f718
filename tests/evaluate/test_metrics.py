"""ava.evaluate.metrics (SciPy's W1 and JS distance inside) against the former hand-written versions and
hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from ava.evaluate import metrics


def _former_w1(positions, p, q):
    """metrics.wasserstein_1d before it called SciPy: the integral of |F_p - F_q| over the sorted support."""
    x, pa, qa = (np.asarray(v, dtype=np.float64) for v in (positions, p, q))
    pa, qa = pa / pa.sum(), qa / qa.sum()
    order = np.argsort(x, kind="stable")
    x, pa, qa = x[order], pa[order], qa[order]
    return float(np.sum(np.abs(np.cumsum(pa) - np.cumsum(qa))[:-1] * np.diff(x)))


def _former_js_similarity(p, q):
    """metrics.js_similarity before it called SciPy: 1 - sqrt of the base-2 JS divergence, clipped at 0."""
    pa, qa = (np.asarray(v, dtype=np.float64) for v in (p, q))
    pa, qa = pa / pa.sum(), qa / qa.sum()
    m = 0.5 * (pa + qa)

    def kl2(a):
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return 1.0 - float(np.sqrt(max(0.5 * kl2(pa) + 0.5 * kl2(qa), 0.0)))


@pytest.mark.parametrize("seed", range(8))
def test_wasserstein_equals_the_former_hand_written_w1(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    positions = rng.permutation(np.arange(1, k + 1) * 1.0)
    positions[-1] = 1.5 if k > 2 else positions[-1]  # a non-1..N layout (OpinionQA's option_ordinal)
    if seed % 2:
        positions[0] = positions[1]  # a repeated position
    p, q = rng.random(k) * 3, rng.random(k)  # unnormalised: both sides normalise
    p[rng.integers(k)] = 0.0
    assert metrics.wasserstein_1d(positions, p, q) == pytest.approx(_former_w1(positions, p, q), abs=1e-12)
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


@pytest.mark.parametrize("seed", range(8))
def test_js_similarity_equals_the_former_hand_written_one(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 9))
    p, q = rng.random(k), rng.random(k) * 5
    q[rng.integers(k)] = 0.0
    assert metrics.js_similarity(p, q) == pytest.approx(_former_js_similarity(p, q), abs=1e-12)
    near = p * (1 + 1e-15 * rng.standard_normal(k))  # divergence that may round below zero
    assert metrics.js_similarity(p, near) == pytest.approx(_former_js_similarity(p, near), abs=1e-7)


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
