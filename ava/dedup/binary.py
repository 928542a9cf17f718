"""python -m ava.dedup method=phash: near-duplicate pHashes with FAISS binary indexes (no neural weights).

Up to ``binary_flat_max_items`` hashes: ``IndexBinaryFlat``, exact Hamming brute force. Beyond:
``IndexBinaryMultiHash`` with 4 hash tables on the 4 disjoint 16-bit chunks of the 64-bit hash, each probing
every bucket within ``nflip = threshold // 4`` bit flips of the query's chunk. Pigeonhole: two hashes at most
``threshold`` bits apart differ in at most ``threshold // 4`` bits of some chunk, so that chunk's table
finds the pair: the multi-hash search is exact by construction. It reads a few buckets instead of every hash,
but with faiss 1.15 on a 2-core CPU it was slower than the flat scan at 100k and 300k hashes (conf/dedup.yaml
cites the timings), hence the high default switch-over. The recall estimate against exact NumPy search on a
sample checks the exactness on every run.
"""

from __future__ import annotations

from collections.abc import Iterator

import faiss
import numpy as np
from tqdm import tqdm

from ava.vector_index import RecallReport, pair_recall

NBITS = 64
MULTIHASH_TABLES = 4  # 4 x 16-bit chunks: 65,536 buckets a table, so a bucket holds few unrelated hashes
EXACT_BLOCK_BYTES = 256 * 2**20


def build_binary(codes: np.ndarray, threshold: int, flat_max_items: int) -> tuple[faiss.IndexBinary, str]:
    """The binary index over (n, 8) uint8 codes and a description of it."""
    if len(codes) <= flat_max_items:
        index, name = faiss.IndexBinaryFlat(NBITS), "IndexBinaryFlat"
    else:
        index = faiss.IndexBinaryMultiHash(NBITS, MULTIHASH_TABLES, NBITS // MULTIHASH_TABLES)
        index.nflip = threshold // MULTIHASH_TABLES
        bits = NBITS // MULTIHASH_TABLES
        name = f"IndexBinaryMultiHash(nhash={MULTIHASH_TABLES}, b={bits}, nflip={index.nflip})"
    index.add(codes)
    return index, name


def binary_pairs(
    index: faiss.IndexBinary,
    codes: np.ndarray,
    rows: np.ndarray,
    threshold: int,
    block_size: int,
    desc: str | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(row, neighbour != row, Hamming distance <= threshold) for the query rows, a block at a time."""
    starts = range(0, len(rows), block_size)
    for start in tqdm(starts, desc=desc, unit="block", disable=desc is None or len(starts) < 2):
        q_rows = rows[start : start + block_size]
        lims, dist, nbr = index.range_search(codes[q_rows], threshold + 1)  # faiss keeps distance < radius
        qi = np.repeat(q_rows, np.diff(lims).astype(np.int64)).astype(np.int64)
        keep = qi != nbr
        yield qi[keep], nbr[keep].astype(np.int64), dist[keep].astype(np.int64)


def hamming_to(codes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distance between rows a[k] and b[k] of (n, 8) uint8 codes."""
    words = codes.view(np.uint64)[:, 0]
    return np.bitwise_count(words[a] ^ words[b]).astype(np.int64)


def exact_binary_pairs(codes: np.ndarray, rows: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference: every (row, j != row) within ``threshold`` bits, by blocked NumPy XOR + popcount."""
    words = codes.view(np.uint64)[:, 0]
    step = max(1, EXACT_BLOCK_BYTES // (8 * len(words)))
    qi, nbr = [], []
    for s in range(0, len(rows), step):
        q_rows = rows[s : s + step]
        i, j = np.nonzero(np.bitwise_count(words[q_rows, None] ^ words[None, :]) <= threshold)
        keep = q_rows[i] != j
        qi.append(q_rows[i][keep])
        nbr.append(j[keep])
    return np.concatenate(qi).astype(np.int64), np.concatenate(nbr).astype(np.int64)


def estimate_binary_recall(
    index: faiss.IndexBinary, codes: np.ndarray, threshold: int, *, sample: int, seed: int, block_size: int
) -> RecallReport:
    """Pair recall of the (multi-hash) index against exact search on a random sample of query rows."""
    if isinstance(index, faiss.IndexBinaryFlat):
        return RecallReport()
    n = len(codes)
    rows = np.sort(np.random.default_rng(seed).permutation(n)[: min(sample, n)])
    exact = exact_binary_pairs(codes, rows, threshold)
    found = [p for p in binary_pairs(index, codes, rows, threshold, block_size)]
    report = RecallReport(sample_items=len(rows), sample_pairs=int(exact[0].size))
    if report.sample_pairs:
        report.recall = pair_recall(
            (np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])), exact, rows
        )
    return report
