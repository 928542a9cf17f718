"""ava.evaluate test fixtures: small benchmark files in official layouts, and the real ones when present."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.evaluate import fixtures


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """One folder holding every benchmark in its official layout (the ``benchmark=all`` shape)."""
    return fixtures.write_all(tmp_path_factory.mktemp("bench"))


@pytest.fixture(scope="session")
def eval_dir(shared_data) -> Path:
    """``../shared/data/eval``: the real benchmark files; the test is skipped when absent."""
    path = shared_data / "eval"
    if not (path / "evaluate_real.SOURCE.md").is_file():
        pytest.skip(f"real benchmark files not present at {path}")
    return path
