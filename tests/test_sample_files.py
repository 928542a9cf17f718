"""ava.sample_files: shards round-trip line for line, readers name the shard and line of a bad line, a failed
write publishes nothing, a commit replaces every earlier file of the split (plain and sharded, either way), a
split held both ways is refused, fingerprints follow the content."""

from __future__ import annotations

import json

import pytest

from ava.sample_files import (
    DatasetError,
    ShardWriter,
    fingerprint,
    iter_sample_lines,
    missing_split,
    open_writer,
    publish_together,
    split_files,
)


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


def _commit(folder, fmt, lines, shard_samples=2):
    with open_writer(folder, "val", fmt, shard_samples, 3) as w:
        for line in lines:
            w.write(line)
        return w.commit()


def test_each_format_replaces_the_other(tmp_path):
    shards = _commit(tmp_path, "jsonl.zst", _lines(5))
    assert len(shards) == 3 and split_files(tmp_path / "val.jsonl") == shards
    assert _commit(tmp_path, "jsonl", _lines(1)) == [tmp_path / "val.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["val.jsonl"]  # every earlier shard removed
    assert [obj["id"] for _, _, obj in iter_sample_lines(tmp_path / "val.jsonl")] == ["s0"]
    shards = _commit(tmp_path, "jsonl.zst", _lines(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["val-00000.jsonl.zst", "val-00001.jsonl.zst"]
    assert [obj["id"] for _, _, obj in iter_sample_lines(tmp_path / "val.jsonl")] == ["s0", "s1", "s2"]


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.zst"])
def test_a_commit_removes_both_earlier_forms(tmp_path, fmt):
    """A folder holding the split both ways (a hand-made file beside old shards) is left holding it one way: the
    new one, with no earlier shard beyond the new ones."""
    (tmp_path / "val.jsonl").write_text(_lines(1)[0] + "\n")
    _commit(tmp_path, "jsonl.zst", _lines(1), shard_samples=1)  # removes val.jsonl
    (tmp_path / "val.jsonl").write_text(_lines(1)[0] + "\n")
    for i in (1, 2):  # surplus shards a one-shard commit must not leave behind
        (tmp_path / f"val-{i:05d}.jsonl.zst").write_bytes((tmp_path / "val-00000.jsonl.zst").read_bytes())
    new = _commit(tmp_path, fmt, _lines(2), shard_samples=5)
    assert sorted(tmp_path.iterdir()) == new and len(new) == 1
    assert [obj["id"] for _, _, obj in iter_sample_lines(tmp_path / "val.jsonl")] == ["s0", "s1"]


def test_a_split_held_both_ways_is_refused_and_a_missing_one_named(tmp_path):
    _commit(tmp_path, "jsonl.zst", _lines(3))
    (tmp_path / "val.jsonl").write_text(_lines(1)[0] + "\n")
    with pytest.raises(DatasetError, match=r"val\.jsonl and its shards .*val-NNNNN\.jsonl\.zst \(2\) both exist"):
        split_files(tmp_path / "val.jsonl")
    with pytest.raises(DatasetError, match="both exist"):
        list(iter_sample_lines(tmp_path / "val.jsonl"))
    assert split_files(tmp_path / "train.jsonl") == []
    msg = missing_split(tmp_path / "train.jsonl")
    assert f"neither {tmp_path / 'train.jsonl'} nor its shards {tmp_path / 'train-NNNNN.jsonl.zst'}" in msg


def test_a_publish_killed_part_way_is_refused_until_written_again(tmp_path, monkeypatch):
    """Three old shards replaced by two new ones, the process killed after the first rename: shard 0 new, shards
    1 and 2 old. Readers refuse the mix, naming it; the next commit publishes the split whole."""
    _commit(tmp_path, "jsonl.zst", _lines(6))
    import ava.sample_files as sample_files

    real, renames = sample_files.os.replace, []

    def killed_after_one(src, dst):
        if renames:
            raise KeyboardInterrupt  # as a SIGINT/SIGTERM between two renames
        renames.append(dst)
        real(src, dst)

    monkeypatch.setattr(sample_files.os, "replace", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        _commit(tmp_path, "jsonl.zst", [line.replace('"s', '"new') for line in _lines(4)])
    monkeypatch.setattr(sample_files.os, "replace", real)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".val.publishing", "val-00000.jsonl.zst",
                                                          "val-00001.jsonl.zst", "val-00002.jsonl.zst"]
    with pytest.raises(DatasetError, match=r"half-replaced split 'val'.*\.val\.publishing.*rerun build_dataset"):
        split_files(tmp_path / "val.jsonl")
    with pytest.raises(DatasetError, match="half-replaced"):
        list(iter_sample_lines(tmp_path / "val.jsonl"))
    _commit(tmp_path, "jsonl.zst", _lines(4))
    assert [obj["id"] for _, _, obj in iter_sample_lines(tmp_path / "val.jsonl")] == ["s0", "s1", "s2", "s3"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["val-00000.jsonl.zst", "val-00001.jsonl.zst"]


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


def test_a_shard_cut_short_is_named_with_its_last_good_line(tmp_path):
    [shard] = _commit(tmp_path, "jsonl.zst", _lines(50), shard_samples=100)
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])  # a partial copy
    with pytest.raises(DatasetError, match=r"val-00000\.jsonl\.zst: cannot be decompressed after line \d+ .*cut "
                                           r"short or corrupt"):
        list(iter_sample_lines(tmp_path / "val.jsonl"))


def test_a_kill_between_two_splits_leaves_the_later_one_refused(tmp_path, monkeypatch):
    """train published, val not yet: val (the earlier build's) must not be read beside the new train."""
    _commit(tmp_path, "jsonl.zst", _lines(2))  # an earlier build's val
    writers = {s: open_writer(tmp_path, s, "jsonl.zst", 10, 3) for s in ("train", "val")}
    for w in writers.values():
        w.write(_lines(1)[0])
        w.finish()
    monkeypatch.setattr(writers["val"], "publish", lambda: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        publish_together(writers)
    assert len(split_files(tmp_path / "train.jsonl")) == 1  # published whole
    with pytest.raises(DatasetError, match="half-replaced split 'val'"):
        split_files(tmp_path / "val.jsonl")
