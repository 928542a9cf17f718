"""Fused LoRA linear (kernels/lora_linear.py) vs the PyTorch reference and PEFT's own lora.Linear.

Without CUDA the kernels run in Triton's interpreter (tests/kernels/conftest.py sets TRITON_INTERPRET=1).
"""

import copy

import pytest
import torch
import triton
import triton.language as tl
from ava_kernels.lora_linear import _keep, lora_linear
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.pytorch_utils import Conv1D

from ava.lora import apply_fused_lora, draw_seed, dropout_keep_mask, lora_linear_reference, philox_uniform

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


def _operands(dtype, r, tokens=(5, 123), k=123, n=431, bias=True):
    g = torch.Generator().manual_seed(r)
    x = torch.randn(*tokens, k, generator=g).to(DEVICE, dtype)
    w = (torch.randn(n, k, generator=g) / k**0.5).to(DEVICE, dtype)
    b = torch.randn(n, generator=g).to(DEVICE, dtype) if bias else None
    a = (torch.randn(r, k, generator=g) / k**0.5).to(DEVICE, dtype)
    bb = (torch.randn(n, r, generator=g) / r**0.5).to(DEVICE, dtype)
    dy = torch.randn(*tokens, n, generator=g).to(DEVICE, dtype)
    return x, w, b, a, bb, dy


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


class _Proj(nn.Module):
    def __init__(self, k: int, n: int, dtype: torch.dtype):
        super().__init__()
        self.proj = nn.Linear(k, n, bias=True, dtype=dtype)

    def forward(self, x):
        return self.proj(x)


def _peft_pair(dtype, r, p, lora_bias):
    torch.manual_seed(r)
    cfg = LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=p, target_modules=["proj"], init_lora_weights=False,
                     lora_bias=lora_bias)
    peft_model = get_peft_model(_Proj(123, 431, dtype), cfg).to(DEVICE)
    peft_model.base_model.model.proj.base_layer.bias.requires_grad_(True)  # cover a trainable base bias too
    fused = copy.deepcopy(peft_model)
    if p:
        peft_model.base_model.model.proj.lora_dropout["default"] = PhiloxDropout(p)
    report = apply_fused_lora(fused)
    assert report.num_patched == 1 and report.num_skipped == 0
    return peft_model.train(), fused.train()


def _run(model, x, dy):
    torch.manual_seed(99)  # same dropout seed drawn by both
    xl = x.clone().requires_grad_()
    y = model(xl)
    y.backward(dy)
    params = {n: t.grad for n, t in model.named_parameters() if t.requires_grad}
    return y.detach(), xl.grad, params


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("r,p,lora_bias", [(1, 0.0, False), (8, 0.1, True), (16, 0.3, False)])
def test_matches_peft_lora_linear(dtype, r, p, lora_bias):
    peft_model, fused = _peft_pair(dtype, r, p, lora_bias)
    x, *_, dy = _operands(dtype, r)
    y_ref, dx_ref, g_ref = _run(peft_model, x, dy)
    y, dx, g = _run(fused, x, dy)
    assert set(g) == set(g_ref) and len(g) == 3 + lora_bias  # A, B, base bias (+ lora_B bias)
    assert rel_err(y, y_ref) < TOL[dtype]
    assert rel_err(dx, dx_ref) < TOL[dtype]
    for name in g:
        assert g[name].dtype == g_ref[name].dtype, name
        assert rel_err(g[name], g_ref[name]) < TOL[dtype], (name, rel_err(g[name], g_ref[name]))


class _GPT2Style(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = Conv1D(431, 123)  # weight stored [in, out]: PEFT's fan_in_fan_out

    def forward(self, x):
        return self.c_attn(x)


def test_conv1d_base_layer_matches_peft():
    torch.manual_seed(4)
    cfg = LoraConfig(r=8, target_modules=["c_attn"], fan_in_fan_out=True, init_lora_weights=False)
    peft_model = get_peft_model(_GPT2Style(), cfg).to(DEVICE)
    fused = copy.deepcopy(peft_model)
    assert apply_fused_lora(fused).num_patched == 1
    x, *_, dy = _operands(torch.float32, 8)
    for got, want in zip(_run(fused, x, dy)[:2], _run(peft_model, x, dy)[:2], strict=True):
        assert rel_err(got, want) < TOL[torch.float32]


def test_autocast_computes_in_the_autocast_dtype_like_peft():
    peft_model, fused = _peft_pair(torch.float32, 8, 0.0, False)
    x, *_, dy = _operands(torch.float32, 8)
    device_type = torch.device(DEVICE).type
    with torch.autocast(device_type, dtype=torch.bfloat16):
        y_ref, dx_ref, g_ref = _run(peft_model, x, dy)
        y, dx, g = _run(fused, x, dy)
    assert y.dtype == y_ref.dtype == torch.bfloat16
    assert rel_err(y, y_ref) < TOL[torch.bfloat16] and rel_err(dx, dx_ref) < TOL[torch.bfloat16]
    for name in g:
        assert rel_err(g[name], g_ref[name]) < TOL[torch.bfloat16], name


def _tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=101, hidden_size=48, intermediate_size=80, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      attention_bias=True)
    return LlamaForCausalLM(cfg).to(DEVICE)


def test_tiny_llama_loss_and_grads_match_peft():
    cfg = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.1, target_modules="all-linear",
                     init_lora_weights=False)
    peft_model = get_peft_model(_tiny_llama(), cfg).train()
    fused = copy.deepcopy(peft_model)
    for module in peft_model.modules():
        if hasattr(module, "lora_dropout"):
            module.lora_dropout["default"] = PhiloxDropout(0.1)
    report = apply_fused_lora(fused)
    assert report.num_patched == 2 * 7 and report.skipped == {}  # q k v o gate up down per block
    ids = torch.randint(0, 101, (2, 19), generator=torch.Generator().manual_seed(1)).to(DEVICE)
    losses, grads = [], []
    for model in (peft_model, fused):
        torch.manual_seed(5)
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        losses.append(out.loss.item())
        grads.append({n: t.grad for n, t in model.named_parameters() if t.requires_grad})
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    assert set(grads[0]) == set(grads[1]) and len(grads[0]) == 2 * 2 * 7
    for name, want in grads[0].items():
        assert rel_err(grads[1][name], want) < 1e-4, name


def test_activation_checkpointing_regenerates_the_same_masks():
    cfg = LoraConfig(r=4, lora_dropout=0.2, target_modules="all-linear", init_lora_weights=False)
    plain = get_peft_model(_tiny_llama(), cfg).train()
    ckpt = copy.deepcopy(plain)
    apply_fused_lora(plain)
    apply_fused_lora(ckpt)
    ckpt.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    ids = torch.randint(0, 101, (2, 9), generator=torch.Generator().manual_seed(2)).to(DEVICE)
    grads = []
    for model in (plain, ckpt):
        torch.manual_seed(3)
        model(input_ids=ids, labels=ids).loss.backward()
        grads.append({n: t.grad for n, t in model.named_parameters() if t.requires_grad})
    for name, want in grads[0].items():
        assert torch.equal(grads[1][name], want), name


def test_report_names_every_layer_not_patched():
    model = _tiny_llama()
    cfg = LoraConfig(r=4, target_modules=["q_proj", "v_proj", "embed_tokens"], use_dora=False)
    peft_model = get_peft_model(model, cfg)
    peft_model.add_adapter("dora", LoraConfig(r=4, target_modules=["o_proj"], use_dora=True))
    layers = peft_model.base_model.model.model.layers
    layers[0].self_attn.q_proj.merge()
    layers[1].self_attn.v_proj.set_adapter(["default", "dora"])
    layers[0].self_attn.o_proj.set_adapter("dora")
    report = apply_fused_lora(peft_model)
    why = {name.split("model.", 2)[-1]: reason for name, reason in report.skipped.items()}
    assert "merged" in why["model.layers.0.self_attn.q_proj"]
    assert "2 active adapters" in why["model.layers.1.self_attn.v_proj"]
    assert "DoRA" in why["model.layers.0.self_attn.o_proj"]
    assert "Embedding" in why["model.embed_tokens"]
    assert "has no LoRA weights" in why["model.layers.1.self_attn.o_proj"]  # 'default' is active there
    assert report.num_patched == 2 and "2 layer(s) patched" in report.summary()


def test_rank_above_the_kernels_maximum_is_skipped_and_refused():
    from ava_kernels import MAX_RANK

    peft_model = get_peft_model(_Proj(8, 8, torch.float32), LoraConfig(r=MAX_RANK + 1, target_modules=["proj"]))
    report = apply_fused_lora(peft_model)
    assert report.num_patched == 0
    assert f"exceeds the fused kernel's maximum {MAX_RANK}" in next(iter(report.skipped.values()))
    x, w, b, *_ = _operands(torch.float32, 4, tokens=(3,))
    a, bb = torch.zeros(MAX_RANK + 1, w.shape[1]), torch.zeros(w.shape[0], MAX_RANK + 1)
    with pytest.raises(ValueError, match=f"outside 1..{MAX_RANK}"):
        lora_linear(x, w, b, a, bb, 1.0)


def test_model_without_lora_layers_is_refused():
    with pytest.raises(ValueError, match="get_peft_model"):
        apply_fused_lora(nn.Sequential(nn.Linear(4, 4)))


def test_save_and_load_keep_working(tmp_path):
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    fused = get_peft_model(_tiny_llama(), cfg).eval()
    apply_fused_lora(fused)
    ids = torch.arange(12, device=DEVICE).view(1, 12)
    with torch.no_grad():
        want = fused(input_ids=ids).logits
    fused.save_pretrained(tmp_path)
    loaded = PeftModel.from_pretrained(_tiny_llama(), tmp_path).eval()  # plain PEFT, unpatched
    with torch.no_grad():
        got = loaded(input_ids=ids).logits
    assert rel_err(got, want) < 1e-5
    with fused.disable_adapter(), torch.no_grad():  # adapters off: the patched layers are the base layers
        base = fused(input_ids=ids).logits
    assert rel_err(base, want) > 1e-3


def test_cpu_without_interpreter_uses_the_reference_with_the_same_mask(monkeypatch):
    if DEVICE != "cpu":
        pytest.skip("the reference backend is the CPU path without TRITON_INTERPRET")
    peft_model, fused = _peft_pair(torch.float32, 8, 0.2, False)
    x, *_, dy = _operands(torch.float32, 8)
    y_kernel, dx_kernel, _ = _run(fused, x, dy)
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    y_ref, dx_ref, _ = _run(fused, x, dy)
    assert rel_err(y_ref, y_kernel) < 1e-5 and rel_err(dx_ref, dx_kernel) < 1e-5


def test_layer_merged_after_patching_runs_peft_forward():
    peft_model, fused = _peft_pair(torch.float32, 4, 0.0, False)
    fused.base_model.model.proj.merge()
    x = torch.randn(3, 123, device=DEVICE)
    with torch.no_grad():
        assert rel_err(fused(x), peft_model(x)) < 1e-5


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
