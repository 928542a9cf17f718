"""python -m ava.train on the tiny model: loss falls, adapter loads and changes outputs, resume is exact (past a
half-written checkpoint, and after the final one), non-finite loss stops with a checkpoint, the real command
runs, fused and unfused LoRA agree."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from ava.models.tiny import build_tiny
from ava.sample import DatasetError, read_samples
from ava.sample_files import ShardWriter
from ava.train.callbacks import NonFiniteLossError, read_metrics
from ava.train.data import encode_all, pad_collator
from ava.train.run import train
from tests.train.samples import FAST, REPO, cfg_for, make_sample, write_dataset


def val_loss(model, tok, dataset: Path) -> float:
    sets, _ = encode_all(read_samples(dataset / "val.jsonl"), tok, 256, "val")
    rows = [r for ds in sets.values() for r in ds.rows]
    batch = pad_collator(tok)(rows)
    with torch.no_grad():
        return model(**batch).loss.item()


def test_every_preset_builds_the_objects_transformers_and_peft_accept(dataset_dir, tmp_path):
    """Each model x optimizer x schedule preset gives TrainingArguments and a LoraConfig that transformers and
    PEFT validate (an unknown optimizer or scheduler name, or a bad LoRA field, raises there)."""
    from hydra.utils import instantiate

    from ava.train.run import _training_args

    for model in ("tiny", "llama3_8b", "llama2_7b_chat", "mistral_7b_instruct"):
        for optim in ("adamw", "adafactor"):
            for schedule in ("cosine", "linear", "constant"):
                groups = (f"model={model}", f"optim={optim}", f"schedule={schedule}")
                cfg = cfg_for(dataset_dir, tmp_path, *groups)
                args = _training_args(cfg, tmp_path, "cpu", has_val=True)
                assert args.optim.value == cfg.optim.name and args.lr_scheduler_type.value == cfg.schedule.name
                lora = instantiate(cfg.lora.config)
                assert lora.target_modules == set(cfg.model.target_modules) and cfg.max_length > 0


def test_loss_falls_and_adapter_loads_and_changes_outputs(dataset_dir, tmp_path):
    from peft import PeftModel

    out = tmp_path / "run"
    steps = ("trainer.max_steps=16", "trainer.eval_steps=8", "trainer.save_steps=16")
    summary = train(cfg_for(dataset_dir, out, *steps, "optim.lr=1e-2"))
    losses = [r["loss"] for r in read_metrics(out / "metrics.jsonl") if r["split"] == "train"]
    assert len(losses) == 16 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.5, losses
    rows = read_metrics(out / "metrics.jsonl")
    train_row = next(r for r in rows if r["split"] == "train")
    assert {"step", "loss", "lr", "tokens_per_s", "peak_mem_mb"} <= train_row.keys()
    assert {(r["step"], r["task"]) for r in rows if r["split"] == "val"} == {
        (s, t) for s in (8, 16) for t in ("audience", "region")
    }
    assert summary["steps"] == 16 and summary["train"]["samples"] == 32 and summary["train"]["truncated"] == 0
    assert json.loads((out / "train_summary.json").read_text())["val_loss"] == summary["val_loss"]
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "checkpoints" / "checkpoint-16").is_dir()

    adapter = out / "adapter"
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    tok = AutoTokenizer.from_pretrained(adapter)
    assert "<|start_header_id|>" in tok.chat_template
    base = AutoModelForCausalLM.from_pretrained(build_tiny()).eval()
    base_loss = val_loss(base, tok, dataset_dir)
    who = [{"role": "user", "content": "Who?"}]
    prompt = tok.apply_chat_template(who, add_generation_prompt=True, tokenize=False)
    ids = tok(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        before = base(input_ids=ids).logits
    tuned = PeftModel.from_pretrained(base, adapter).eval()
    with torch.no_grad():
        after = tuned(input_ids=ids).logits
    assert (after - before).abs().max() > 1e-3
    assert val_loss(tuned, tok, dataset_dir) < base_loss - 0.5


class Crash(TrainerCallback):
    """Simulate a crash after checkpoint 3 was written and step 4 was logged."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 5:
            raise KeyboardInterrupt("simulated crash")


def test_resume_is_exact(dataset_dir, tmp_path):
    common = ("trainer.max_steps=6", "trainer.save_steps=3", "trainer.eval_steps=3", "lora.dropout=0.1",
              "optim.lr=5e-3", "seed=3")
    train(cfg_for(dataset_dir, tmp_path / "a", *common))
    with pytest.raises(KeyboardInterrupt):
        train(cfg_for(dataset_dir, tmp_path / "b", *common), callbacks=[Crash()])
    logged = read_metrics(tmp_path / "b" / "metrics.jsonl")
    assert [r["step"] for r in logged if r["split"] == "train"] == [1, 2, 3, 4]
    with pytest.raises(FileExistsError, match="resume=true"):
        train(cfg_for(dataset_dir, tmp_path / "b", *common))
    # A checkpoint killed while being written (SIGKILL before trainer_state.json, the Trainer's last file).
    ckpts = tmp_path / "b" / "checkpoints"
    shutil.copytree(ckpts / "checkpoint-3", ckpts / "checkpoint-4")
    (ckpts / "checkpoint-4" / "trainer_state.json").unlink()
    summary = train(cfg_for(dataset_dir, tmp_path / "b", *common, "resume=true"))
    assert summary["resumed_from"].endswith("checkpoint-3")
    assert not (ckpts / "checkpoint-4").exists()  # removed (announced), not resumed from
    a, b = read_metrics(tmp_path / "a" / "metrics.jsonl"), read_metrics(tmp_path / "b" / "metrics.jsonl")
    key = [(r["step"], r["split"], r.get("task"), r["loss"]) for r in a]
    assert [(r["step"], r["split"], r.get("task"), r["loss"]) for r in b] == key  # exact, not approximate
    assert [r["lr"] for r in a if r["split"] == "train"] == [r["lr"] for r in b if r["split"] == "train"]


class CrashAfterSave(TrainerCallback):
    """Simulate a kill after the checkpoint of step ``step`` is complete, before anything else is written."""

    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt("simulated crash after a checkpoint")


def test_resume_after_the_last_checkpoint_equals_an_uninterrupted_run(dataset_dir, tmp_path):
    """Killed after the final checkpoint but before adapter/: the resumed run does no extra step."""
    from safetensors.torch import load_file

    common = ("trainer.max_steps=4", "trainer.save_steps=2", "trainer.eval_steps=2", "optim.lr=5e-3", "seed=5")
    whole = train(cfg_for(dataset_dir, tmp_path / "a", *common))
    with pytest.raises(KeyboardInterrupt):
        train(cfg_for(dataset_dir, tmp_path / "b", *common), callbacks=[CrashAfterSave(4)])
    assert not (tmp_path / "b" / "adapter").exists()
    resumed = train(cfg_for(dataset_dir, tmp_path / "b", *common, "resume=true"))
    assert resumed["resumed_from"].endswith("checkpoint-4")
    assert resumed["steps"] == whole["steps"] == 4
    a = load_file(tmp_path / "a" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "b" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["val_loss"] == whole["val_loss"]
    key = [(r["step"], r["split"], r.get("task"), r["loss"]) for r in read_metrics(tmp_path / "a" / "metrics.jsonl")]
    assert [(r["step"], r["split"], r.get("task"), r["loss"])
            for r in read_metrics(tmp_path / "b" / "metrics.jsonl")] == key


class PoisonForward(TrainerCallback):
    """From step 3 on, the model's logits become NaN (weights stay as they were)."""

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == 2:
            model.get_output_embeddings().register_forward_hook(lambda m, i, o: o * float("nan"))


def test_non_finite_loss_stops_with_last_good_checkpoint(dataset_dir, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "nan"
    with pytest.raises(NonFiniteLossError, match=r"optimizer step 3.*checkpoint-2.*Fix:"):
        cfg = cfg_for(dataset_dir, out, "trainer.max_steps=6", "trainer.save_steps=100")
        train(cfg, callbacks=[PoisonForward()])
    ckpt = out / "checkpoints" / "checkpoint-2"
    weights = load_file(ckpt / "adapter_model.safetensors")
    assert weights and all(torch.isfinite(w).all() for w in weights.values())
    assert json.loads((ckpt / "trainer_state.json").read_text())["global_step"] == 2


def test_dataset_errors_stop_the_run(tmp_path):
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "train.jsonl").write_text('{"id": "a", "task": "t", "messages": []}\n')
    (ds / "val.jsonl").write_text("")
    with pytest.raises(ValueError, match=r"train\.jsonl:1: field 'messages'"):
        train(cfg_for(ds, tmp_path / "out"))


def test_a_missing_split_is_named_in_both_forms_before_the_model_loads(tmp_path, monkeypatch):
    import ava.models.load

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the dataset was checked")

    monkeypatch.setattr(ava.models.load, "load_model_and_tokenizer", no_model)
    ds = tmp_path / "ds"
    ds.mkdir()
    with pytest.raises(DatasetError, match=r"neither .*train\.jsonl nor its shards .*train-NNNNN\.jsonl\.zst"):
        train(cfg_for(ds, tmp_path / "out"))
    with ShardWriter(ds, "train", shard_samples=10) as w:  # train as shards, val missing
        w.write(json.dumps(make_sample(0, "audience", random.Random(0))))
        w.commit()
    with pytest.raises(DatasetError, match=r"neither .*val\.jsonl nor its shards .*val-NNNNN\.jsonl\.zst"):
        train(cfg_for(ds, tmp_path / "out"))


def _run_command(dataset: Path, out: Path, *overrides: str, env_extra: dict[str, str] | None = None):
    env = {**os.environ, **(env_extra or {})}
    cmd = [sys.executable, "-m", "ava.train", f"dataset={dataset}", f"output_dir={out}", *FAST, *overrides]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_real_command(dataset_dir, tmp_path):
    out = tmp_path / "cmd"
    _run_command(dataset_dir, out, "trainer.max_steps=3", "trainer.save_steps=3")
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 3 and (out / "adapter" / "adapter_model.safetensors").is_file()
    assert len(list((out / "logs").iterdir())) == 1  # hydra.run.dir under output_dir, cwd unchanged


def test_fused_and_unfused_losses_match(tmp_path):
    """Same seed, dropout 0: the fused Triton LoRA (interpreter on CPU) gives PEFT's losses."""
    from peft import PeftModel

    dataset_dir = write_dataset(tmp_path / "ds", n_train=8, n_val=2)  # small: the interpreter is slow
    common = ("trainer.max_steps=3", "trainer.batch_size=2", "lora.dropout=0.0", "optim.lr=1e-2")
    env = {"TRITON_INTERPRET": "1"}  # must be set before triton is imported: hence a fresh process
    train(cfg_for(dataset_dir, tmp_path / "unfused", *common, "lora.fused=false"))
    _run_command(dataset_dir, tmp_path / "fused", *common, "lora.fused=true", env_extra=env)
    summary = json.loads((tmp_path / "fused" / "train_summary.json").read_text())
    assert summary["fused_lora"]["patched"] == 14  # 7 linear layers x 2 blocks, none left unfused
    assert not summary["fused_lora"]["skipped"]
    ref = [r["loss"] for r in read_metrics(tmp_path / "unfused" / "metrics.jsonl")]
    got = [r["loss"] for r in read_metrics(tmp_path / "fused" / "metrics.jsonl")]
    assert len(got) == len(ref) == 5  # 3 train steps + 2 tasks' validation loss
    assert got == pytest.approx(ref, rel=1e-4, abs=1e-5)
    base = AutoModelForCausalLM.from_pretrained(build_tiny()).eval()
    tok = AutoTokenizer.from_pretrained(tmp_path / "fused" / "adapter")
    base_loss = val_loss(base, tok, dataset_dir)  # before PeftModel injects the adapter into base in place
    fused_adapter = PeftModel.from_pretrained(base, tmp_path / "fused" / "adapter").eval()
    unfused = json.loads((tmp_path / "unfused" / "train_summary.json").read_text())
    assert summary["val_loss"] == pytest.approx(unfused["val_loss"], rel=1e-4)
    assert val_loss(fused_adapter, tok, dataset_dir) < base_loss
