"""Fused Triton kernels for the LoRA hot path.

Imported as ``ava_kernels``, never as ``kernels`` (the PyPI package of that name, which transformers probes).
"""

# Largest LoRA rank the fused kernels take: [BLOCK_M, r] tiles are held whole; beyond 256 register spills are
# expected (not measured). Here, not in lora_linear.py, so callers can read it without importing triton (that
# import fixes interpret-or-compile for every kernel).
MAX_RANK = 256
