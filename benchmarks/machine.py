"""python benchmarks/bench_verbalize.py: the machine a CSV row was measured on, and appending rows to a CSV."""

from __future__ import annotations

import platform


def describe() -> dict[str, str]:
    from ava.runtime import cpu_model

    gpu = "none"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return {"host": platform.node(), "cpu": cpu_model(), "gpu": gpu}


def append_csv(path, rows: list[dict]) -> None:
    """Append ``rows`` (same keys) to a CSV, writing the header when the file is new."""
    import csv
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)
