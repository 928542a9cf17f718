"""python -m ava.build_dataset: group indices that share a key (dedup clusters, advertisers) with union-find."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence


def connected(keys: Sequence[Iterable[Hashable]]) -> list[list[int]]:
    """Indices joined by any shared key, transitively; each group sorted, groups ordered by first index."""
    parent = list(range(len(keys)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[Hashable, int] = {}
    for i, ks in enumerate(keys):
        for k in ks:
            if k in first:
                a, b = find(first[k]), find(i)
                parent[max(a, b)] = min(a, b)
            else:
                first[k] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(keys)):
        groups.setdefault(find(i), []).append(i)
    return [groups[k] for k in sorted(groups)]
