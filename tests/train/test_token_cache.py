"""ava.train.token_cache: the mapped cache gives exactly the in-memory encoding (per task too), is reused for
the same tokenizer/template/max_length/data and rebuilt for another, is built the same by worker processes,
and its length-grouped order is transformers' own for the same generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer
from transformers.trainer_pt_utils import get_length_grouped_indices

from ava.models.tiny import build_tiny
from ava.sample import read_samples
from ava.train.data import encode_all
from ava.train.token_cache import EpochLengthSampler, length_grouped_indices, token_cache


@pytest.fixture(scope="module")
def tok():
    return AutoTokenizer.from_pretrained(build_tiny())


def _rows(sets):
    return {task: [ds[i] for i in range(len(ds))] for task, ds in sets.items()}


def test_cache_equals_the_in_memory_encoding(dataset_dir, tok, tmp_path):
    path = dataset_dir / "train.jsonl"
    full, _ = encode_all(read_samples(path), tok, 4096, "t")
    longest = max(len(r["input_ids"]) for ds in full.values() for r in ds.rows)
    want, stats = encode_all(read_samples(path), tok, longest - 2, "t")
    cache = token_cache(path, tok, longest - 2, tmp_path, num_proc=1, desc="t")
    assert cache.stats.as_dict() == stats.as_dict() and stats.truncated > 0  # the longest samples are cut
    assert _rows(cache.by_task()) == {t: ds.rows for t, ds in want.items()}
    assert sorted(cache.lengths.tolist()) == sorted(len(r["input_ids"]) for ds in want.values() for r in ds.rows)
    again = token_cache(path, tok, longest - 2, tmp_path, num_proc=1, desc="t")
    assert again.folder == cache.folder  # reused, not rebuilt
    other = token_cache(path, tok, longest, tmp_path, num_proc=1, desc="t")
    assert other.folder != cache.folder and other.stats.truncated == 0


@pytest.mark.slow
def test_worker_processes_build_the_same_cache(dataset_dir, tok, tmp_path):
    path = dataset_dir / "train.jsonl"
    one = token_cache(path, tok, 256, tmp_path / "a", num_proc=1, desc="t")
    two = token_cache(path, tok, 256, tmp_path / "b", num_proc=2, desc="t")
    for name in ("ids", "mask", "offsets", "lengths", "tasks"):
        assert np.array_equal(one.arrays[name], two.arrays[name]), name


def test_length_grouping_is_transformers_own():
    lengths = np.random.default_rng(0).integers(1, 300, size=1000).astype(np.int32)
    for seed in range(3):
        ours = length_grouped_indices(lengths, 4, torch.Generator().manual_seed(seed))
        theirs = get_length_grouped_indices(lengths.tolist(), 4, generator=torch.Generator().manual_seed(seed))
        assert ours.tolist() == theirs


def test_sampler_order_depends_on_seed_and_epoch_only():
    lengths = np.random.default_rng(1).integers(1, 300, size=1000).astype(np.int32)  # 10 megabatches
    a, b = EpochLengthSampler(lengths, 2, seed=1), EpochLengthSampler(lengths, 2, seed=1)
    torch.manual_seed(123)  # the global RNG (dropout, other draws) does not move the order
    first = list(a)
    assert sorted(first) == list(range(1000)) and first == list(b)
    a.set_epoch(1)
    assert list(a) != first
    b.set_epoch(1)
    assert list(a) == list(b)
