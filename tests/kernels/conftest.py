"""Kernel tests: one torch thread (TRITON_INTERPRET is set for the whole suite in tests/conftest.py)."""

from tests.kernels.helpers import one_torch_thread  # noqa: F401  (an autouse fixture)
