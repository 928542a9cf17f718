"""python -m ava.dedup: union-find clusters and the representative rule against SciPy / brute force."""

import numpy as np
import pytest

from ava.dedup.graph import UnionFind, connected, pick_representatives, summed_cosine, summed_hamming_similarity
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


def _former_connected(keys):
    """build_dataset's former scalar union-find (ava/build_dataset/unionfind.py), the reference for connected()."""
    parent = list(range(len(keys)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first = {}
    for i, ks in enumerate(keys):
        for k in ks:
            if k in first:
                a, b = find(first[k]), find(i)
                parent[max(a, b)] = min(a, b)
            else:
                first[k] = i
    groups = {}
    for i in range(len(keys)):
        groups.setdefault(find(i), []).append(i)
    return [groups[k] for k in sorted(groups)]


def test_connected_groups_indices_sharing_a_key():
    keys = [["a"], ["b", 7], [], [7, ("t", 1)], ["c"], ["a", ("t", 1)], ["c"], ["d", "d"]]
    assert connected(keys) == [[0, 1, 3, 5], [2], [4, 6], [7]]
    assert connected([]) == []


@pytest.mark.parametrize("seed", range(6))
def test_connected_equals_the_former_union_find(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    n_keys = int(rng.integers(1, 2 * n + 2))
    keys = [[f"k{k}" if k % 3 else int(k) for k in rng.integers(0, n_keys, rng.integers(0, 4))] for _ in range(n)]
    assert connected(keys) == _former_connected(keys)


def test_representative_is_the_member_with_highest_summed_similarity():
    # cluster 0: three vectors on a unit circle at 0, 10 and 20 degrees: the middle one is most typical
    angles = np.deg2rad([0.0, 10.0, 20.0, 90.0])
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    labels = np.array([0, 0, 0, 1])
    score = summed_cosine(x, labels)
    expected = [
        np.cos(angles[0] - angles[1]) + np.cos(angles[0] - angles[2]),
        np.cos(angles[1] - angles[0]) + np.cos(angles[1] - angles[2]),
        np.cos(angles[2] - angles[0]) + np.cos(angles[2] - angles[1]),
        0.0,
    ]
    np.testing.assert_allclose(score, expected, atol=1e-6)
    assert pick_representatives(labels, score).tolist() == [1, 3]


def test_ties_go_to_the_earliest_row():
    labels = np.array([1, 0, 1, 0, 1])
    assert pick_representatives(labels, np.zeros(5)).tolist() == [1, 0]


@pytest.mark.parametrize("chunk_rows", [1, 7, 65536])  # a cluster a chunk, several a chunk, all in one
def test_summed_scores_match_brute_force(chunk_rows):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 60, 300)
    labels[labels >= 40] = 40 + np.arange((labels >= 40).sum())  # singletons too
    x = rng.standard_normal((300, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    bits = rng.integers(0, 2, (300, 64)).astype(bool)
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    np.testing.assert_allclose(summed_cosine(x, labels, chunk_rows), ((x @ x.T) * same).sum(1), atol=1e-4)
    hamming = (bits[:, None, :] != bits[None, :, :]).sum(-1)
    np.testing.assert_allclose(
        summed_hamming_similarity(bits, labels, chunk_rows), ((1 - hamming / 64) * same).sum(1)
    )
