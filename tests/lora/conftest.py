"""ava.lora tests: one torch thread, as for the kernels they run (tests/kernels/helpers.py)."""

from tests.kernels.helpers import one_torch_thread  # noqa: F401  (an autouse fixture)
