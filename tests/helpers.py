"""Helpers shared by the test folders (not fixtures: those are in conftest.py files)."""

from __future__ import annotations

import subprocess

from hydra import compose, initialize_config_module


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly (it makes the tests' media); a failure raises with its stderr."""
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True, capture_output=True)


def compose_verbalize(overrides: list[str]):
    with initialize_config_module("ava_conf", version_base="1.3"):
        return compose("verbalize", overrides=overrides)
