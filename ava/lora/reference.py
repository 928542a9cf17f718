"""python -m ava.train (lora.fused=true), tests, benchmarks: the plain PyTorch LoRA linear the kernels match.

``lora_linear_reference`` is the unfused formula in autograd; ``dropout_keep_mask`` materialises, in torch,
the exact dropout mask the Triton kernels draw (Philox-4x32-10 as in ``triton.language.random``, keyed by the
seed, counter = the int64 element index m·K + k), so a reference given that mask sees the kernel's dropout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_M32 = 0xFFFFFFFF
# Philox-4x32 constants, the values triton.language.random uses for 32-bit counters.
_ROUND_A, _ROUND_B = 0xD2511F53, 0xCD9E8D57
_KEY_A, _KEY_B = 0x9E3779B9, 0xBB67AE85
_TO_UNIFORM = 4.6566127342e-10  # triton's uint_to_uniform_float scale for 32-bit draws
SEED_BOUND = 2**31 - 1  # seeds are drawn in [0, 2**31 - 1): an int32 kernel argument


def draw_seed() -> int:
    """A dropout seed from torch's (CPU) default generator: ``torch.manual_seed`` makes runs repeatable."""
    return int(torch.randint(0, SEED_BOUND, (1,)).item())


def _mul32(a: int, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(high, low) 32-bit halves of a·b for a < 2**32 and int64 b < 2**32, without int64 overflow."""
    b_hi, b_lo = b >> 16, b & 0xFFFF
    t_lo = a * b_lo  # < 2**48
    t_hi = a * b_hi  # < 2**48
    high = (t_hi + (t_lo >> 16)) >> 16
    low = (((t_hi & 0xFFFF) << 16) + t_lo) & _M32
    return high, low


def philox_uniform(seed: int, offsets: torch.Tensor) -> torch.Tensor:
    """``tl.rand(seed, offsets)`` for int64 ``offsets``, in torch (float32 in [0, 1))."""
    offsets = offsets.to(torch.int64)
    c0, c1 = offsets & _M32, (offsets >> 32) & _M32
    c2 = torch.zeros_like(c0)
    c3 = torch.zeros_like(c0)
    k0, k1 = seed & _M32, (seed >> 32) & _M32
    for _ in range(10):
        hi_b, lo_b = _mul32(_ROUND_B, c2)
        hi_a, lo_a = _mul32(_ROUND_A, c0)
        c0, c1, c2, c3 = hi_b ^ c1 ^ k0, lo_b, hi_a ^ c3 ^ k1, lo_a
        k0, k1 = (k0 + _KEY_A) & _M32, (k1 + _KEY_B) & _M32
    signed = torch.where(c0 >= 2**31, c0 - 2**32, c0).to(torch.int32)  # bitcast to int32
    signed = torch.where(signed < 0, ~signed, signed)
    return signed.to(torch.float32) * torch.tensor(_TO_UNIFORM, dtype=torch.float32)


def dropout_keep_mask(seed: int, rows: int, cols: int, p: float,
                      device: torch.device | str = "cpu") -> torch.Tensor:
    """Bool [rows, cols]: True where the fused kernel keeps x[m, k] (uniform(seed, m·cols + k) ≥ p)."""
    offsets = torch.arange(rows * cols, dtype=torch.int64, device=device).view(rows, cols)
    return philox_uniform(seed, offsets) >= torch.tensor(p, dtype=torch.float32)


def lora_linear_reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                          lora_a: torch.Tensor, lora_b: torch.Tensor, scaling: float,
                          keep: torch.Tensor | None = None, dropout_p: float = 0.0) -> torch.Tensor:
    """``x Wᵀ + bias + s · ((x ⊙ keep)/(1-p) Aᵀ) Bᵀ`` in autograd, the way PEFT's lora.Linear computes it.

    ``keep`` is a bool mask over x viewed as [tokens, in_features] (None: no dropout). The low-rank branch
    runs in the adapter weights' dtype and the sum is cast back to x's dtype, as in PEFT.
    """
    base = F.linear(x, weight, bias)
    xd = x
    if keep is not None:
        xd = x * keep.view(x.shape).to(x.dtype) / (1.0 - dropout_p)
    xd = xd.to(lora_a.dtype)
    low = F.linear(F.linear(xd, lora_a), lora_b) * scaling
    return (base + low).to(x.dtype)
