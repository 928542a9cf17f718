"""Hydra configs for the ava commands, shipped in the wheel as the package ``ava_conf`` (one root per command)."""
