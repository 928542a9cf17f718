"""Fixtures for the verbalizer tests: a tiny random open_clip model and config composition."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 1, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="session")
def tiny_clip_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "ava-tiny-clip.json"
    path.write_text(json.dumps(TINY_CLIP))
    return path


def compose_verbalize(overrides: list[str]):
    with initialize_config_module("ava_conf", version_base="1.3"):
        return compose("verbalize", overrides=overrides)


@pytest.fixture(scope="session")
def tiny_clip_weights(tiny_clip_config) -> Path:
    """Weights of a randomly initialised tiny CLIP, saved once so every process loads the same model."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    open_clip.add_model_config(tiny_clip_config)
    torch.manual_seed(0)
    model = open_clip.create_model("ava-tiny-clip", pretrained=None)
    path = tiny_clip_config.parent / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
    return path


@pytest.fixture
def tiny_overrides(tiny_clip_config, tiny_clip_weights) -> list[str]:
    """Overrides that swap the hub CLIP for the tiny one, loaded from a local file (no download)."""
    return ["encoders.vision.model=ava-tiny-clip", f"encoders.vision.pretrained={tiny_clip_weights}",
            f"encoders.vision.config_path={tiny_clip_config}", "progress=false"]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True, capture_output=True)


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "ava" / "samples"


@pytest.fixture
def sample_copy(tmp_path, samples_dir) -> Path:
    """A writable copy of the bundled samples; returns the manifest path."""
    shutil.copytree(samples_dir, tmp_path / "samples")
    return tmp_path / "samples" / "ads.jsonl"
