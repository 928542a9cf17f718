"""executor=local (one process or a pool) and executor=ray write the same rows."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from ava.verbalize.pipeline import verbalize

from .conftest import compose_verbalize


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
    verbalize(compose_verbalize([f"output_dir={out}", "shard_size=2", "executor.workers=1", "progress=false",
                                 "vision.model=ava-tiny-clip", f"vision.pretrained={tiny_clip_weights}",
                                 f"vision.config_path={tiny_clip_config}"]))
    return table(out)


def test_process_pool_matches_one_process(tmp_path, tiny_overrides, local_rows):
    summary = verbalize(compose_verbalize([f"output_dir={tmp_path}", "shard_size=2", "executor.workers=2",
                                           *tiny_overrides]))
    assert summary["encoders"]["vision"] == "open_clip:ava-tiny-clip/tiny.safetensors"
    assert_same_rows(table(tmp_path), local_rows)


def test_ray_matches_local_and_resumes(tmp_path, tiny_overrides, local_rows):
    pytest.importorskip("ray")
    overrides = [f"output_dir={tmp_path}", "shard_size=2", "executor=ray", "executor.num_cpus=2", *tiny_overrides]
    summary = verbalize(compose_verbalize(overrides))
    assert summary["items"]["ok"] == 6
    assert_same_rows(table(tmp_path), local_rows)

    (tmp_path / "verbalized" / "shard-00001.parquet").unlink()  # as if the run had died before this shard
    again = verbalize(compose_verbalize(overrides))
    assert again["items"]["processed_this_run"] == 3 and again["items"]["skipped_already_done"] == 3
    assert_same_rows(table(tmp_path), local_rows)
