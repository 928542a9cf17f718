"""Kernel tests: one torch thread (TRITON_INTERPRET is set for the whole suite in tests/conftest.py)."""

import pytest
import torch


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
