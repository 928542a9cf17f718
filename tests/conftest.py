"""Shared pytest setup: tests marked ``gpu`` are skipped where no CUDA device is present.

Without CUDA the whole suite runs Triton kernels in Triton's interpreter: TRITON_INTERPRET must be set before
``ava_kernels`` is imported (triton.jit picks interpreter or compiler at decoration time), so it is set here,
the first module pytest loads. Tests of other stages that reach the fused LoRA path (ava.train's
fused-vs-unfused test) then run the real kernels too.
"""

import os
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# Real data to test against (Ad Library records, benchmark files): ``../shared/data`` beside the clone, as laid
# for developers and CI. Never copied into the project; tests that need it skip when it is absent.
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


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
