"""Fused LoRA linear (kernels/lora_linear.py) vs the PyTorch reference: outputs, gradients, dropout masks, shapes.

Without CUDA the kernels run in Triton's interpreter (tests/conftest.py sets TRITON_INTERPRET=1); ava.lora's
layers inside PEFT models are tested in tests/lora/test_fused.py.
"""


import pytest
import torch
import triton
import triton.language as tl
from ava_kernels.lora_linear import _keep, lora_linear

from ava.lora import dropout_keep_mask, lora_linear_reference, philox_uniform
from tests.kernels.helpers import DEVICE, DTYPES, TOL, _operands, rel_err


@triton.jit
def _mask_kernel(OUT, n, base, seed, p, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(OUT + offs, _keep(seed, base + offs.to(tl.int64), p).to(tl.int8), mask=offs < n)


@pytest.mark.parametrize("seed", [0, 7, 2**31 - 2])
@pytest.mark.parametrize("base", [0, 3 * 2**32 + 5])  # high counter word in use past 2**32 elements
def test_torch_mask_is_the_kernels_mask(seed, base):
    n = 1000
    got = torch.empty(n, dtype=torch.int8, device=DEVICE)
    _mask_kernel[(triton.cdiv(n, 512),)](got, n, base, seed, 0.3, BLOCK=512)
    want = philox_uniform(seed, base + torch.arange(n, dtype=torch.int64, device=DEVICE)) >= 0.3
    assert torch.equal(got.bool(), want)
    assert 0.65 < want.float().mean().item() < 0.75  # keeps ~1 - p


def _fwd_bwd(fn, x, w, b, a, bb, dy):
    leaves = [t.detach().clone().requires_grad_() if t is not None else None for t in (x, b, a, bb)]
    xl, bl, al, bbl = leaves
    y = fn(xl, w, bl, al, bbl)
    y.backward(dy.to(y.dtype))
    return y.detach(), [t.grad for t in leaves if t is not None]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("r,p,bias", [(1, 0.25, True), (8, 0.0, False), (16, 0.0, True), (16, 0.25, True)])
def test_matches_reference(dtype, r, p, bias):
    x, w, b, a, bb, dy = _operands(dtype, r, bias=bias)
    seed, s = 1234, 2.0
    keep = dropout_keep_mask(seed, x.numel() // x.shape[-1], x.shape[-1], p, DEVICE) if p else None
    y, grads = _fwd_bwd(lambda *t: lora_linear(*t, s, p, seed), x, w, b, a, bb, dy)
    # truth: the reference in fp64 with the kernel's mask
    y64, grads64 = _fwd_bwd(lambda *t: lora_linear_reference(*t, s, keep, p),
                            *(t.double() if t is not None else None for t in (x, w, b, a, bb, dy)))
    assert y.dtype == dtype and y.shape == (5, 123, 431)
    names = ["y", "dx"] + (["dbias"] if b is not None else []) + ["dA", "dB"]
    for name, got, want in zip(names, [y, *grads], [y64, *grads64], strict=True):
        assert got.dtype == dtype, name
        assert rel_err(got, want) < TOL[dtype], (name, rel_err(got, want))


@pytest.mark.parametrize("m,k,n,r", [(0, 33, 17, 4), (1, 1, 1, 1), (40, 200, 70, 64), (300, 17, 19, 3)])
def test_edge_shapes(m, k, n, r):
    x, w, b, a, bb, dy = _operands(torch.float32, r, tokens=(m,), k=k, n=n)
    keep = dropout_keep_mask(3, m, k, 0.3, DEVICE)
    y, grads = _fwd_bwd(lambda *t: lora_linear(*t, 0.5, 0.3, 3), x, w, b, a, bb, dy)
    y64, grads64 = _fwd_bwd(lambda *t: lora_linear_reference(*t, 0.5, keep, 0.3),
                            *(t.double() for t in (x, w, b, a, bb, dy)))
    for got, want in zip([y, *grads], [y64, *grads64], strict=True):
        assert got.shape == want.shape
        if want.numel():
            assert rel_err(got, want) < TOL[torch.float32]
        else:
            assert not got.any()


def test_dropout_changes_with_seed_and_is_off_at_p0():
    x, w, b, a, bb, _ = _operands(torch.float32, 8, tokens=(17,))
    y1, y2 = (lora_linear(x, w, b, a, bb, 1.0, 0.5, seed) for seed in (1, 2))
    assert not torch.allclose(y1, y2)
    assert torch.equal(lora_linear(x, w, b, a, bb, 1.0, 0.0, 1), lora_linear(x, w, b, a, bb, 1.0, 0.0, 2))


def test_rejects_bad_operands():
    x, w, b, a, bb, _ = _operands(torch.float32, 4, tokens=(3,))
    with pytest.raises(ValueError, match="shape mismatch"):
        lora_linear(x, w, b, a.t().contiguous(), bb, 1.0)
    with pytest.raises(TypeError, match="base weight"):
        lora_linear(x, w.half(), b, a, bb, 1.0)
    with pytest.raises(ValueError, match="dropout probability"):
        lora_linear(x, w, b, a, bb, 1.0, 1.0)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_gpu_large_shapes_match_reference(dtype):
    x, w, b, a, bb, dy = _operands(dtype, 16, tokens=(3, 1000), k=1000, n=2049)
    keep = dropout_keep_mask(5, 3000, 1000, 0.1, DEVICE)
    y, grads = _fwd_bwd(lambda *t: lora_linear(*t, 2.0, 0.1, 5), x, w, b, a, bb, dy)
    y64, grads64 = _fwd_bwd(lambda *t: lora_linear_reference(*t, 2.0, keep, 0.1),
                            *(t.double() for t in (x, w, b, a, bb, dy)))
    for got, want in zip([y, *grads], [y64, *grads64], strict=True):
        assert rel_err(got, want) < TOL[dtype]

