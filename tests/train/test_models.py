"""ava.models: the tiny Llama builds once, loads offline with Auto* classes, and its chat template masks."""

from __future__ import annotations

import string

from omegaconf import OmegaConf
from transformers import AutoModelForCausalLM, AutoTokenizer

from ava.models.load import load_model_and_tokenizer
from ava.models.tiny import build_tiny


def test_tiny_builds_once_and_loads_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = build_tiny()
    mtime = (path / "model.safetensors").stat().st_mtime_ns
    assert build_tiny() == path and (path / "model.safetensors").stat().st_mtime_ns == mtime
    assert build_tiny(seed=1) != path
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 2
    for letter in string.ascii_uppercase:
        assert len(tok(letter, add_special_tokens=False)["input_ids"]) == 1
        assert len(tok(" " + letter, add_special_tokens=False)["input_ids"]) == 1
    msgs = [{"role": "user", "content": "Pick one. A or B?"}, {"role": "assistant", "content": "B"}]
    out = tok.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    masked = [t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    assert tok.decode(masked) == "B<|eot_id|>"
    assert out["input_ids"][0] == tok.bos_token_id


def test_load_model_and_tokenizer_tiny_and_missing(monkeypatch):
    cfg = OmegaConf.create({"name_or_path": "tiny", "dtype": "float32", "tiny": {"seed": 0}})
    model, tok = load_model_and_tokenizer(cfg, device="cpu")
    assert model.dtype.is_floating_point and tok.pad_token_id is not None
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = OmegaConf.create({"name_or_path": "no-such-org/no-such-model-ava", "dtype": "bfloat16"})
    try:
        load_model_and_tokenizer(missing)
    except OSError as exc:
        assert "no-such-org/no-such-model-ava" in str(exc) and "model.name_or_path=DIR" in str(exc)
    else:
        raise AssertionError("a missing model must raise")
