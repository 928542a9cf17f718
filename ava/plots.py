"""Shared by the commands that draw PNGs (python -m ava.build_dataset, ava.train, ava.evaluate): one matplotlib
set-up, on the Agg backend (files only: no display needed, as on a cluster node)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ava.runtime import atomic_write_bytes


def subplots(*args: Any, **kwargs: Any):
    """``matplotlib.pyplot.subplots`` on the Agg backend: (figure, axes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save(fig, path: Path, dpi: int = 110) -> Path:
    """Lay out ``fig``, write it to ``path`` (its folder made if missing) and free it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()  # rendered in memory, then temp + rename: a full disk leaves no truncated image
    fig.savefig(buf, dpi=dpi, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
