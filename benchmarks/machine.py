"""python benchmarks/bench_<name>.py: the machine a CSV row was measured on, and appending rows to a CSV.

Every benchmark names its machine with ``describe()`` (columns host, cpu, gpu, then the versions of the
libraries it asks for) and writes its rows with ``append_csv``, which refuses rows whose columns are not the
existing file's, so old and new rows of ``benchmarks/results/<name>.csv`` stay under one header.
"""

from __future__ import annotations

import csv
import importlib
import platform
from pathlib import Path

from ava.runtime import cpu_model


def describe(*libraries: str) -> dict[str, str]:
    """``{"host", "cpu", "gpu"}`` ("none" without CUDA), plus ``{name: version}`` of each module in ``libraries``."""
    gpu = "none"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    versions = {name: importlib.import_module(name).__version__ for name in libraries}
    return {"host": platform.node(), "cpu": cpu_model(), "gpu": gpu, **versions}


def append_csv(path: str | Path, rows: list[dict]) -> None:
    """Append ``rows`` to a CSV, writing the header (the first row's keys, in order) when the file is new.

    Every row must have exactly the file's columns (in any order); otherwise ValueError names the difference
    and nothing is written, rather than values landing under another column's name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    if new:
        columns = list(rows[0])
    else:
        with path.open(newline="") as fh:
            columns = next(csv.reader(fh))
    for row in rows:
        if set(row) != set(columns):
            raise ValueError(f"{path}: a row's columns differ from the header {columns}: missing "
                             f"{[c for c in columns if c not in row]}, extra {[c for c in row if c not in columns]}")
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        if new:
            writer.writeheader()
        writer.writerows(rows)
