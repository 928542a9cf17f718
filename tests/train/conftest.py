"""Fixtures for the ava.train / ava.models tests: a private model cache and a small generated dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.train.samples import write_dataset


@pytest.fixture(scope="session", autouse=True)
def _model_cache(tmp_path_factory):
    """Tiny models are built into this session's temporary folder, never into ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AVA_CACHE", str(tmp_path_factory.mktemp("ava_cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("dataset"))
