"""python -m ava.train / ava.evaluate: the folder where models AVA builds or converts (tiny, GGUF) are cached,
and their atomic write."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$AVA_CACHE/models`` (``$XDG_CACHE_HOME/ava/models``, ``~/.cache/ava/models``)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    base = os.environ.get("AVA_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ava"
    )
    return Path(base) / "models"


def save_atomically(out: Path, model, tokenizer, marker: str, key: dict[str, Any]) -> None:
    """Save ``model`` and ``tokenizer`` (``save_pretrained``) plus ``marker`` (``key`` as JSON) as folder ``out``.

    Written into a temporary folder beside ``out`` and renamed into place, so readers see no folder or a whole
    one, an interrupted write leaves nothing, and of parallel writers the first to finish wins cleanly.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / marker).write_text(json.dumps(key, sort_keys=True))
        if out.exists() and not any(out.iterdir()):
            out.rmdir()
        os.rename(tmp, out)
    except OSError:
        if not (out / marker).is_file():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
