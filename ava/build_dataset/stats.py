"""python -m ava.build_dataset: build_summary.json, a PNG of the sample counts, optional Parquet copies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ava import plots
from ava.jsonl import LineError
from ava.runtime import write_json, write_table
from ava.sample_files import iter_sample_lines


def plot_counts(summary: dict[str, Any], path: Path) -> None:
    tasks = list(summary["samples_per_task"])
    fig, ax = plots.subplots(figsize=(max(6.0, 0.5 * len(tasks)), 4))
    bottom = [0] * len(tasks)
    for split in ("train", "val"):
        vals = [summary["samples_per_task"][t].get(split, 0) for t in tasks]
        ax.bar(tasks, vals, bottom=bottom, label=split)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_ylabel("samples")
    ax.set_title("samples per task and split")
    ax.tick_params(axis="x", rotation=60)
    ax.legend()
    plots.save(fig, path, dpi=100)


def write_parquet(jsonl: Path, path: Path) -> None:
    """A Parquet copy: messages as list<struct<role, content>>, target and meta as JSON text."""
    import pyarrow as pa

    rows = []
    for file, line_no, row in iter_sample_lines(jsonl):  # SPLIT.jsonl or its shards
        if isinstance(row, LineError):  # this run wrote the file a moment ago: a bad line is a bug
            raise RuntimeError(f"{file}:{line_no}: {row.detail}")
        rows.append(row)
    table = pa.table({
        "id": [r["id"] for r in rows],
        "task": [r["task"] for r in rows],
        "messages": pa.array([r["messages"] for r in rows],
                             type=pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        "target": [json.dumps(r["target"]) for r in rows],
        "meta": [json.dumps(r["meta"]) for r in rows],
    })
    write_table(path, table)


def write_outputs(out: Path, summary: dict[str, Any], parquet: bool) -> None:
    if summary["samples_per_task"]:
        plot_counts(summary, out / "build_summary.png")
    if parquet:
        for split in ("train", "val"):
            write_parquet(out / f"{split}.jsonl", out / f"{split}.parquet")
    write_json(out / "build_summary.json", summary)
