"""python -m ava.train dataset=DIR output_dir=OUT [model=tiny] [lora.r=16] ...: LoRA fine-tuning.

Built on ``transformers.Trainer`` + PEFT LoRA, so ``accelerate launch`` / ``torchrun`` give DDP or FSDP with
no distribution code here. Writes ``OUT/adapter/`` (PEFT adapter + tokenizer and chat template),
``OUT/metrics.jsonl``, ``OUT/checkpoints/``, ``OUT/loss.png`` and ``OUT/train_summary.json``.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ava.runtime import disk_full_error, is_disk_full, loud_warning, pick_device, usable_cores, write_json
from ava.sample import DatasetError, require_split
from ava.sample_files import fingerprint
from ava.train.callbacks import GuardedTrainer, MetricsLog, peak_memory_mb, plot_losses, read_metrics
from ava.train.data import pad_collator
from ava.train.token_cache import TokenCache, cache_dir_for, token_cache

log = logging.getLogger(__name__)

# Pad batches to a multiple of 8 on CUDA so bf16 matmuls hit tensor-core shapes (NVIDIA's guidance for
# Ampere/Hopper GEMMs); on the CPU padding only costs time.
CUDA_PAD_MULTIPLE = 8


def mixed_precision(precision: str, device: str) -> dict[str, bool]:
    """``TrainingArguments`` flags for ``precision``: auto (bf16 on a bf16 GPU, else fp32)|bf16|fp16|fp32."""
    import torch

    if precision == "auto":
        bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
        return {"bf16": True} if bf16 else {}
    flags = {"bf16": {"bf16": True}, "fp16": {"fp16": True}, "fp32": {}}
    if precision not in flags:
        raise ValueError(f"precision={precision!r} is not one of auto, bf16, fp16, fp32")
    return flags[precision]


def apply_fused(model, fused: Any, device: str) -> dict[str, Any] | None:
    """Swap PEFT's LoRA layers for the fused Triton path per ``lora.fused`` (auto: on when on CUDA)."""
    mode = {True: "true", False: "false"}.get(fused, str(fused).lower())
    if mode not in {"auto", "true", "false"}:
        raise ValueError(f"lora.fused={fused!r} is not one of auto, true, false")
    if mode == "false" or (mode == "auto" and not device.startswith("cuda")):
        return None
    from ava.lora import apply_fused_lora

    # apply_fused_lora announces (loud_warning) every LoRA layer it leaves on PEFT's path, with the reason.
    report = apply_fused_lora(model)
    return {"patched": report.num_patched, "skipped": report.skipped}


def _last_complete_checkpoint(ckpt_dir: Path) -> str | None:
    """The newest ``checkpoint-N`` whose ``trainer_state.json`` (the Trainer's last write) reads.

    A checkpoint killed while being written lacks it and cannot be resumed from; it is announced and removed,
    so the resumed run rewrites it when it gets there.
    """
    from transformers import TrainerState
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    if not ckpt_dir.is_dir():
        return None
    found = [(int(p.name.split("-")[1]), p) for p in ckpt_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*")
             if p.is_dir() and p.name.split("-")[1].isdigit()]
    for _, path in sorted(found, reverse=True):
        try:
            TrainerState.load_from_json(str(path / "trainer_state.json"))
            return str(path)
        except (OSError, ValueError) as exc:
            loud_warning(f"{path} is incomplete ({exc.__class__.__name__}: {exc}; killed while being written?): "
                         "removed, resuming from an earlier checkpoint")
            shutil.rmtree(path)
    return None


def _checkpoint_to_resume(ckpt_dir: Path, resume: bool) -> str | None:
    last = _last_complete_checkpoint(ckpt_dir) if resume else _any_checkpoint(ckpt_dir)
    if resume and last is None:
        loud_warning(f"resume=true but {ckpt_dir} holds no checkpoint; training from the start")
    if not resume and last is not None:
        raise FileExistsError(
            f"{ckpt_dir} already holds checkpoints (last: {last}); pass resume=true to continue that run or "
            "choose a new output_dir"
        )
    return last if resume else None


def _any_checkpoint(ckpt_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None


def _training_args(cfg: DictConfig, out: Path, device: str, has_val: bool):
    """``cfg.training_args`` (a ``transformers.TrainingArguments`` node) plus what this run decides."""
    from hydra.utils import instantiate

    eval_steps = int(cfg.trainer.eval_steps)
    return instantiate(
        cfg.training_args,
        output_dir=str(out / "checkpoints"),
        use_cpu=device == "cpu",
        eval_strategy="steps" if has_val and eval_steps > 0 else "no",
        eval_steps=eval_steps if eval_steps > 0 else None,
        **mixed_precision(str(cfg.precision), device),
    )


def _adopt_final_checkpoint(trainer, checkpoint: str, state, metrics_log: MetricsLog) -> None:
    """Make ``trainer`` hold the finished run of ``checkpoint``: its LoRA weights, state and logged metrics."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    log.info("resume: %s is the final step (%d of %d); saving its adapter without training", checkpoint,
             state.global_step, state.max_steps)
    set_peft_model_state_dict(trainer.model, load_file(f"{checkpoint}/adapter_model.safetensors"))
    trainer.state = state
    metrics_log.keep_until(state.global_step)


def _token_caches(cfg: DictConfig, data_dir: Path, tokenizer, max_length: int) -> tuple[TokenCache, TokenCache]:
    """Both splits tokenised once into the memory-mapped cache (rank 0 builds, the other ranks then map it)."""
    from accelerate import PartialState

    num_proc = usable_cores() if str(cfg.data.num_proc) == "auto" else int(cfg.data.num_proc)
    cache_dir = cache_dir_for(cfg.data.token_cache)
    with PartialState().main_process_first():
        return tuple(token_cache(data_dir / f"{split}.jsonl", tokenizer, max_length, cache_dir, num_proc,
                                 f"encode {split}") for split in ("train", "val"))


def _finished(resumed, trainer_cfg: DictConfig) -> bool:
    """Whether the checkpoint resumed from already ends this run: it reached its own last step and the new
    configuration asks for no more (a larger ``max_steps``, or more ``epochs`` without one, continues)."""
    if not 0 < resumed.max_steps <= resumed.global_step:
        return False
    max_steps = int(trainer_cfg.max_steps)
    if max_steps > 0:
        if max_steps < resumed.global_step:
            loud_warning(f"resume: the checkpoint is at step {resumed.global_step}, past "
                         f"trainer.max_steps={max_steps}; its weights are saved as they are (nothing is undone)")
        return max_steps <= resumed.global_step
    return float(trainer_cfg.epochs) <= float(resumed.num_train_epochs)


DATASET_RECORD = "dataset.json"


def _check_dataset(out: Path, data_dir: Path, resume_from: str | None, allow_new: bool) -> dict[str, str]:
    """Check both splits exist (``SPLIT.jsonl`` or its shards) and record their fingerprints in
    ``OUT/dataset.json``; a resumed run whose dataset changed stops (``resume_new_dataset=true`` continues,
    announced): its remaining steps would train on other samples."""
    for split in ("train", "val"):  # before the model is loaded: a wrong dataset= fails at once
        require_split(data_dir / f"{split}.jsonl")
    now = {"dataset": str(data_dir), **{split: fingerprint(data_dir / f"{split}.jsonl") for split in ("train", "val")}}
    record = out / DATASET_RECORD
    if resume_from is not None and record.is_file():
        before = json.loads(record.read_text())
        changed = [split for split in ("train", "val") if before.get(split) != now[split]]
        if changed:
            msg = (f"resume: the {' and '.join(changed)} data differ from those {resume_from} was trained on "
                   f"(was {before.get('dataset')}, now {data_dir}; fingerprints in {record})")
            if not allow_new:
                raise DatasetError(f"{msg}. Point dataset= at the original data, train into a new output_dir, or "
                                   "pass resume_new_dataset=true to continue on the new data")
            loud_warning(f"{msg}; continuing on the new data (resume_new_dataset=true)")
    return now


def train(cfg: DictConfig, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Fine-tune ``cfg.model`` with LoRA on ``cfg.dataset``; returns (and writes) the run summary.

    ``callbacks``: extra ``transformers.TrainerCallback`` objects (tests use one to interrupt a run). A write
    that runs out of disk (a checkpoint, the adapter, a plot) stops the run with :class:`DiskFullError`.
    """
    try:
        return _train(cfg, callbacks)
    except (OSError, RuntimeError) as exc:
        if is_disk_full(exc):
            raise disk_full_error(exc, cfg.output_dir, "training (checkpoints, the adapter, metrics, plots); "
                                  "rerun with resume=true once there is space") from exc
        raise


def _train(cfg: DictConfig, callbacks: Sequence[Any]) -> dict[str, Any]:
    from accelerate import PartialState
    from hydra.utils import instantiate
    from peft import get_peft_model
    from transformers import TrainerState, set_seed

    from ava.models.load import load_model_and_tokenizer

    t0 = time.perf_counter()
    out, data_dir = Path(cfg.output_dir), Path(cfg.dataset)
    device = pick_device(str(cfg.device))
    resume_from = _checkpoint_to_resume(out / "checkpoints", bool(cfg.resume))

    dataset_record = _check_dataset(out, data_dir, resume_from, bool(cfg.resume_new_dataset))
    set_seed(cfg.seed)
    model, tokenizer = load_model_and_tokenizer(cfg.model)
    max_length = int(cfg.max_length)
    train_ds, val_ds = _token_caches(cfg, data_dir, tokenizer, max_length)
    train_stats, val_stats = train_ds.stats, val_ds.stats
    for split, stats in (("train", train_stats), ("val", val_stats)):
        if stats.truncated or stats.dropped_no_target:
            loud_warning(f"{split}: {stats.truncated} samples truncated at max_length={max_length}, "
                         f"{stats.dropped_no_target} dropped (no assistant token left)")
    val_sets = val_ds.by_task()

    model = get_peft_model(model, instantiate(cfg.lora.config))
    fused_report = apply_fused(model, cfg.lora.fused, device)
    trainable, total = model.get_nb_trainable_parameters()

    resumed = TrainerState.load_from_json(f"{resume_from}/trainer_state.json") if resume_from else None
    resumed_step = resumed.global_step if resumed else None
    out.mkdir(parents=True, exist_ok=True)
    if PartialState().is_main_process:
        write_json(out / DATASET_RECORD, dataset_record)
    metrics_path = out / "metrics.jsonl"
    trainer = GuardedTrainer(
        model=model,
        args=_training_args(cfg, out, device, has_val=bool(val_sets)),
        train_dataset=train_ds,
        eval_dataset=val_sets,
        data_collator=pad_collator(tokenizer, CUDA_PAD_MULTIPLE if device != "cpu" else None),
        processing_class=tokenizer,
        callbacks=[metrics_log := MetricsLog(metrics_path, resumed_step), *callbacks],
    )
    if resumed is not None and _finished(resumed, cfg.trainer):
        # Killed after the final checkpoint, before adapter/ was saved: its weights are the final ones. Resuming
        # through Trainer.train() from a checkpoint at max_steps runs one step past max_steps (seen with
        # transformers 5.23), which would change them; so they are loaded instead.
        _adopt_final_checkpoint(trainer, resume_from, resumed, metrics_log)
        train_metrics: dict[str, Any] = {}
    else:
        train_metrics = trainer.train(resume_from_checkpoint=resume_from).metrics
    if metrics_log.last_eval_step != trainer.state.global_step:
        trainer.evaluate()  # validation loss of the final weights, unless the Trainer just computed it
    trainer.save_model(str(out / "adapter"))

    summary: dict[str, Any] = {}
    if trainer.is_world_process_zero():
        plot_losses(metrics_path, out / "loss.png")
        rows = read_metrics(metrics_path)
        last_step = max(r["step"] for r in rows)
        train_losses = [r["loss"] for r in rows if r["split"] == "train"]
        summary = {
            "model": str(cfg.model.name_or_path),
            "dataset": str(data_dir),
            "device": device,
            "world_size": trainer.args.world_size,
            "steps": trainer.state.global_step,
            "epochs": trainer.state.epoch,
            "resumed_from": resume_from,
            "train": train_stats.as_dict(),
            "val": val_stats.as_dict(),
            "max_length": max_length,
            "batching": "length-bucketed (seeded per epoch), right-padded per batch; no packing",
            "token_cache": str(train_ds.folder.parent),
            "first_train_loss": train_losses[0] if train_losses else None,
            "final_train_loss": train_losses[-1] if train_losses else None,
            "val_loss": {r["task"]: r["loss"] for r in rows if (r["split"], r["step"]) == ("val", last_step)},
            "train_runtime_s": train_metrics.get("train_runtime"),
            "tokens_seen": trainer.state.num_input_tokens_seen,
            "peak_mem_mb": peak_memory_mb(),
            "trainable_params": trainable,
            "total_params": total,
            "lora": {k: v for k, v in OmegaConf.to_container(cfg.lora, resolve=True).items() if k != "config"},
            "fused_lora": fused_report,
            "adapter": str(out / "adapter"),
            "wall_s": time.perf_counter() - t0,
        }
        write_json(out / "train_summary.json", summary)
    return summary
