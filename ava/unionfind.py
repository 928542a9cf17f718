"""python -m ava.dedup, python -m ava.build_dataset: disjoint sets (union-find) and connected groups.

dedup joins rows linked by duplicate pairs, taken a block at a time so the pair list is never held whole;
build_dataset groups items sharing a dedup cluster and advertisers sharing an item (:func:`connected`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import numpy as np


class UnionFind:
    """Disjoint sets over rows 0..n-1, vectorised: unions of whole edge arrays, roots are the smallest row."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)

    def _find(self, x: np.ndarray) -> np.ndarray:
        roots = self.parent[x]
        while True:
            up = self.parent[roots]
            if np.array_equal(up, roots):
                return roots
            roots = up

    def _compress(self) -> None:
        while True:
            up = self.parent[self.parent]
            if np.array_equal(up, self.parent):
                return
            self.parent = up

    def union(self, a: np.ndarray, b: np.ndarray) -> None:
        """Merge the sets of a[k] and b[k] for every k."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        while a.size:
            ra, rb = self._find(a), self._find(b)
            pending = ra != rb
            a, b, ra, rb = a[pending], b[pending], ra[pending], rb[pending]
            # Link each larger root to the smallest root it meets; links only point down, so no cycles.
            # Edges whose root was linked elsewhere this round are retried on the next pass.
            np.minimum.at(self.parent, np.maximum(ra, rb), np.minimum(ra, rb))
        self._compress()

    def labels(self) -> np.ndarray:
        """Dense cluster ids 0..C-1, numbered by each cluster's first row."""
        self._compress()
        _, labels = np.unique(self.parent, return_inverse=True)
        return labels.astype(np.int64)


def connected(keys: Sequence[Iterable[Hashable]]) -> list[list[int]]:
    """Indices joined by any shared key, transitively; each group sorted, groups ordered by first index."""
    first: dict[Hashable, int] = {}
    a: list[int] = []
    b: list[int] = []
    for i, ks in enumerate(keys):
        for k in ks:
            j = first.setdefault(k, i)
            if j != i:
                a.append(j)
                b.append(i)
    union = UnionFind(len(keys))
    union.union(np.array(a, dtype=np.int64), np.array(b, dtype=np.int64))
    labels = union.labels()
    order = np.argsort(labels, kind="stable")
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    return [group.tolist() for group in np.split(order, cuts)] if labels.size else []
