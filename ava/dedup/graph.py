"""python -m ava.dedup: one representative per cluster of duplicates.

Clusters are the connected components of the graph whose edges are the duplicate pairs (similarity at or
above the threshold), found by :class:`ava.unionfind.UnionFind`.

Representative rule: the member with the highest summed similarity to all other members of its cluster
(linked directly or not), i.e. the member most typical of the cluster; ties go to the earliest input row.
Both sums are linear in the cluster size and are taken over whole clusters, ``CHUNK_ROWS`` rows at a time:
- cosine on unit vectors: sum_j e_i.e_j = e_i . (sum_j e_j) - 1;
- pHash: sum_j (1 - H(i, j)/64) is largest where sum_j H(i, j) = sum_bits (bit set ? n - c : c) is smallest,
  c being the number of members with that bit set.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

# Rows of duplicate clusters gathered at once for the representative scores (float64: 8·d bytes a row, 256 MiB
# at d=512); a chunk holds whole clusters, so one larger than this is taken whole.
CHUNK_ROWS = 65536


def pick_representatives(labels: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Row of the highest-scoring member of each cluster (earliest row on ties), indexed by cluster id."""
    n_clusters = int(labels.max()) + 1 if labels.size else 0
    order = np.lexsort((np.arange(labels.size), -score, labels))  # by cluster, best score, earliest row
    first = np.ones(labels.size, dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    reps = np.empty(n_clusters, dtype=np.int64)
    reps[labels[order][first]] = order[first]
    return reps


def _member_chunks(labels: np.ndarray, chunk_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Rows of clusters with 2+ members sorted by cluster, about ``chunk_rows`` at a time and cut only between
    clusters: (rows, where each cluster starts in them, its size)."""
    sizes = np.bincount(labels)
    rows = np.flatnonzero(sizes[labels] > 1)
    rows = rows[np.argsort(labels[rows], kind="stable")]
    if not rows.size:
        return
    starts = np.flatnonzero(np.r_[True, labels[rows][1:] != labels[rows][:-1]])
    bounds = np.r_[starts, rows.size]
    cuts = np.unique(np.r_[bounds[np.searchsorted(bounds, np.arange(0, rows.size, chunk_rows))], rows.size])
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        local = starts[(starts >= a) & (starts < b)] - a
        yield rows[a:b], local, np.diff(np.r_[local, b - a])


def summed_cosine(x: np.ndarray, labels: np.ndarray, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """Per row: sum of cosine similarities to the other members of its cluster (0 for singletons)."""
    score = np.zeros(labels.size, dtype=np.float64)
    for rows, starts, sizes in _member_chunks(labels, chunk_rows):
        block = x[rows].astype(np.float64)
        sums = np.add.reduceat(block, starts, axis=0)
        owner = np.repeat(np.arange(starts.size), sizes)
        score[rows] = np.einsum("ij,ij->i", block, sums[owner]) - np.einsum("ij,ij->i", block, block)
    return score


def summed_hamming_similarity(bits: np.ndarray, labels: np.ndarray, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """Per row: sum over the other members of 1 - Hamming/nbits, from per-bit counts (bits: (n, nbits))."""
    score = np.zeros(labels.size, dtype=np.float64)
    for rows, starts, sizes in _member_chunks(labels, chunk_rows):
        block = bits[rows].astype(np.int64)
        counts = np.add.reduceat(block, starts, axis=0)
        owner = np.repeat(np.arange(starts.size), sizes)
        n = sizes[owner][:, None]
        hamming = np.where(block == 1, n - counts[owner], counts[owner]).sum(axis=1)
        score[rows] = (n[:, 0] - 1) - hamming / bits.shape[1]
    return score
