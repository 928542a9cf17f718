"""python -m ava.dedup: embeddings stream from the shards in batches, into RAM or a disk-backed memmap."""

import errno
import json
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow.parquet as pq
import pytest

from ava.dedup.load import DedupInputError
from ava.dedup.run import SPILL_NAME, dedup
from tests.dedup.helpers import EMBEDDING_SCHEMA, cfg_for, planted, rows_for, write_verbalized


def test_spilled_run_in_small_batches_equals_in_memory_run(tmp_path, caplog):
    x, _ = planted(150, 600, d=32, seed=3)
    x = list(x)
    x[5] = x[400] = None  # rows without an embedding
    status = ["ok"] * len(x)
    status[7] = status[500] = "error"
    src = write_verbalized(tmp_path / "in", rows_for(x, status=status), shards=3, schema=EMBEDDING_SCHEMA)
    whole = dedup(cfg_for(src, tmp_path / "ram", "threshold=0.9"))
    with caplog.at_level(logging.INFO, logger="ava.dedup.load"):
        spilled = dedup(cfg_for(src, tmp_path / "disk", "threshold=0.9", "method.embeddings_in_memory_max_gb=0",
                                "read_batch_rows=7"))
    assert "on disk at" in caplog.text  # the memmap path was taken
    assert not (tmp_path / "disk" / SPILL_NAME).exists()  # and cleaned up
    assert pq.read_table(tmp_path / "disk" / "dedup.parquet").equals(pq.read_table(tmp_path / "ram" / "dedup.parquet"))
    assert whole.skipped == spilled.skipped == 2 and whole.rows_not_ok == spilled.rows_not_ok == 2
    assert whole.duplicate_clusters == spilled.duplicate_clusters == 150


def test_full_spill_disk_is_a_clear_error_before_any_write(tmp_path, monkeypatch, caplog):
    src = write_verbalized(tmp_path / "in", rows_for(planted(5, 20, d=8, seed=0)[0]), schema=EMBEDDING_SCHEMA)
    spill_dir = tmp_path / "scratch"

    def no_space(fd, offset, length):
        assert length >= 4 * 30 * 8  # asked for the whole matrix up front
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    with caplog.at_level(logging.INFO, logger="ava.dedup.load"), pytest.raises(
        OSError, match=r"cannot reserve .* \(No space left on device\): free space there, point method.spill_dir="
    ):
        dedup(cfg_for(src, tmp_path / "out", "method.embeddings_in_memory_max_gb=0", f"method.spill_dir={spill_dir}"))
    assert str(spill_dir / SPILL_NAME) in caplog.text  # spill_dir= was where it went
    assert not (spill_dir / SPILL_NAME).exists()


@pytest.mark.parametrize("read_batch_rows", [1, 2])
def test_errors_name_the_global_row_whatever_the_batch(tmp_path, read_batch_rows):
    x = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0]]
    x[3, 1] = np.inf
    src = write_verbalized(tmp_path / "in", rows_for(x), shards=2, schema=EMBEDDING_SCHEMA)
    # shard 0 holds ad0, ad2, ad4 and shard 1 ad1, ad3: ad3 is ok row 4 in shard order
    with pytest.raises(DedupInputError, match=r"NaN or inf at row 4 \(ad_id='ad3'"):
        dedup(cfg_for(src, tmp_path / "out", f"read_batch_rows={read_batch_rows}"))


PROBE = textwrap.dedent(
    """
    import json, sys, tracemalloc
    from pathlib import Path
    import pyarrow as pa
    from ava.dedup.load import embedding_matrix, read_verbalized

    src, spill, max_gb = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    data = read_verbalized(src, "embedding")
    tracemalloc.start()  # NumPy reports its buffers to tracemalloc; Arrow's pool keeps its own peak
    x, present = embedding_matrix(data, spill=spill, in_memory_max_gb=max_gb, batch_rows=512)
    peaks = {"numpy_peak": tracemalloc.get_traced_memory()[1], "arrow_peak": pa.default_memory_pool().max_memory()}
    print(json.dumps({**peaks, "shape": list(x.shape), "memmap": type(x).__name__ == "memmap", "sum": float(x.sum())}))
    """
)


@pytest.mark.parametrize("spill", [True, False])
def test_spilled_embeddings_never_sit_whole_in_memory(tmp_path, spill):
    n, d = 16384, 256
    x = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    src = write_verbalized(tmp_path / "in", rows_for(x), shards=4, schema=EMBEDDING_SCHEMA)
    matrix_bytes = 4 * n * d  # 16 MiB
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(src), str(tmp_path / "spill.npy"), "0" if spill else "1"],
        capture_output=True, text=True, check=True,
    )
    got = json.loads(run.stdout)
    assert got["shape"] == [n, d] and got["memmap"] is spill
    order = np.concatenate([np.arange(k, n, 4) for k in range(4)])
    np.testing.assert_allclose(got["sum"], x[order].sum(dtype=np.float64), rtol=1e-5)
    if spill:
        assert got["numpy_peak"] < matrix_bytes / 8, got
        # Arrow decodes a list column a row group at a time: one shard (4 MiB) and a batch, not all four shards
        assert got["arrow_peak"] < matrix_bytes / 2, got
    else:
        assert got["numpy_peak"] >= matrix_bytes, got  # the probe sees a whole matrix when there is one
