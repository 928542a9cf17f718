"""python -m ava.dedup: index choice rules and blocked pair search against exact NumPy search."""

import faiss
import numpy as np
import pytest

from ava.vector_index import (
    BuiltIndex,
    IndexChooser,
    IndexPlan,
    PairSearch,
    build_index,
    exact_pairs,
    nlist_for,
    pair_recall,
    tune_and_estimate,
)
from tests.dedup.helpers import planted


def test_plan_by_size_and_memory_budget():
    chooser = IndexChooser(flat_max_items=20_000, max_memory_gb=8.0)
    assert chooser.plan(5_000, 512).factory == "Flat"
    assert chooser.plan(100_000, 512).factory == "IVF1024,Flat"  # 4·sqrt(1e5) = 1265 -> 1024
    assert chooser.plan(1_000_000, 512).factory == "IVF4096,Flat"  # 4000 -> 4096; 1e6·2056 B = 1.9 GiB fits
    # 1e7 x 512 as IVF-Flat needs 19 GiB > 8: PQ64 (72 B an item, 0.67 GiB) fits
    assert chooser.plan(10_000_000, 512).factory == "IVF16384,PQ64"
    assert IndexChooser(max_memory_gb=0.3).plan(10_000_000, 512).factory == "IVF16384,PQ16"
    with pytest.raises(MemoryError, match="raise dedup_index.max_memory_gb"):
        IndexChooser(max_memory_gb=0.01).plan(10_000_000, 512)
    assert IndexChooser(factory="HNSW32").plan(10, 8).factory == "HNSW32"
    assert nlist_for(2_000) == 32  # capped at n/39 points a list


def _pairs_set(qi, nbr):
    return set(zip(qi.tolist(), nbr.tolist(), strict=True))


@pytest.mark.parametrize("knn", [False, True])
def test_flat_search_finds_exactly_the_numpy_pairs(knn):
    x, _ = planted(300, 1500, d=32, seed=1, sigma=(0.05, 0.6))
    index = faiss.IndexFlatIP(32)
    index.add(x)
    # gpu=True takes the k-NN + threshold path that faiss GPU indexes need; here on a CPU index
    built = BuiltIndex(index=index, exact=True, lossy=False, gpu=knn)
    search = PairSearch(built, x, 0.9, margin=0.0, block_size=257, knn_k=64)
    rows = np.arange(len(x))
    found = _pairs_set(*search.pairs(rows))
    assert found == _pairs_set(*exact_pairs(x, rows, 0.9))
    assert len(found) > 300
    assert search.saturated == 0


def test_saturated_knn_queries_are_searched_again_exactly():
    """Ten identical vectors and k=5: every query's 5th neighbour is in range; k-NN alone would keep 4 of 9."""
    base = np.random.default_rng(0).standard_normal((30, 8)).astype(np.float32)
    x = np.concatenate([np.repeat(base[:1], 10, axis=0), base[1:]])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index = faiss.IndexFlatIP(8)
    index.add(x)
    search = PairSearch(BuiltIndex(index, True, False, True), x, 0.99, margin=0.0, block_size=4, knn_k=5)
    rows = np.arange(len(x))
    found = _pairs_set(*search.pairs(rows))
    assert found == _pairs_set(*exact_pairs(x, rows, 0.99))
    assert {(i, j) for i in range(10) for j in range(10) if i != j} <= found
    assert search.saturated == 10  # only the ten saturated queries went to the exact fallback


def test_pair_recall_is_the_share_of_exact_pairs_found():
    """faiss.contrib's range_PR against the plain definition (the set of exact pairs found)."""
    rng = np.random.default_rng(4)
    rows = np.sort(rng.choice(500, 60, replace=False))
    exact = (rng.choice(rows, 400), rng.integers(0, 500, 400))
    exact = tuple(np.array(v) for v in zip(*sorted(set(zip(*exact, strict=True))), strict=True))
    for keep in (1.0, 0.73, 0.2, 0.0):
        mask = rng.random(exact[0].size) < keep
        found = (exact[0][mask], exact[1][mask])
        want = np.isin(exact[0] * 500 + exact[1], found[0] * 500 + found[1]).mean()
        assert pair_recall(found, exact, rows) == pytest.approx(want, abs=1e-12)
    empty = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
    assert pair_recall(empty, empty, rows) == 1.0


def test_ivf_nprobe_is_tuned_to_the_target_recall():
    x, _ = planted(1500, 6000, d=32, seed=2, sigma=(0.05, 0.5))
    built = build_index(x, IndexPlan("IVF128,Flat", "test", None), gpu=False, seed=0)
    search = PairSearch(built, x, 0.85, margin=0.0, block_size=4096, knn_k=0)
    report = tune_and_estimate(search, target=0.99, sample=1500, seed=0)
    assert report.param == "nprobe" and report.tuning[report.value] >= 0.99
    smaller = [v for v in report.tuning if v < report.value]
    assert all(report.tuning[v] < 0.99 for v in smaller)  # the smallest value that reaches the target
    rows = np.arange(len(x))
    full = pair_recall(search.pairs(rows), exact_pairs(x, rows, 0.85), rows)
    assert report.recall is not None and report.sample_pairs > 100
    assert abs(report.recall - full) < 0.02  # the sampled estimate agrees with the full-run recall
    assert full >= 0.98


def test_lossy_pq_codes_are_rescored_with_a_measured_margin():
    x, _ = planted(600, 2400, d=32, seed=3, sigma=(0.05, 0.4))
    built = build_index(x, IndexPlan("IVF16,PQ8x4", "test", None), gpu=False, seed=0)
    assert built.lossy and not built.exact
    search = PairSearch(built, x, 0.9, margin=0.02, block_size=4096, knn_k=0)
    report = tune_and_estimate(search, target=0.99, sample=1000, seed=0)
    assert report.margin is not None and report.margin > 0.02
    rows = np.arange(len(x))
    qi, nbr = search.pairs(rows)
    assert _pairs_set(qi, nbr) <= _pairs_set(*exact_pairs(x, rows, 0.9))  # exact rescoring: no false pair
    assert pair_recall((qi, nbr), exact_pairs(x, rows, 0.9), rows) >= 0.98


def test_blocked_exact_pairs_match_one_matrix_product(monkeypatch):
    import ava.vector_index as index_module

    x, _ = planted(100, 400, d=16, seed=2, sigma=(0.05, 0.6))
    rows = np.sort(np.random.default_rng(0).choice(len(x), 200, replace=False))
    monkeypatch.setattr(index_module, "EXACT_QUERY_BLOCK", 37)  # 6 query blocks, the last one short
    monkeypatch.setattr(index_module, "EXACT_BLOCK_BYTES", 4 * 37 * 50)  # database slices of 50 rows
    i, j = np.nonzero(x[rows] @ x.T >= 0.9)
    expected = {(int(rows[a]), int(b)) for a, b in zip(i, j, strict=True) if rows[a] != b}
    assert len(expected) > 50
    assert _pairs_set(*exact_pairs(x, rows, 0.9)) == expected
