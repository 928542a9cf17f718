"""python -m ava.dedup: the representative rule against brute force."""

import numpy as np
import pytest

from ava.dedup.graph import pick_representatives, summed_cosine, summed_hamming_similarity


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
