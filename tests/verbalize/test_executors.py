"""executor=local (one process or a pool) and executor=ray write the same rows, also when Ray workers die."""

import os
import pickle

import numpy as np
import pyarrow.parquet as pq
import pytest

from ava.verbalize.pipeline import verbalize
from tests.helpers import compose_verbalize


def table(out):
    rows = pq.read_table(out / "verbalized").to_pylist()
    return {(r["manifest_line"], r["media_index"]): r for r in rows}


def assert_same_rows(a, b):
    assert a.keys() == b.keys()
    for key in a:
        ra, rb = dict(a[key]), dict(b[key])
        ea, eb = ra.pop("embedding"), rb.pop("embedding")
        assert ra == rb, key
        if ea is None or eb is None:
            assert ea is eb, key
        else:  # CLIP batches differ between executors: equal up to float rounding
            np.testing.assert_allclose(ea, eb, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def local_rows(tmp_path_factory, tiny_clip_config, tiny_clip_weights, samples_dir):
    out = tmp_path_factory.mktemp("local")
    verbalize(compose_verbalize([f"output_dir={out}", "shard_size=2", "executor.workers=0", "progress=false",
                                 "encoders.vision.model=ava-tiny-clip",
                                 f"encoders.vision.pretrained={tiny_clip_weights}",
                                 f"encoders.vision.config_path={tiny_clip_config}"]))
    return table(out)


def test_process_pool_matches_one_process(tmp_path, tiny_overrides, local_rows):
    summary = verbalize(compose_verbalize([f"output_dir={tmp_path}", "shard_size=2", "executor.workers=2",
                                           *tiny_overrides]))
    assert summary["encoders"]["vision"] == "open_clip:ava-tiny-clip/tiny.safetensors"
    assert_same_rows(table(tmp_path), local_rows)


def test_ray_matches_local_when_workers_die_and_resumes(tmp_path, tiny_overrides, local_rows, monkeypatch):
    """A decode worker and an encoder actor each die once mid-shard (shard 1: lines 3 and 4, items (3, 0),
    (4, 0), (4, 1)): Ray redoes their items and the rows equal a local run's, none lost or doubled. The
    stand-ins are defined here, so Ray pickles them by value and its workers run them; each creates its
    marker file, then dies, only while the marker is missing, so the retry goes through."""
    pytest.importorskip("ray")
    from ava.verbalize import ray_executor

    decode_died, encode_died = tmp_path / "decode-died", tmp_path / "encode-died"
    decode = ray_executor._decode

    def decode_or_die(item, root, media_cfg):
        if (item["line"], item["index"]) == (4, 1) and not decode_died.exists():
            decode_died.touch()
            os._exit(1)
        return decode(item, root, media_cfg)

    class EncodeOrDie(ray_executor._Encode):
        def __call__(self, batch):
            out = super().__call__(batch)  # the item is described, then lost with the actor
            keys = [(r["manifest_line"], r["media_index"]) for r in map(pickle.loads, out["row"])]
            if keys == [(4, 0)] and not encode_died.exists():
                encode_died.touch()
                os._exit(1)
            return out

    monkeypatch.setattr(ray_executor, "_decode", decode_or_die)
    monkeypatch.setattr(ray_executor, "_Encode", EncodeOrDie)
    # batch_size=1: the actor dies on one item, while other items of its shard have already reached the driver
    overrides = [f"output_dir={tmp_path / 'out'}", "shard_size=2", "executor=ray", "executor.num_cpus=2",
                 "executor.batch_size=1", *tiny_overrides]
    summary = verbalize(compose_verbalize(overrides))
    assert decode_died.exists() and encode_died.exists()  # both deaths happened: the test is not vacuous
    assert summary["items"] == {"total": 6, "ok": 6, "error": 0, "processed_this_run": 6, "skipped_already_done": 0}
    assert summary["shards"] == 3
    assert_same_rows(table(tmp_path / "out"), local_rows)

    (tmp_path / "out" / "verbalized" / "shard-00001.parquet").unlink()  # as if the run had died before this shard
    again = verbalize(compose_verbalize(overrides))
    assert again["items"]["processed_this_run"] == 3 and again["items"]["skipped_already_done"] == 3
    assert_same_rows(table(tmp_path / "out"), local_rows)
