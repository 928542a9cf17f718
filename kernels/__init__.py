"""Fused Triton kernels for the LoRA hot path, imported as ``ava_kernels`` (never as ``kernels``, the PyPI package transformers probes)."""
