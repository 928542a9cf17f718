"""Helpers shared by the test folders (not fixtures: those are in conftest.py files)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hydra import compose, initialize_config_module

# Real data to test against (Ad Library records, benchmark files): ``../shared/data`` beside the clone, as laid
# for developers and CI. Never copied into the project; tests that need it skip when it is absent.
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly (it makes the tests' media); a failure raises with its stderr."""
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True, capture_output=True)


def compose_verbalize(overrides: list[str]):
    with initialize_config_module("ava_conf", version_base="1.3"):
        return compose("verbalize", overrides=overrides)
