"""Kernel tests run the Triton kernels in Triton's interpreter where no CUDA device is present.

TRITON_INTERPRET must be set before ``ava_kernels`` is imported (triton.jit picks interpreter or compiler at
decoration time); this conftest loads before any test module of this folder.
"""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors, interpreter-bound tests: intra-op threads only contend on the shared 2-core CI machine.

    Measured at load average 7 on 2 cores: the 615x123 Philox mask took 5.6 s with 2 torch threads,
    0.03 s with 1.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
