"""python -m ava.train resume=true (issue #25, items 13 and 14): a larger max_steps continues to it; a changed
dataset is refused (or, asked for, announced); a run resumed in its second epoch equals the uninterrupted run
(losses, learning rates, adapter)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from ava.sample import DatasetError
from ava.train.callbacks import read_metrics
from ava.train.run import train
from tests.train.samples import cfg_for, write_dataset


class CrashAt(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt("simulated crash")


def _losses(out):
    return [(r["step"], r["split"], r.get("task"), r["loss"], r.get("lr")) for r in read_metrics(out / "metrics.jsonl")]


def _adapter(out):
    return load_file(out / "adapter" / "adapter_model.safetensors")


def test_resume_in_the_second_epoch_is_exact(dataset_dir, tmp_path):
    """32 samples, batch 4: 8 steps an epoch; killed at step 11 (epoch 2), resumed from checkpoint 10."""
    common = ("trainer.max_steps=13", "trainer.save_steps=5", "trainer.eval_steps=0", "lora.dropout=0.1",
              "optim.lr=5e-3", "seed=4")
    whole = train(cfg_for(dataset_dir, tmp_path / "a", *common))
    with pytest.raises(KeyboardInterrupt):
        train(cfg_for(dataset_dir, tmp_path / "b", *common), callbacks=[CrashAt(11)])
    resumed = train(cfg_for(dataset_dir, tmp_path / "b", *common, "resume=true"))
    assert resumed["resumed_from"].endswith("checkpoint-10") and whole["epochs"] > 1
    assert _losses(tmp_path / "b") == _losses(tmp_path / "a")  # exact
    a, b = _adapter(tmp_path / "a"), _adapter(tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_a_larger_max_steps_continues(dataset_dir, tmp_path):
    common = ("trainer.save_steps=3", "trainer.eval_steps=0", "optim.lr=5e-3", "seed=1")
    first = train(cfg_for(dataset_dir, tmp_path / "r", "trainer.max_steps=3", *common))
    assert first["steps"] == 3
    more = train(cfg_for(dataset_dir, tmp_path / "r", "trainer.max_steps=5", *common, "resume=true"))
    assert more["steps"] == 5 and more["resumed_from"].endswith("checkpoint-3")
    assert [r["step"] for r in read_metrics(tmp_path / "r" / "metrics.jsonl") if r["split"] == "train"] == [
        1, 2, 3, 4, 5]


def test_resume_on_a_changed_dataset_is_refused_unless_asked(dataset_dir, tmp_path):
    other = write_dataset(tmp_path / "other", seed=9)
    common = ("trainer.save_steps=2", "trainer.eval_steps=0", "trainer.max_steps=2")
    train(cfg_for(dataset_dir, tmp_path / "r", *common))
    recorded = json.loads((tmp_path / "r" / "dataset.json").read_text())
    with pytest.raises(DatasetError, match=r"train and val data differ.*resume_new_dataset=true"):
        train(cfg_for(other, tmp_path / "r", "trainer.max_steps=3", *common[:2], "resume=true"))
    assert json.loads((tmp_path / "r" / "dataset.json").read_text()) == recorded  # nothing overwritten
    summary = train(cfg_for(other, tmp_path / "r", "trainer.max_steps=3", *common[:2], "resume=true",
                            "resume_new_dataset=true"))
    assert summary["steps"] == 3
    assert json.loads((tmp_path / "r" / "dataset.json").read_text())["train"] != recorded["train"]
