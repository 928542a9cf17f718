"""python -m ava.evaluate: write results.json, report.md (one table across benchmarks, then per-group
tables), a per-group bar plot per benchmark (matplotlib, Agg backend: no display needed) and
``OUT/<benchmark>/per_question.csv`` (one row per question and group: ``suites.base.question_row``)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from ava import plots
from ava.evaluate.suites.base import PER_QUESTION_COLUMNS
from ava.runtime import atomic_write_bytes, write_json

MAX_BARS = 40  # plots show the groups with the most questions; CultureBank has hundreds of groups


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def markdown(doc: dict[str, Any]) -> str:
    lines = [
        "# AVA evaluation",
        "",
        f"- model: `{doc['model']}`" + (f" + adapter `{doc['adapter']}`" if doc.get("adapter") else ""),
        f"- mode: {doc['mode']}",
        "",
        "| benchmark | headline metric | value | questions used | questions total | skipped |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in doc["benchmarks"].items():
        c = r["counts"]
        lines.append(
            f"| {name} | {r['headline']['metric']} | {_fmt(r['headline']['value'])} | "
            f"{c['questions_used']} | {c['questions_total']} | {sum(c['skipped'].values())} |"
        )
    for name, r in doc["benchmarks"].items():
        lines += ["", f"## {name}", "", "| group | value | questions |", "|---|---|---|"]
        lines += [
            f"| {g} | {_fmt(v)} | {r['group_questions'].get(g, '')} |" for g, v in r["per_group"].items()
        ]
        if r["counts"]["skipped"]:
            lines += ["", "Skipped:", ""] + [f"- {k}: {v}" for k, v in r["counts"]["skipped"].items()]
        scalars = {
            k: v for k, v in r["metrics"].items() if isinstance(v, (int, float, str)) and v is not None
        }
        if scalars:
            lines += ["", "Other metrics:", ""] + [f"- {k}: {_fmt(v)}" for k, v in scalars.items()]
    return "\n".join(lines) + "\n"


def plot_groups(name: str, result: dict[str, Any], path: Path) -> Path | None:
    groups = result["per_group"]
    if not groups:
        return None
    counts = result["group_questions"]
    shown = sorted(groups, key=lambda g: -counts.get(g, 0))[:MAX_BARS]
    shown.sort()
    fig, ax = plots.subplots(figsize=(max(4.0, 0.35 * len(shown) + 1.5), 4.0))
    ax.bar(range(len(shown)), [groups[g] for g in shown], color="#4472c4")
    ax.set_xticks(range(len(shown)), shown, rotation=75, ha="right", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel(result["headline"]["metric"].split(" (")[0], fontsize=8)
    more = f" ({len(shown)} of {len(groups)} groups)" if len(shown) < len(groups) else ""
    ax.set_title(f"{name}{more}", fontsize=9)
    return plots.save(fig, path)


def per_question_csv(rows: list[dict[str, Any]]) -> bytes:
    """The per-question table: list cells as JSON, an empty cell where a value does not apply."""
    df = pd.DataFrame(rows, columns=PER_QUESTION_COLUMNS)
    for col in ("options", "ordinals"):
        df[col] = [None if v is None else json.dumps(v, ensure_ascii=False) for v in df[col]]
    df["year"] = df["year"].astype("Int64")
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    return buf.getvalue().encode()


def write_report(
    out_dir: Path, doc: dict[str, Any], per_question: dict[str, list[dict[str, Any]]] | None = None
) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"results": out_dir / "results.json", "report": out_dir / "report.md"}
    for name, rows in (per_question or {}).items():
        paths[f"table:{name}"] = out_dir / name / "per_question.csv"
        atomic_write_bytes(paths[f"table:{name}"], per_question_csv(rows))
    for name, r in doc["benchmarks"].items():
        p = plot_groups(name, r, out_dir / "plots" / f"{name}_groups.png")
        if p is not None:
            paths[f"plot:{name}"] = p
    doc["plots"] = {k.split(":", 1)[1]: str(v.relative_to(out_dir)) for k, v in paths.items() if k.startswith("plot:")}
    doc["per_question"] = {
        k.split(":", 1)[1]: str(v.relative_to(out_dir)) for k, v in paths.items() if k.startswith("table:")
    }
    write_json(paths["results"], doc)
    atomic_write_bytes(paths["report"], markdown(doc).encode())
    return paths
