"""Shared by tests/kernels and tests/lora: the fused LoRA tolerances, operands, error measure and a PEFT-side
dropout that draws the kernels' mask."""

import pytest
import torch
from torch import nn

from ava.lora import draw_seed, dropout_keep_mask

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# max |got - want| / max |want| per dtype: fp32 is exact up to summation order; 16-bit inputs are rounded once
# more in the fused path (h, g stored in the input dtype); measured here: fp32 4e-7, fp16 5e-4, bf16 1e-2.
TOL = {torch.float32: 2e-5, torch.float16: 3e-3, torch.bfloat16: 3e-2}
DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    return ((got.double() - want.double()).abs().max() / want.double().abs().max().clamp_min(1e-12)).item()


class PhiloxDropout(nn.Module):
    """PEFT-side dropout drawing the same seed, in the same order, and the same mask as the fused layers."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        keep = dropout_keep_mask(draw_seed(), x.numel() // x.shape[-1], x.shape[-1], self.p, x.device)
        return x * keep.view(x.shape).to(x.dtype) / (1 - self.p)


def _operands(dtype, r, tokens=(5, 123), k=123, n=431, bias=True):
    g = torch.Generator().manual_seed(r)
    x = torch.randn(*tokens, k, generator=g).to(DEVICE, dtype)
    w = (torch.randn(n, k, generator=g) / k**0.5).to(DEVICE, dtype)
    b = torch.randn(n, generator=g).to(DEVICE, dtype) if bias else None
    a = (torch.randn(r, k, generator=g) / k**0.5).to(DEVICE, dtype)
    bb = (torch.randn(n, r, generator=g) / r**0.5).to(DEVICE, dtype)
    dy = torch.randn(*tokens, n, generator=g).to(DEVICE, dtype)
    return x, w, b, a, bb, dy



@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny tensors, interpreter-bound tests: intra-op threads only contend on the shared 2-core CI machine.

    Measured at load average 7 on 2 cores: the 615x123 Philox mask took 5.6 s with 2 torch threads,
    0.03 s with 1.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
