"""executor=local (one process or a pool) and executor=ray write the same rows, also when Ray workers die."""

import json
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


@pytest.mark.slow
def test_ray_items_that_kill_every_worker_cost_one_row_each(tmp_path, monkeypatch, caplog):
    """poison.png kills every Ray worker that decodes it (a stand-in decode, pickled by value), poison-late.png
    every encoder actor that encodes it (tests/verbalize/poison.py: SIGKILL, as the out-of-memory killer does):
    the decode task and the actor's batch are retried as configured, then their blocks are dropped and their items
    redone one at a time; b.png (in the same shard) comes back ok, each poison file is one worker_died row, and the
    run ends normally. a.png, shared by two ads, reaches Ray once."""
    pytest.importorskip("ray")
    from PIL import Image

    from ava.verbalize import ray_executor

    for name, colour in (("a.png", "red"), ("b.png", "green"), ("poison.png", "blue"), ("poison-late.png", "black")):
        Image.new("RGB", (32, 32), colour).save(tmp_path / name)
    ads = [{"id": "0", "media": ["a.png"]}, {"id": "1", "media": ["b.png", "poison.png"]},
           {"id": "2", "media": ["a.png", "poison-late.png"]}]
    (tmp_path / "ads.jsonl").write_text("".join(json.dumps(a) + "\n" for a in ads))
    decode = ray_executor._decode
    deaths = tmp_path / "decode-deaths"

    def decode_or_die(item, root, media_cfg):
        if json.loads(item["record"])["media"][int(item["index"])] == "poison.png":
            with deaths.open("a") as fh:
                fh.write("x")
            os._exit(1)
        return decode(item, root, media_cfg)

    monkeypatch.setattr(ray_executor, "_decode", decode_or_die)
    out = tmp_path / "out"
    summary = verbalize(compose_verbalize([
        f"input={tmp_path / 'ads.jsonl'}", f"output_dir={out}", "vision=none", "ocr=none", "asr=none", "faces=none",
        "audio=none", "caption=none", "progress=false", "shard_size=2", "executor=ray", "executor.num_cpus=2",
        "executor.decode_retries=1", "executor.encoder_retries=1",
        "+encoders.poison._target_=tests.verbalize.poison.KillOnPoison"]))
    rows = {(r["ad_id"], r["media_index"]): r for r in pq.read_table(out / "verbalized").to_pylist()}
    assert deaths.read_text() == "xx"  # the first try and one retry, then the block was dropped
    assert summary["items"] == {**summary["items"], "total": 5, "ok": 3, "error": 2}
    assert summary["error_kinds"] == {"worker_died": 2}
    for key, name in ((("1", 1), "poison.png"), (("2", 1), "poison-late.png")):
        assert rows[key]["media_path"] == name and rows[key]["error_kind"] == "worker_died"
        assert "died while processing this item" in rows[key]["error"]
        assert any(f"({name})" in m and "worker_died" in m for m in caplog.messages), caplog.messages
    assert rows[("1", 0)]["status"] == "ok" and rows[("1", 0)]["media_path"] == "b.png"
    assert summary["notes"] == {"shared_file": 1} and rows[("0", 0)]["colours"] == rows[("2", 0)]["colours"]
    assert not list((out / "verbalized").glob(".*"))  # no in-flight or shared-rows file left
