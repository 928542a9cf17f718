"""build_dataset samples.format=jsonl.zst: shards that decompress to exactly the plain build's files, smaller;
a rebuild in the other format replaces the split's files; a failed build leaves the old shards and no temp."""

from __future__ import annotations

import pytest

from ava.build_dataset.run import build_dataset
from ava.build_dataset.synthetic import ad, write_manifest
from ava.sample_files import iter_sample_lines, split_files
from tests.build_dataset.helpers import cfg_for


def _ads():
    return [ad(f"a{i}", f"p{i % 3}") for i in range(9)]


def _raw(path):
    return [obj for _, _, obj in iter_sample_lines(path)]


def test_shards_hold_the_plain_build(tmp_path):
    write_manifest(tmp_path / "ads.jsonl", _ads())
    plain = build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", out="plain"))
    zst = build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", out="zst",
                                extra=["samples.format=jsonl.zst", "samples.shard_samples=7"]))
    assert plain["samples"] == zst["samples"] and plain["samples"]["train"] > 7
    for split in ("train", "val"):
        shards = split_files(tmp_path / "zst" / f"{split}.jsonl")
        assert shards and all(p.name.endswith(".jsonl.zst") for p in shards)
        assert _raw(tmp_path / "zst" / f"{split}.jsonl") == _raw(tmp_path / "plain" / f"{split}.jsonl")
    assert len(split_files(tmp_path / "zst" / "train.jsonl")) == -(-plain["samples"]["train"] // 7)
    assert not [p.name for p in (tmp_path / "zst").iterdir() if p.name.startswith(".")]
    size = sum(p.stat().st_size for p in split_files(tmp_path / "zst" / "train.jsonl"))
    assert size < (tmp_path / "plain" / "train.jsonl").stat().st_size / 3
    # the same folder rebuilt as plain JSONL: the shards go
    build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", out="zst"))
    assert split_files(tmp_path / "zst" / "train.jsonl") == [tmp_path / "zst" / "train.jsonl"]
    assert not list((tmp_path / "zst").glob("*.zst"))


def test_failed_sharded_build_keeps_the_old_shards(tmp_path, monkeypatch):
    from ava.build_dataset import run

    write_manifest(tmp_path / "ads.jsonl", _ads())
    extra = ["samples.format=jsonl.zst", "samples.shard_samples=5"]
    build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", extra=extra))
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").glob("*.jsonl.zst")}

    def boom(*args, **kwargs):
        raise TypeError("a generator broke")

    monkeypatch.setattr(run, "target_label", boom)
    with pytest.raises(TypeError, match="a generator broke"):
        build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", extra=extra))
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").glob("*.jsonl.zst")} == before
    assert not list((tmp_path / "out").glob(".*.tmp"))
