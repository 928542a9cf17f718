"""ava.evaluate test fixtures: small benchmark files in official layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.evaluate import fixtures


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """One folder holding every benchmark in its official layout (the ``benchmark=all`` shape)."""
    return fixtures.write_all(tmp_path_factory.mktemp("bench"))
