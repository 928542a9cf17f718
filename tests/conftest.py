"""Shared pytest setup: tests marked ``gpu`` are skipped where no CUDA device is present.

Without CUDA the whole suite runs Triton kernels in Triton's interpreter: TRITON_INTERPRET must be set before
``ava_kernels`` is imported (triton.jit picks interpreter or compiler at decoration time), so it is set here,
the first module pytest loads. Tests of other stages that reach the fused LoRA path (ava.train's
fused-vs-unfused test) then run the real kernels too.
"""

import os

import pytest
import torch

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
