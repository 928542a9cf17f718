"""Fused Triton kernels for the LoRA hot path.

Imported as ``ava_kernels``, never as ``kernels`` (the PyPI package of that name, which transformers probes).
"""
