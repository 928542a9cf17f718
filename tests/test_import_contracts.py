"""The stages meet only through their files: import-linter's contracts in pyproject.toml hold for ava/, and they
break when a stage imports another or the library imports a stage (a copy of the package with one import
planted)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over ``root/ava`` with ``root/pyproject.toml``'s contracts."""
    exe = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(exe), "--no-cache", "--no-logo", str(root / "pyproject.toml")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_import_contracts():
    got = lint_imports(ROOT)
    assert got.returncode == 0, got.stdout + got.stderr
    assert "0 broken" in got.stdout


@pytest.mark.parametrize(("where", "planted", "broken"), [
    ("ava/train/planted.py", "from ava.evaluate import run\n", "no stage package imports another"),
    ("ava/planted.py", "import ava.dedup.run\n", "never imports one"),
])
def test_a_planted_import_breaks_a_contract(tmp_path, where, planted, broken):
    shutil.copytree(ROOT / "ava", tmp_path / "ava", ignore=shutil.ignore_patterns("__pycache__", "samples", "data"))
    (tmp_path / where).write_text(planted)
    config = (ROOT / "pyproject.toml").read_text()
    if where == "ava/planted.py":  # a new library module must be placed in a layer (exhaustive): place it
        config = config.replace(" : runtime", " : runtime : planted")
    (tmp_path / "pyproject.toml").write_text(config)
    got = lint_imports(tmp_path)
    assert got.returncode != 0
    assert f"{broken} BROKEN" in got.stdout, got.stdout
