"""Shared by the commands that draw PNGs (python -m ava.build_dataset, ava.train, ava.evaluate): one matplotlib
set-up, on the Agg backend (files only: no display needed, as on a cluster node)."""

from __future__ import annotations

from io import BytesIO
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
    """Lay out ``fig``, write it to ``path`` (its folder made if missing) and free it.

    Written like every other output (:func:`ava.runtime.atomic_write_bytes`: temp file made exclusively, then
    renamed), so a reader never sees half a PNG, a failed write leaves the old one, and a symlink planted at
    ``path`` is replaced, never written through.
    """
    import matplotlib.pyplot as plt

    fig.tight_layout()
    png = BytesIO()
    try:
        fig.savefig(png, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    atomic_write_bytes(path, png.getvalue())
    return Path(path)
