"""benchmark=behaviour reads build_dataset's zstd shards as it reads plain JSONL: the same results."""

from __future__ import annotations

from ava.evaluate.run import evaluate
from ava.sample_files import ShardWriter
from tests.evaluate import behaviour_samples as bs
from tests.evaluate import fixtures


def test_shards_score_as_the_plain_files(tmp_path):
    plain = bs.write_dataset(tmp_path / "plain")
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    for split in ("train", "val"):
        with ShardWriter(sharded, split, shard_samples=3) as w:
            for line in (plain / f"{split}.jsonl").read_text().splitlines():
                w.write(line)
            w.commit()
    assert not (sharded / "val.jsonl").exists() and len(list(sharded.glob("val-*.jsonl.zst"))) > 1
    preds = fixtures.write_jsonl(tmp_path / "p.jsonl", [{"id": "g0", "output": "Female"}, {"id": "a0", "output": "x"}])
    docs = [evaluate(fixtures.compose_cfg(["benchmark=behaviour", f"data={d}", "model=precomputed",
                                           f"model.predictions={preds}", f"output_dir={tmp_path / d.name}-out"]))
            for d in (plain, sharded)]
    assert docs[0]["benchmarks"] == docs[1]["benchmarks"]
    assert (docs[0]["data"], docs[0]["baseline_data"]) == (str(plain / "val.jsonl"), str(plain / "train.jsonl"))
    n_val = len(list(sharded.glob("val-*.jsonl.zst")))
    assert docs[1]["data"] == f"{sharded / 'val-NNNNN.jsonl.zst'} ({n_val} shards)"  # what was read, not val.jsonl
    assert docs[1]["benchmarks"]["behaviour"]["tasks"]["TAP-G"]["train_samples"] > 0  # train shards read too
