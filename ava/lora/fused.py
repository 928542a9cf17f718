"""python -m ava.train (lora.fused=true): route every PEFT LoRA ``Linear`` through the fused LoRA linear.

``apply_fused_lora(model)`` replaces the ``forward`` of each eligible ``peft.tuners.lora.layer.Linear``
instance (modules, parameters and adapter names stay PEFT's, so ``save_pretrained`` and loading are unchanged)
and returns a report naming every LoRA layer it did not patch and why. Backends, chosen per call:
CUDA tensors → Triton kernels; CPU with ``TRITON_INTERPRET=1`` → the same kernels in Triton's interpreter;
CPU otherwise → the PyTorch reference (``ava.lora.reference``), announced once.
Dropout seeds come from torch's CPU generator (``draw_seed``), so ``torch.manual_seed`` repeats a run and
activation checkpointing, which restores that generator before recomputing, regenerates the same masks.
"""

from __future__ import annotations

import os
import types
from dataclasses import dataclass, field
from typing import Any

import torch
from ava_kernels import MAX_RANK  # the package only: importing lora_linear here would fix the interpret mode
from peft.tuners.lora.layer import Linear as LoraLinear
from peft.tuners.lora.layer import LoraLayer
from torch import nn
from transformers.pytorch_utils import Conv1D

from ava.lora.reference import draw_seed, dropout_keep_mask, lora_linear_reference
from ava.runtime import loud_warning

_announced: set[str] = set()


@dataclass
class FusedLoraReport:
    """What ``apply_fused_lora`` did: patched module names, and a reason per LoRA layer not patched."""

    patched: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def num_patched(self) -> int:
        return len(self.patched)

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)

    def summary(self) -> str:
        lines = [f"fused LoRA: {self.num_patched} layer(s) patched, {self.num_skipped} not patched"]
        lines += [f"  not patched: {name}: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)


def _announce_once(key: str, message: str) -> None:
    if key not in _announced:
        _announced.add(key)
        loud_warning(message)


def _why_not_fusable(layer: nn.Module) -> str | None:
    """None when ``layer``'s current state runs on the fused path, else the reason it cannot."""
    if not isinstance(layer, LoraLinear):
        return f"{type(layer).__name__} LoRA layers are not fused (only peft.tuners.lora.layer.Linear is)"
    base = layer.get_base_layer()
    if not isinstance(base, nn.Linear | Conv1D) or not isinstance(base.weight, torch.Tensor):
        return f"base layer {type(base).__name__} is not torch.nn.Linear or transformers Conv1D"
    if base.weight.dtype not in (torch.float16, torch.bfloat16, torch.float32):
        return f"base weight dtype {base.weight.dtype} (quantized or integer) is not fp16/bf16/fp32"
    if layer.merged:
        return f"adapter(s) {layer.merged_adapters} are merged into the base weights"
    active = layer.active_adapters
    if len(active) != 1:
        return f"{len(active)} active adapters {active}; the fused path runs exactly one"
    name = active[0]
    if name not in layer.lora_A:
        return f"active adapter '{name}' has no LoRA weights on this layer"
    if name in layer.lora_variant:
        return f"adapter '{name}' is a LoRA variant ({type(layer.lora_variant[name]).__name__}, e.g. DoRA)"
    dropout = layer.lora_dropout[name]
    if not isinstance(dropout, nn.Dropout | nn.Identity):
        return f"lora_dropout is {type(dropout).__name__}, not torch.nn.Dropout"
    rank = layer.lora_A[name].weight.shape[0]
    if rank > MAX_RANK:
        return f"rank r={rank} exceeds the fused kernel's maximum {MAX_RANK}"
    return None


def _interpret() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "yes", "on")


def _kernel_fn():
    """The fused op, checked against the interpreter mode it was built in (triton.jit fixes it at import)."""
    from ava_kernels import lora_linear as kl

    if kl.INTERPRET != _interpret():
        raise RuntimeError(f"TRITON_INTERPRET={os.environ.get('TRITON_INTERPRET')!r} now, but ava_kernels "
                           f"was imported with interpret={kl.INTERPRET}; set TRITON_INTERPRET before "
                           "anything imports ava_kernels")
    return kl.lora_linear


def fused_lora_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, lora_a: torch.Tensor,
                      lora_b: torch.Tensor, scaling: float, dropout_p: float) -> torch.Tensor:
    """The LoRA linear on the backend for ``x``'s device (module docstring); dropout_p > 0 draws a seed."""
    seed = draw_seed() if dropout_p > 0 else 0
    if x.is_cuda or _interpret():
        return _kernel_fn()(x, weight, bias, lora_a, lora_b, scaling, dropout_p, seed)
    _announce_once("reference", "fused LoRA: CPU tensors and TRITON_INTERPRET is not 1, so the patched LoRA "
                   "layers run the plain PyTorch reference (same math and dropout mask, unfused)")
    keep = None
    if dropout_p:
        keep = dropout_keep_mask(seed, x.numel() // x.shape[-1], x.shape[-1], dropout_p, x.device)
    return lora_linear_reference(x, weight, bias, lora_a, lora_b, scaling, keep, dropout_p)


def _fused_forward(self: LoraLinear, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """Replacement ``forward``: PEFT's own forward when adapters are off or the layer left the fused state."""
    peft_forward = LoraLinear.forward.__get__(self)
    if args or kwargs or self.disable_adapters:
        return peft_forward(x, *args, **kwargs)  # base-only, or arguments (adapter_names, …) PEFT must handle
    why = _why_not_fusable(self)
    if why is not None:
        _announce_once(why, f"fused LoRA: a patched layer now runs PEFT's unfused forward: {why}")
        return peft_forward(x)
    name = self.active_adapters[0]
    base = self.get_base_layer()
    weight = base.weight.t() if self.fan_in_fan_out else base.weight
    lora_b = self.lora_B[name]
    scaling = float(self.scaling[name])
    bias = base.bias
    if lora_b.bias is not None:  # lora_bias=True: the adapter's own bias, scaled like the rest of the adapter
        bias = lora_b.bias * scaling if bias is None else bias + lora_b.bias * scaling
    dropout = self.lora_dropout[name]
    p = float(dropout.p) if isinstance(dropout, nn.Dropout) and dropout.training else 0.0
    device_type = x.device.type
    if torch.is_autocast_enabled(device_type):  # what F.linear would do under autocast: compute in its dtype
        dtype = torch.get_autocast_dtype(device_type)
        weight, bias = weight.to(dtype), (bias.to(dtype) if bias is not None else None)
    x = x.to(weight.dtype)
    return fused_lora_linear(x, weight, bias, self.lora_A[name].weight, lora_b.weight, scaling, p)


def apply_fused_lora(model: nn.Module) -> FusedLoraReport:
    """Patch every fusable LoRA ``Linear`` of a PEFT model in place; report what was and was not patched."""
    report = FusedLoraReport()
    for name, module in model.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        why = _why_not_fusable(module)
        if why is not None:
            report.skipped[name] = why
            continue
        module.forward = types.MethodType(_fused_forward, module)
        report.patched.append(name)
    if not report.patched and not report.skipped:
        raise ValueError(f"{type(model).__name__} has no PEFT LoRA layers; wrap it with "
                         "peft.get_peft_model(model, LoraConfig(...)) before apply_fused_lora")
    if report.skipped:
        loud_warning(report.summary())
    return report
