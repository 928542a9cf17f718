"""python -m ava.train / ava.evaluate / ava.verbalize: whether the Hugging Face hub may be asked for files.

One reading of ``HF_HUB_OFFLINE`` for the model loaders (:mod:`ava.models.load`) and the encoders that fetch
weights (CLIP, captioner: :func:`ava.encoders.base.hub_reachable`). It reads the environment at call time, with
huggingface_hub's own rule for true values: huggingface_hub itself reads the variable once, when it is imported,
so a process (or a test) that sets it later would otherwise still reach for the network.
"""

from __future__ import annotations

import os

TRUE_VALUES = {"1", "ON", "YES", "TRUE"}  # huggingface_hub.constants' rule (_is_true)


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set to 1/on/yes/true (any case): only local files may be used."""
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in TRUE_VALUES
