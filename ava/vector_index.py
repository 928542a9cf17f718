"""python -m ava.dedup, python -m ava.build_dataset (transsuasion partners): choose, build, tune and search a FAISS
index over embeddings (autofaiss-style).

Choice (:meth:`IndexChooser.plan`) by item count n, dimension d and the memory budget ``max_memory_gb``:

- n <= ``flat_max_items``: ``Flat``, exact inner product (4·d bytes an item);
- else ``IVF{nlist},Flat`` with nlist the power of two nearest 4·sqrt(n), when n·(4·d + 8) bytes (codes + ids)
  plus the centroids fit the budget;
- else ``IVF{nlist},PQ{m}``, m the largest of 64/32/16/8 dividing d that fits (m + 8 bytes an item);
- ``factory=<string>`` forces any FAISS index-factory string (inner-product metric).

Every candidate pair is rescored exactly from the embeddings, so the similarity column and the threshold test
are exact whatever the index. Lossy codes (PQ, SQ) are searched at ``threshold - margin`` so that pairs
their approximate scores put below the threshold are still found: the margin is 1.25x the largest score
error measured on the tuning sample's exact pairs, and at least ``rescore_margin``. IVF ``nprobe`` (HNSW
``efSearch``) is tuned on a random sample of queries: the smallest value whose duplicate-pair recall against
exact NumPy search reaches ``target_recall``; a second, disjoint sample gives the recall estimate reported.
On a GPU (faiss-gpu), which has no range search, faiss.contrib's ``range_search_gpu`` emulates it: a k-NN
search with ``knn_k`` neighbours, and the queries whose k-th neighbour is still in range (saturated) searched
again exactly on the CPU, so no pair is lost to k. Exact search is faiss.contrib's ``range_ground_truth`` over
blocks of the matrix (which may be a disk-backed memmap) and recall is its ``range_PR``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import faiss
import numpy as np
from faiss.contrib.evaluation import range_PR
from faiss.contrib.exhaustive_search import range_ground_truth, range_search_gpu
from tqdm import tqdm

from ava.runtime import loud_warning

# faiss.contrib's exact range search logs every database slice at INFO, which Hydra's log shows.
logging.getLogger("faiss.contrib.exhaustive_search").setLevel(logging.WARNING)

# faiss k-means warns below 39 training points a centroid; IVF trains on a random sample of 64 a list.
TRAIN_POINTS_PER_LIST = 64
# float32 rounding between faiss's scores and the exact rescoring; the pairs it admits are refiltered exactly
EXACT_MARGIN = 1e-4
EXACT_BLOCK_BYTES = 256 * 2**20  # exact search (range_ground_truth): the database slice and its similarity tile
EXACT_QUERY_BLOCK = 4096  # exact search queries per pass over the matrix: a recall sample (2000) takes one pass
ADD_BLOCK = 65536  # vectors added to the index per call: the rows read from a memmap per call (128 MiB at d=512)
UNTUNED_NPROBE_FRACTION = 16  # nprobe = nlist / 16 when the sample holds no pair to tune on
# Lossy codes: margin = this x the largest score error on the tuning sample. IVF256,PQ64 on the benchmark's
# 10k x 512 set: largest error 0.108, margin 0.135, recall 1.0; a fixed 0.05 capped recall at 0.98.
LOSSY_MARGIN_SAFETY = 1.25


@dataclass(frozen=True)
class IndexPlan:
    factory: str
    reason: str
    bytes_per_item: float | None  # index memory per vector (codes + ids); None when forced by config


def nlist_for(n: int) -> int:
    """IVF list count: the power of two nearest 4·sqrt(n) (autofaiss's rule of thumb), at most n / 39."""
    return max(1, min(2 ** round(math.log2(4 * math.sqrt(n))), 2 ** int(math.log2(max(n // 39, 1)))))


@dataclass
class IndexChooser:
    """Picks the index type by size and memory budget; ``factory`` other than ``auto`` forces one."""

    factory: str = "auto"
    flat_max_items: int = 20_000
    max_memory_gb: float = 8.0
    target_recall: float = 0.99
    rescore_margin: float = 0.02

    def plan(self, n: int, d: int) -> IndexPlan:
        if self.factory != "auto":
            return IndexPlan(self.factory, "forced by config (dedup_index.factory)", None)
        budget = self.max_memory_gb * 2**30
        if n <= self.flat_max_items and n * 4 * d <= budget:
            return IndexPlan("Flat", f"n={n} <= flat_max_items={self.flat_max_items}: exact search", 4 * d)
        nlist = nlist_for(n)
        centroids = nlist * 4 * d
        if n * (4 * d + 8) + centroids <= budget:
            return IndexPlan(
                f"IVF{nlist},Flat", f"n={n} > flat_max_items, IVF-Flat fits the budget", 4 * d + 8
            )
        for m in (64, 32, 16, 8):
            if d % m == 0 and n * (m + 8) + centroids <= budget:
                return IndexPlan(
                    f"IVF{nlist},PQ{m}", f"IVF-Flat needs {n * (4 * d + 8) / 2**30:.1f} GiB > budget", m + 8
                )
        raise MemoryError(
            f"{n} vectors of dimension {d} do not fit max_memory_gb={self.max_memory_gb} even as "
            f"IVF{nlist},PQ8 ({(n * 16 + centroids) / 2**30:.2f} GiB): raise dedup_index.max_memory_gb"
        )


@dataclass
class BuiltIndex:
    index: faiss.Index
    exact: bool  # brute force over uncompressed vectors
    lossy: bool  # compressed codes: approximate scores
    gpu: bool
    param: str | None = None  # search parameter tuned for recall: nprobe (IVF) or efSearch (HNSW)
    values: list[int] = field(default_factory=list)

    def set_param(self, value: int) -> None:
        space = faiss.GpuParameterSpace() if self.gpu else faiss.ParameterSpace()
        space.set_index_parameter(self.index, self.param, value)


def _code_size(index: faiss.Index) -> int:
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        return int(ivf.code_size)
    index = faiss.downcast_index(index)
    for inner in ("storage", "index"):
        if hasattr(index, inner):
            return _code_size(getattr(index, inner))
    return int(getattr(index, "code_size", 0))


def build_index(x: np.ndarray, plan: IndexPlan, *, gpu: bool, seed: int, gpu_shard: bool = True) -> BuiltIndex:
    """Train (on a random sample) and fill the planned index with ``x`` (RAM or memmap), a block at a time.

    With ``gpu`` the index trains on GPU 0 and is then copied to every GPU faiss sees: split between them
    (``gpu_shard``, each holds 1/k of the vectors: k times the capacity) or whole on each (replicas: k times
    the query throughput), the two modes of faiss's ``GpuMultipleClonerOptions.shard``.
    """
    n, d = x.shape
    index = faiss.index_factory(d, plan.factory, faiss.METRIC_INNER_PRODUCT)
    ivf = faiss.try_extract_index_ivf(index)
    hnsw = getattr(faiss.downcast_index(index), "hnsw", None)
    built = BuiltIndex(
        index=index,
        exact=isinstance(faiss.downcast_index(index), faiss.IndexFlat),
        lossy=_code_size(index) < 4 * d,
        gpu=gpu,
    )
    if ivf is not None:
        built.param = "nprobe"
        built.values = [2**k for k in range(int(math.log2(ivf.nlist)) + 1)]
    elif hnsw is not None:
        built.param, built.values = "efSearch", [16, 32, 64, 128, 256, 512, 1024]
    if isinstance(ivf, faiss.IndexIVFPQ):
        # Polysemous training reorders PQ codes for Hamming pre-filtering, which dedup never uses; it took
        # 360 of 366 s building IVF256,PQ64 on 10k x 512 (2-core CPU).
        ivf.do_polysemous_training = False
    if not index.is_trained:
        n_train = min(n, TRAIN_POINTS_PER_LIST * (ivf.nlist if ivf is not None else 256))
        sample = x[np.sort(np.random.default_rng(seed).choice(n, n_train, replace=False))]
        if gpu:  # train once, not once a shard
            resources = faiss.StandardGpuResources()  # kept alive while the trainer uses it
            trainer = faiss.index_cpu_to_gpu(resources, 0, index)
            trainer.train(sample)
            index = faiss.index_gpu_to_cpu(trainer)
        else:
            index.train(sample)
    if gpu:
        options = faiss.GpuMultipleClonerOptions()
        options.shard = gpu_shard
        index = faiss.index_cpu_to_all_gpus(index, co=options)
    built.index = index
    for start in tqdm(range(0, n, ADD_BLOCK), desc="dedup: index", unit="block", disable=n <= ADD_BLOCK):
        built.index.add(np.ascontiguousarray(x[start : start + ADD_BLOCK]))
    return built


class PairSearch:
    """Duplicate pairs (row, neighbour, exact cosine >= threshold) of query rows, a block at a time."""

    def __init__(
        self,
        built: BuiltIndex,
        x: np.ndarray,
        threshold: float,
        *,
        margin: float,
        block_size: int,
        knn_k: int,
    ) -> None:
        self.built, self.x, self.threshold = built, x, threshold
        self.radius = threshold - (margin if built.lossy else EXACT_MARGIN)
        self.block_size, self.knn_k = block_size, knn_k
        self._cpu_range = _ExactRange(x)  # range_search_gpu's fallback for saturated k-NN queries

    @property
    def saturated(self) -> int:
        """k-NN queries whose k-th neighbour was still in range, searched again exactly (GPU only)."""
        return self._cpu_range.queries

    def blocks(self, rows: np.ndarray, desc: str | None = None) -> Iterator[tuple[np.ndarray, ...]]:
        starts = range(0, len(rows), self.block_size)
        for start in tqdm(starts, desc=desc, unit="block", disable=desc is None or len(starts) < 2):
            q_rows = rows[start : start + self.block_size]
            queries = np.ascontiguousarray(self.x[q_rows])
            if self.built.gpu:
                lims, _, nbr = range_search_gpu(queries, self.radius, self.built.index, self._cpu_range,
                                                gpu_k=self.knn_k)
            else:
                lims, _, nbr = self.built.index.range_search(queries, self.radius)
            qi = np.repeat(q_rows, np.diff(lims).astype(np.int64)).astype(np.int64)
            nbr = nbr.astype(np.int64)
            keep = qi != nbr
            qi, nbr = qi[keep], nbr[keep]
            sims = rescore(self.x, qi, nbr)
            ok = sims >= self.threshold
            yield qi[ok], nbr[ok], sims[ok]

    def pairs(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = list(self.blocks(rows))
        return np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])


def rescore(x: np.ndarray, a: np.ndarray, b: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """Exact cosine of row pairs (a[k], b[k]) of the unit-norm matrix ``x`` (2·chunk·d·4 bytes at a time)."""
    out = np.empty(a.size, dtype=np.float32)
    for s in range(0, a.size, chunk):
        out[s : s + chunk] = np.einsum("ij,ij->i", x[a[s : s + chunk]], x[b[s : s + chunk]])
    return out


class _ExactRange:
    """``range_search`` by exact search over ``x`` (RAM or memmap), for ``range_search_gpu``'s CPU fallback.

    faiss.contrib would otherwise build an ``IndexFlat`` copy of the whole matrix for it.
    """

    def __init__(self, x: np.ndarray) -> None:
        self.x, self.queries = x, 0

    def range_search(self, q: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.queries += len(q)
        return exact_range(self.x, q, radius)


def exact_range(x: np.ndarray, q: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lims, scores, ids) of every row of ``x`` with inner product > ``radius`` to each query, exactly.

    faiss.contrib's ``range_ground_truth`` over slices of ``x`` that keep both the similarity tile and the slice
    copy under ``EXACT_BLOCK_BYTES``: one sequential pass over ``x``, which may be a disk-backed memmap.
    """
    d = x.shape[1]
    step = max(1, EXACT_BLOCK_BYTES // (4 * max(len(q), d)))
    slices = (np.ascontiguousarray(x[b : b + step]) for b in range(0, len(x), step))
    return range_ground_truth(np.ascontiguousarray(q), slices, radius, faiss.METRIC_INNER_PRODUCT, ngpu=0)


def exact_pairs(x: np.ndarray, rows: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Reference: every (row, j != row) with cosine >= threshold, ``EXACT_QUERY_BLOCK`` queries a pass.

    ``range_ground_truth`` keeps scores strictly above its radius: the radius is the float32 just below
    ``threshold``, so a pair at exactly the threshold counts, as in the search.
    """
    radius = float(np.nextafter(np.float32(threshold), np.float32(-np.inf)))
    qi, nbr = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)]
    for s in range(0, len(rows), EXACT_QUERY_BLOCK):
        q_rows = rows[s : s + EXACT_QUERY_BLOCK]
        lims, _, j = exact_range(x, x[q_rows], radius)
        i = np.repeat(q_rows, np.diff(lims).astype(np.int64)).astype(np.int64)
        keep = i != j
        qi.append(i[keep])
        nbr.append(j[keep].astype(np.int64))
    return np.concatenate(qi), np.concatenate(nbr)


def _lims(pairs: tuple[np.ndarray, np.ndarray], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, neighbour) pairs as range-search results of the sorted query ``rows``: (lims, ids)."""
    at = np.searchsorted(rows, pairs[0])
    order = np.argsort(at, kind="stable")
    lims = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(np.bincount(at, minlength=len(rows)), out=lims[1:])
    return lims, pairs[1][order]


def pair_recall(
    found: tuple[np.ndarray, np.ndarray], exact: tuple[np.ndarray, np.ndarray], rows: np.ndarray
) -> float:
    """Share of the exact (row, neighbour) pairs of the sorted query ``rows`` that were found (faiss.contrib's
    ``range_PR``, overall mode: 1.0 when neither has a pair)."""
    return float(range_PR(*_lims(exact, rows), *_lims(found, rows), mode="overall")[1])


@dataclass
class RecallReport:
    param: str | None = None
    value: int | None = None
    tuning: dict[int, float] = field(default_factory=dict)  # param value -> recall on the tuning sample
    margin: float | None = None  # lossy codes: how far below the threshold candidates were taken
    recall: float | None = None  # on the estimate sample, disjoint from the tuning one
    sample_items: int = 0
    sample_pairs: int = 0  # exact duplicate pairs touching the estimate sample


def tune_and_estimate(search: PairSearch, *, target: float, sample: int, seed: int) -> RecallReport:
    """Tune the index's search parameter for ``target`` recall, then estimate recall on a fresh sample."""
    built, x = search.built, search.x
    n = len(x)
    if built.exact:
        return RecallReport()
    perm = np.random.default_rng(seed).permutation(n)
    size = min(sample, n // 2)
    tune_rows, est_rows = np.sort(perm[:size]), np.sort(perm[size : 2 * size])
    report = RecallReport(param=built.param, sample_items=size)
    if built.param is not None:
        exact = exact_pairs(x, tune_rows, search.threshold)
        if exact[0].size == 0:
            report.value = max(1, built.values[-1] // UNTUNED_NPROBE_FRACTION)
            loud_warning(
                f"no duplicate pair among {size} sampled items, so {built.param} could not be tuned for "
                f"recall; using {built.param}={report.value}. Raise recall_sample for a tuned value."
            )
        else:
            if built.lossy and not built.gpu:
                decoded = built.index.sa_decode(built.index.sa_encode(x[exact[1]]))
                error = rescore(x, *exact) - np.einsum("ij,ij->i", x[exact[0]], decoded)
                search.radius = min(
                    search.radius, search.threshold - LOSSY_MARGIN_SAFETY * float(error.max())
                )
            report.margin = search.threshold - search.radius if built.lossy else None
            for value in built.values:
                built.set_param(value)
                report.tuning[value] = recall = pair_recall(search.pairs(tune_rows), exact, tune_rows)
                report.value = value
                if recall >= target:
                    break
                if len(report.tuning) >= 3 and recall <= list(report.tuning.values())[-3]:
                    break  # two doublings gained nothing: the codes, not the probing, limit recall
            if recall < target:
                loud_warning(
                    f"{built.param}={report.value} reaches duplicate-pair recall {recall:.4f} only "
                    f"(target {target}); use a less compressed dedup_index.factory"
                )
        built.set_param(report.value)
    exact = exact_pairs(x, est_rows, search.threshold)
    report.sample_pairs = int(exact[0].size)
    if report.sample_pairs:
        report.recall = pair_recall(search.pairs(est_rows), exact, est_rows)
    return report
