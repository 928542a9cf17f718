"""build_dataset's default samples.format=jsonl.zst: shards that decompress to exactly the plain build's files
(samples.format=jsonl), smaller, named with their sizes in the summary; a rebuild in the other format replaces
the split's files, either way; a failed build leaves the old shards and no temp."""

from __future__ import annotations

import pytest

from ava.build_dataset.run import build_dataset
from ava.build_dataset.synthetic import ad, write_manifest
from ava.sample_files import iter_sample_lines, split_files
from tests.build_dataset.helpers import cfg_for, leftovers

PLAIN = ["samples.format=jsonl"]


def _ads():
    return [ad(f"a{i}", f"p{i % 3}") for i in range(9)]


def _raw(path):
    return [obj for _, _, obj in iter_sample_lines(path)]


def test_shards_hold_the_plain_build(tmp_path):
    write_manifest(tmp_path / "ads.jsonl", _ads())
    plain = build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", out="plain", extra=PLAIN))
    zst = build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", out="zst", extra=["samples.shard_samples=7"]))
    assert plain["samples"] == zst["samples"] and plain["samples"]["train"] > 7
    for split in ("train", "val"):
        shards = split_files(tmp_path / "zst" / f"{split}.jsonl")
        assert shards and all(p.name.endswith(".jsonl.zst") for p in shards)
        assert not (tmp_path / "zst" / f"{split}.jsonl").exists()
        assert _raw(tmp_path / "zst" / f"{split}.jsonl") == _raw(tmp_path / "plain" / f"{split}.jsonl")
        plain_size = (tmp_path / "plain" / f"{split}.jsonl").stat().st_size
        assert plain["sample_files"][split] == {"files": [f"{split}.jsonl"], "bytes": plain_size,
                                                "bytes_as_jsonl": plain_size}
        assert zst["sample_files"][split] == {"files": [p.name for p in shards],
                                              "bytes": sum(p.stat().st_size for p in shards),
                                              "bytes_as_jsonl": plain_size}
    assert (plain["sample_files"]["format"], zst["sample_files"]["format"]) == ("jsonl", "jsonl.zst")
    assert len(split_files(tmp_path / "zst" / "train.jsonl")) == -(-plain["samples"]["train"] // 7)
    assert not leftovers(tmp_path / "zst")
    assert zst["sample_files"]["train"]["bytes"] < plain["sample_files"]["train"]["bytes"] / 3
    # each folder rebuilt in the other format: the earlier files go, the samples are the same
    build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", out="zst", extra=PLAIN))
    build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", out="plain"))
    for folder, kept in (("zst", "train.jsonl"), ("plain", "train-00000.jsonl.zst")):
        names = sorted(p.name for p in (tmp_path / folder).iterdir() if p.name.startswith("train"))
        assert names == [kept], names
    assert _raw(tmp_path / "zst" / "train.jsonl") == _raw(tmp_path / "plain" / "train.jsonl")


def test_failed_sharded_build_keeps_the_old_shards(tmp_path, monkeypatch):
    from ava.build_dataset import run

    write_manifest(tmp_path / "ads.jsonl", _ads())
    extra = ["samples.shard_samples=5"]
    build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", extra=extra))
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").glob("*.jsonl.zst")}
    assert len(before) > 2

    def boom(*args, **kwargs):
        raise TypeError("a generator broke")

    monkeypatch.setattr(run, "target_label", boom)
    with pytest.raises(TypeError, match="a generator broke"):
        build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", extra=extra))
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").glob("*.jsonl.zst")} == before
    assert not list((tmp_path / "out").glob(".*.tmp"))
