"""python -m ava.train: TrainingArguments and LoraConfig come from the config (``training_args``, ``lora.config``):
the user's short keys reach them, any other field can be set directly, and the run adds only its own facts."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from peft import LoraConfig

from ava.train.run import _training_args


def _cfg(*overrides: str):
    with initialize_config_module("ava_conf", version_base="1.3"):
        return compose("train", overrides=["dataset=d", "output_dir=o", *overrides])


def test_short_keys_reach_training_arguments(tmp_path):
    cfg = _cfg("trainer.batch_size=3", "trainer.grad_accum=2", "optim.lr=1e-4", "optim.betas=[0.8,0.95]",
               "schedule=linear", "trainer.eval_steps=0", "+training_args.torch_compile=true", "seed=7")
    args = _training_args(cfg, tmp_path, "cpu", has_val=True)
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (3, 2)
    assert (args.learning_rate, args.adam_beta1, args.adam_beta2) == (1e-4, 0.8, 0.95)
    assert args.lr_scheduler_type.value == "linear" and args.seed == 7 and args.torch_compile is True
    assert args.output_dir == str(tmp_path / "checkpoints") and args.use_cpu
    assert args.eval_strategy.value == "no"  # eval_steps=0: validation only at the end, by ava.train itself
    assert _training_args(_cfg(), tmp_path, "cpu", has_val=False).eval_strategy.value == "no"
    steps = _training_args(_cfg("trainer.eval_steps=5"), tmp_path, "cpu", has_val=True)
    assert steps.eval_strategy.value == "steps" and steps.eval_steps == 5


def test_lora_config_equals_peft_built_by_hand():
    from hydra.utils import instantiate

    cfg = _cfg("lora.r=4", "lora.alpha=8", "lora.dropout=0.1", "+lora.config.use_rslora=true")
    got = instantiate(cfg.lora.config)
    want = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1, target_modules=list(cfg.model.target_modules),
                      bias="none", task_type="CAUSAL_LM", use_rslora=True)
    assert got.to_dict() == want.to_dict()


def test_precision_flags_are_the_runs():
    with pytest.raises(ValueError, match="precision='fp8'"):
        _training_args(_cfg("precision=fp8"), Path("o"), "cpu", has_val=False)
