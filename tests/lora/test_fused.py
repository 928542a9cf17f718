"""ava.lora: PEFT models with the fused LoRA layers patched in (apply_fused_lora) against unpatched PEFT: outputs,
gradients, dropout masks, autocast, checkpointing, saving and loading, and what is refused or left alone.

Without CUDA the kernels run in Triton's interpreter (tests/conftest.py sets TRITON_INTERPRET=1).
"""

import copy

import pytest
import torch
from ava_kernels.lora_linear import lora_linear
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.pytorch_utils import Conv1D

from ava.lora import apply_fused_lora
from tests.kernels.helpers import DEVICE, DTYPES, TOL, PhiloxDropout, _operands, rel_err


class _GPT2Style(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = Conv1D(431, 123)  # weight stored [in, out]: PEFT's fan_in_fan_out

    def forward(self, x):
        return self.c_attn(x)


def _tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=101, hidden_size=48, intermediate_size=80, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      attention_bias=True)
    return LlamaForCausalLM(cfg).to(DEVICE)


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

