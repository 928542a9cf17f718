"""ava.sample_files: shards round-trip line for line, readers name the shard and line of a bad line, a failed
write publishes nothing, a commit replaces the split's earlier files, fingerprints follow the content."""

from __future__ import annotations

import json

import pytest

from ava.sample_files import ShardWriter, fingerprint, iter_sample_lines, open_writer, split_files


def _lines(n: int) -> list[str]:
    ad = "Title: Solar panels for your roof\nBody: " + "Save on energy bills every month. " * 40
    return [json.dumps({"id": f"s{i}", "task": "TAP-G", "messages": [
        {"role": "user", "content": f"{ad}\nWho saw it most? ({i})"},
        {"role": "assistant", "content": "female"}], "target": {"gender": "female"}, "meta": {}})
        for i in range(n)]


def test_shards_round_trip_and_compress(tmp_path):
    lines = _lines(25)
    (tmp_path / "train.jsonl").write_text("stale\n")
    with ShardWriter(tmp_path, "train", shard_samples=10) as w:
        for line in lines:
            w.write(line)
        shards = w.commit()
    assert [p.name for p in shards] == [f"train-{i:05d}.jsonl.zst" for i in range(3)]
    assert not (tmp_path / "train.jsonl").exists()  # the split's earlier plain file is replaced
    assert split_files(tmp_path / "train.jsonl") == shards
    got = [(f.name, n, obj) for f, n, obj in iter_sample_lines(tmp_path / "train.jsonl")]
    assert [obj for _, _, obj in got] == [json.loads(x) for x in lines]
    assert [(name, n) for name, n, _ in got][9:11] == [("train-00000.jsonl.zst", 10), ("train-00001.jsonl.zst", 1)]
    raw = sum(len(x) + 1 for x in lines)
    assert w.bytes_in == raw and sum(p.stat().st_size for p in shards) < raw / 10  # the ad text repeats


def test_plain_writer_replaces_shards_and_reader_prefers_plain(tmp_path):
    with open_writer(tmp_path, "val", "jsonl.zst", 2, 3) as w:
        for line in _lines(3):
            w.write(line)
        w.commit()
    assert len(split_files(tmp_path / "val.jsonl")) == 2
    with open_writer(tmp_path, "val", "jsonl", 2, 3) as w:
        w.write(_lines(1)[0])
        w.commit()
    assert split_files(tmp_path / "val.jsonl") == [tmp_path / "val.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["val.jsonl"]


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.zst"])
def test_a_failed_write_publishes_nothing(tmp_path, fmt):
    (tmp_path / "train.jsonl").write_text("old\n")
    with pytest.raises(RuntimeError), open_writer(tmp_path, "train", fmt, 1, 3) as w:
        w.write(_lines(1)[0])
        w.write(_lines(2)[1])
        raise RuntimeError("generator failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.jsonl"]
    assert (tmp_path / "train.jsonl").read_text() == "old\n"


def test_bad_line_in_a_shard_is_named(tmp_path):
    with ShardWriter(tmp_path, "train", shard_samples=2) as w:
        for line in [*_lines(3), "{not json"]:
            w.write(line)
        w.commit()
    bad = [(f.name, n) for f, n, obj in iter_sample_lines(tmp_path / "train.jsonl") if not isinstance(obj, dict)]
    assert bad == [("train-00001.jsonl.zst", 2)]


def test_fingerprint_follows_content(tmp_path):
    (tmp_path / "train.jsonl").write_text("\n".join(_lines(3)) + "\n")
    a = fingerprint(tmp_path / "train.jsonl")
    assert fingerprint(tmp_path / "train.jsonl") == a
    (tmp_path / "train.jsonl").write_text("\n".join(_lines(4)) + "\n")
    assert fingerprint(tmp_path / "train.jsonl") != a
    assert fingerprint(tmp_path / "missing.jsonl") != a
