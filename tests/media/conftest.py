"""Fixtures for the ava.media tests: the verbalize config's media section and an ffmpeg helper."""

import subprocess

import pytest
from hydra import compose, initialize_config_module


@pytest.fixture(scope="module")
def media_cfg():
    with initialize_config_module("ava_conf", version_base="1.3"):
        return compose("verbalize").media


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True, capture_output=True)
