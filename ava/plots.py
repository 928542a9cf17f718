"""Shared by the commands that draw PNGs (python -m ava.build_dataset, ava.train, ava.evaluate): one matplotlib
set-up, on the Agg backend (files only: no display needed, as on a cluster node)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


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
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return Path(path)
