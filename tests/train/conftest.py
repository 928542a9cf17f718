"""Fixtures for the ava.train / ava.models tests: a small generated dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.train.samples import write_dataset


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("dataset"))
