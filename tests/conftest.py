"""Shared pytest setup: tests marked ``gpu`` are skipped where no CUDA device is present.

Without CUDA the whole suite runs Triton kernels in Triton's interpreter: TRITON_INTERPRET must be set before
``ava_kernels`` is imported (triton.jit picks interpreter or compiler at decoration time), so it is set here,
the first module pytest loads. Tests of other stages that reach the fused LoRA path (ava.train's
fused-vs-unfused test) then run the real kernels too.
"""

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from tests.helpers import SHARED_DATA

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")



def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none present")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _model_cache(tmp_path_factory):
    """Tiny models (ava.models.tiny) are built into this session's temporary folder, never into ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AVA_CACHE", str(tmp_path_factory.mktemp("ava_cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real Ad Library records, real benchmark files); the test is skipped when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not present at {SHARED_DATA}")
    return SHARED_DATA


# The media stages' fixtures (tests/verbalize, tests/encoders, tests/media): a tiny random open_clip model, the
# bundled samples.
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



@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "ava" / "samples"


@pytest.fixture
def sample_copy(tmp_path, samples_dir) -> Path:
    """A writable copy of the bundled samples; returns the manifest path."""
    shutil.copytree(samples_dir, tmp_path / "samples")
    return tmp_path / "samples" / "ads.jsonl"
