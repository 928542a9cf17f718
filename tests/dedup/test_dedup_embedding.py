"""python -m ava.dedup method=embedding: planted noisy copies are grouped, distinct items are not."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from ava.dedup.run import dedup
from tests.dedup.helpers import (
    EMBEDDING_SCHEMA,
    canonical,
    cfg_for,
    cosine_reference,
    pair_counts,
    planted,
    rows_for,
    write_verbalized,
)


def _check_output(out, x, labels_expected=None):
    table = pq.read_table(out / "dedup.parquet")
    assert table.column_names == ["ad_id", "media_path", "cluster_id", "is_representative", "similarity"]
    assert str(table.schema.field("cluster_id").type) == "int64"
    assert str(table.schema.field("similarity").type) == "float"
    df = table.to_pandas()
    reps = df[df.is_representative]
    assert reps.cluster_id.is_unique and set(reps.cluster_id) == set(df.cluster_id)  # exactly one a cluster
    rep_row = dict(zip(reps.cluster_id, reps.index, strict=True))
    if x is not None:
        expected_sim = np.einsum("ij,ij->i", x, x[[rep_row[c] for c in df.cluster_id]])
        np.testing.assert_allclose(df.similarity, expected_sim, atol=1e-5)
    summary = json.loads((out / "dedup_summary.json").read_text())
    assert summary["items"] == len(df)
    assert summary["clusters"] == df.cluster_id.nunique()
    assert summary["items_removed"] == len(df) - df.cluster_id.nunique()
    assert summary["wall_time_s"] > 0 and summary["peak_rss_mb"] > 0
    return df, summary


def test_small_set_exact_flat_matches_brute_force(tmp_path):
    x, group = planted(60, 200, d=48, seed=0)
    src = write_verbalized(tmp_path / "in", rows_for(x), shards=3, schema=EMBEDDING_SCHEMA)
    summary = dedup(cfg_for(src, tmp_path / "out", "threshold=0.9"))
    # shards are read in name order: part-00000 holds rows 0, 3, 6, ...
    order = np.concatenate([np.arange(k, len(x), 3) for k in range(3)])
    df, js = _check_output(tmp_path / "out", x[order])
    assert summary.index == js["index"] == "Flat" and js["recall"]["exact"] is True
    labels = df.cluster_id.to_numpy()
    assert np.array_equal(canonical(labels), canonical(cosine_reference(x[order], 0.9)))
    assert pair_counts(labels, group[order]) == (1.0, 1.0)  # planted copies grouped, distinct items apart
    assert js["duplicate_clusters"] == 60


def test_larger_set_ivf_groups_planted_copies(tmp_path):
    x, group = planted(3000, 14000, d=64, seed=1, sigma=(0.05, 0.3))
    assert len(x) > 20_000
    src = write_verbalized(tmp_path / "in", rows_for(x), schema=EMBEDDING_SCHEMA)
    summary = dedup(cfg_for(src, tmp_path / "out", "threshold=0.9", "dedup_index.flat_max_items=1000"))
    df, js = _check_output(tmp_path / "out", x)
    assert summary.index.startswith("IVF") and summary.index.endswith(",Flat")
    assert js["recall"]["exact"] is False and js["recall"]["param"] == "nprobe"
    assert js["recall"]["estimate"] >= 0.99 and js["recall"]["sample_pairs"] > 100
    labels = df.cluster_id.to_numpy()
    recall, precision = pair_counts(labels, cosine_reference(x, 0.9))
    assert (
        precision == 1.0
    )  # every edge is rescored exactly: clusters never merge what brute force keeps apart
    assert recall >= 0.99
    planted_recall, planted_precision = pair_counts(labels, group)
    assert planted_recall >= 0.99 and planted_precision == 1.0


def test_null_embeddings_are_skipped_as_singletons(tmp_path):
    x, _ = planted(5, 10, d=16, seed=2)
    emb = [None if i in (0, 4) else x[i] for i in range(len(x))]
    status = ["ok"] * len(x)
    status[1] = "error"
    src = write_verbalized(tmp_path / "in", rows_for(emb, status=status), schema=EMBEDDING_SCHEMA)
    summary = dedup(cfg_for(src, tmp_path / "out"))
    df, js = _check_output(tmp_path / "out", None)
    assert summary.skipped == js["skipped"] == 2 and js["rows_not_ok"] == 1
    assert len(df) == len(x) - 1 and "ad1" not in set(df.ad_id)
    skipped = df[df.ad_id.isin(["ad0", "ad4"])]
    assert skipped.is_representative.all() and (skipped.similarity == 1.0).all()
    assert df.cluster_id.value_counts()[skipped.cluster_id].eq(1).all()


@pytest.mark.parametrize("factory", ["HNSW16", "IVF8,SQ4"])
def test_forced_factory_strings(tmp_path, factory):
    x, group = planted(100, 400, d=16, seed=3)
    src = write_verbalized(tmp_path / "in", rows_for(x), schema=EMBEDDING_SCHEMA)
    summary = dedup(cfg_for(src, tmp_path / "out", f"dedup_index.factory='{factory}'", "recall_sample=300"))
    assert summary.index == factory and summary.index_reason.startswith("forced")
    assert summary.recall["estimate"] is not None and summary.recall["estimate"] >= 0.95
    recall, precision = pair_counts(_check_output(tmp_path / "out", x)[0].cluster_id.to_numpy(), group)
    assert precision == 1.0 and recall >= 0.95
