"""python -m ava.train: metrics log, non-finite-loss guard and loss plot around ``transformers.Trainer``."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback
from transformers.trainer_pt_utils import LengthGroupedSampler

from ava import plots
from ava.jsonl import LineError, iter_jsonl
from ava.runtime import append_jsonl, peak_rss_mb, write_jsonl
from ava.train.token_cache import EpochLengthSampler, TokenCache

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the last good state was saved as a checkpoint."""


def peak_memory_mb() -> float:
    """Peak CUDA memory allocated by this process when on a GPU, else its peak resident memory (MiB)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**20
    return peak_rss_mb()


class GuardedTrainer(Trainer):
    """``Trainer`` that stops on a non-finite training loss, after checkpointing the last good state.

    The check runs before ``backward``, so the weights, optimizer and scheduler saved are those after the last
    update whose losses were all finite. Under DDP/FSDP every rank learns of a bad loss on any rank.
    """

    def _get_train_sampler(self, train_dataset=None):
        """Length-grouped from the token cache's lengths, seeded per epoch (exact resume in any epoch)."""
        ds = train_dataset if train_dataset is not None else self.train_dataset
        if isinstance(ds, TokenCache):
            return EpochLengthSampler(ds.lengths, self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                      self.args.seed)
        return super()._get_train_sampler(train_dataset)

    def _get_eval_sampler(self, eval_dataset):
        """transformers' length-grouped eval order, from the cached lengths instead of reading every sample."""
        if isinstance(eval_dataset, TokenCache):
            return LengthGroupedSampler(self.args.eval_batch_size, lengths=eval_dataset.lengths.tolist(),
                                        generator=torch.Generator().manual_seed(self.args.seed))
        return super()._get_eval_sampler(eval_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        out = super().compute_loss(model, inputs, return_outputs=return_outputs,
                                   num_items_in_batch=num_items_in_batch)
        if model.training:
            loss = out[0] if return_outputs else out
            bad = (~torch.isfinite(loss.detach())).any().float()
            if self.accelerator.num_processes > 1:
                bad = self.accelerator.reduce(bad, reduction="sum")
            if bad.item() > 0:
                self._save_checkpoint(self.model, trial=None)
                ckpt = Path(self.args.output_dir) / f"checkpoint-{self.state.global_step}"
                raise NonFiniteLossError(
                    f"training loss is {loss.detach().float().item()} (non-finite) at optimizer step "
                    f"{self.state.global_step + 1}; stopped. The last good state (after step "
                    f"{self.state.global_step}) is saved in {ckpt}. Fix: lower optim.lr, raise "
                    "schedule.warmup, use precision=bf16 or fp32 instead of fp16, or check the data; then "
                    "rerun (resume=true restarts from that checkpoint)."
                )
        return out


class MetricsLog(TrainerCallback):
    """Append one JSON line per logged step (loss, lr, tokens/s, peak memory) and per-task validation loss."""

    def __init__(self, path: Path, resumed_step: int | None):
        self.path = Path(path)
        self.resumed_step = resumed_step
        self.t_last: float | None = None
        self.tokens_last: int | None = None
        self.last_eval_step: int | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.t_last, self.tokens_last = time.perf_counter(), state.num_input_tokens_seen
        if not state.is_world_process_zero:
            return
        if self.resumed_step is None:
            self.path.unlink(missing_ok=True)
        else:
            self.keep_until(self.resumed_step)

    def keep_until(self, step: int) -> None:
        """Drop lines of an interrupted run past ``step`` (the checkpoint resumed from; they are redone), and
        remember whether validation at ``step`` was already logged."""
        if not self.path.exists():
            return
        rows = [r for r in read_metrics(self.path) if r["step"] <= step]
        write_jsonl(self.path, rows)
        if any(r["split"] == "val" and r["step"] == step for r in rows):
            self.last_eval_step = step

    def on_log(self, args, state, control, logs: dict[str, Any] | None = None, **kwargs):
        if not logs:
            return
        if any(key.startswith("eval_") for key in logs):
            self.last_eval_step = state.global_step
        if not state.is_world_process_zero:
            return
        rows = []
        if "loss" in logs:
            now, tokens = time.perf_counter(), state.num_input_tokens_seen
            dt = now - (self.t_last or now)
            tps = (tokens - (self.tokens_last or 0)) / dt if dt > 0 else None
            self.t_last, self.tokens_last = now, tokens
            rows.append({"step": state.global_step, "split": "train", "loss": logs["loss"],
                         "lr": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm"),
                         "tokens_per_s": tps, "tokens_seen": tokens, "peak_mem_mb": peak_memory_mb(),
                         "epoch": logs.get("epoch")})
        for key, value in logs.items():
            if key.startswith("eval_") and key.endswith("_loss") and key != "eval_loss":
                task = key[len("eval_"):-len("_loss")]
                rows.append({"step": state.global_step, "split": "val", "task": task, "loss": value})
        if rows:
            append_jsonl(self.path, rows)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl`` (a NaN loss is logged as NaN); a line cut short by a kill is dropped."""
    rows = []
    for line_no, row in iter_jsonl(path, allow_nan=True):
        if isinstance(row, LineError):
            log.warning("%s line %d: %s; line ignored", path, line_no, row.detail)
        else:
            rows.append(row)
    return rows


def plot_losses(metrics_path: Path, png_path: Path) -> None:
    """Training loss and per-task validation loss against the optimizer step, as a PNG."""
    rows = read_metrics(metrics_path) if Path(metrics_path).exists() else []
    fig, ax = plots.subplots(figsize=(7, 4))
    train = [(r["step"], r["loss"]) for r in rows if r["split"] == "train" and math.isfinite(r["loss"])]
    if train:
        ax.plot(*zip(*train, strict=True), label="train", lw=1.2)
    for task in sorted({r["task"] for r in rows if r["split"] == "val"}):
        pts = [(r["step"], r["loss"]) for r in rows if r["split"] == "val" and r["task"] == task]
        ax.plot(*zip(*pts, strict=True), marker="o", label=f"val {task}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (assistant tokens)")
    ax.grid(alpha=0.3)
    ax.legend()
    plots.save(fig, png_path, dpi=100)
