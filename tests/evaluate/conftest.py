"""ava.evaluate test fixtures: a private model cache and small benchmark files in official layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.evaluate import fixtures


@pytest.fixture(scope="session", autouse=True)
def _model_cache(tmp_path_factory):
    """Tiny models are built into this session's temporary folder, never into ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AVA_CACHE", str(tmp_path_factory.mktemp("ava_cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """One folder holding every benchmark in its official layout (the ``benchmark=all`` shape)."""
    return fixtures.write_all(tmp_path_factory.mktemp("bench"))
