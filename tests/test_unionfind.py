"""ava.unionfind: union-find and connected() against SciPy's connected components and hand-made cases."""

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ava.unionfind import UnionFind, connected
from tests.dedup.helpers import brute_force_labels, canonical


@pytest.mark.parametrize("seed", range(4))
def test_union_find_matches_scipy_connected_components(seed):
    rng = np.random.default_rng(seed)
    n = 3000
    edges = rng.integers(0, n, (2, 2500))
    chain = np.arange(0, 400)  # a long chain, added in reverse order, stresses repeated linking
    edges = np.concatenate([edges, np.stack([chain[1:][::-1], chain[:-1][::-1]])], axis=1)
    union = UnionFind(n)
    for block in np.array_split(np.arange(edges.shape[1]), 7):  # fed block by block, as the search does
        union.union(edges[0, block], edges[1, block])
    expected = brute_force_labels((edges[0], edges[1]), n)
    assert np.array_equal(canonical(union.labels()), canonical(expected))


def test_labels_are_dense_and_numbered_by_first_row():
    union = UnionFind(6)
    union.union(np.array([5, 3]), np.array([1, 4]))
    assert union.labels().tolist() == [0, 1, 2, 3, 3, 1]


def test_connected_groups_indices_sharing_a_key():
    keys = [["a"], ["b", 7], [], [7, ("t", 1)], ["c"], ["a", ("t", 1)], ["c"], ["d", "d"]]
    assert connected(keys) == [[0, 1, 3, 5], [2], [4, 6], [7]]
    assert connected([]) == []


@pytest.mark.parametrize("seed", range(6))
def test_connected_matches_scipy_on_the_index_key_graph(seed):
    """Reference: SciPy's connected components of the bipartite graph index -- key, restricted to indices."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    n_keys = int(rng.integers(1, 2 * n + 2))
    keys = [[f"k{k}" if k % 3 else int(k) for k in rng.integers(0, n_keys, rng.integers(0, 4))] for _ in range(n)]
    key_ids = {k: n + j for j, k in enumerate(dict.fromkeys(k for ks in keys for k in ks))}
    rows = [i for i, ks in enumerate(keys) for _ in ks]
    cols = [key_ids[k] for ks in keys for k in ks]
    size = n + len(key_ids)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(int(labels[i]), []).append(i)
    assert connected(keys) == sorted(groups.values(), key=lambda g: g[0])
