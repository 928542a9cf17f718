"""python -m ava.train (lora.fused=true): fused LoRA linear layers for PEFT models + torch reference."""

from ava.lora.fused import FusedLoraReport, apply_fused_lora, fused_lora_linear
from ava.lora.reference import draw_seed, dropout_keep_mask, lora_linear_reference, philox_uniform

__all__ = [
    "FusedLoraReport",
    "apply_fused_lora",
    "draw_seed",
    "dropout_keep_mask",
    "fused_lora_linear",
    "lora_linear_reference",
    "philox_uniform",
]
