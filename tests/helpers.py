"""Helpers shared by the test folders (not fixtures: those are in conftest.py files)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_module

from ava.jsonl import LineError
from ava.sample_files import iter_sample_lines, split_files

# Real data to test against (Ad Library records, benchmark files): ``../shared/data`` beside the clone, as laid
# for developers and CI. Never copied into the project; tests that need it skip when it is absent.
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly (it makes the tests' media); a failure raises with its stderr."""
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True, capture_output=True)


def compose_verbalize(overrides: list[str]):
    with initialize_config_module("ava_conf", version_base="1.3"):
        return compose("verbalize", overrides=overrides)


def read_split(path: str | Path) -> list[dict[str, Any]]:
    """Every object of split ``DIR/SPLIT.jsonl`` as written (the plain file or its zstd shards, through
    ``ava.sample_files``), each line strict JSON (NaN/Infinity refused, as ava.train does); an empty split is [],
    a missing split or a bad line fails the test."""
    assert split_files(path), f"neither {path} nor its shards exist"
    rows = []
    for file, line_no, obj in iter_sample_lines(path):
        assert not isinstance(obj, LineError), f"{file}:{line_no}: {obj.kind}: {obj.detail}"
        rows.append(obj)
    return rows
