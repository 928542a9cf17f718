"""python -m ava.evaluate benchmark=behaviour: results.json, report.md (a row per task: baselines and every scored
system side by side, then each task's metrics) and plots/behaviour_tasks.png (headline metric per task)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ava import plots
from ava.runtime import atomic_write_bytes, write_json
from ava.sample import GENERATIVE_FAMILIES

BASELINES = ("random", "majority")


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def _headline(d: dict[str, Any], source: dict[str, Any] | None) -> Any:
    return None if source is None else source.get(d["headline_metric"])


def markdown(doc: dict[str, Any]) -> str:
    b = doc["benchmarks"]["behaviour"]
    systems = b["systems"]
    lines = [
        "# AVA behaviour-task evaluation",
        "",
        f"- model: `{doc['model']}`" + (f" + adapter `{doc['adapter']}`" if doc.get("adapter") else ""),
        f"- mode: {doc['mode']}; data: `{doc['data']}`; baselines from `{doc.get('baseline_data')}`",
        f"- systems: {', '.join(systems)}",
        f"- headline: {b['headline']['metric']} = {_fmt(b['headline']['value'])}",
        "",
        "Classification metrics are fractions (0-1); ROUGE-Lsum and BLEU are 0-100. Missing and unparseable",
        "answers count as wrong (and as empty text for ROUGE/BLEU).",
        "",
        "| task | samples | metric | " + " | ".join(BASELINES) + " | " + " | ".join(systems)
        + " | missing + unparseable |",
        "|---|---|---|" + "---|" * (len(BASELINES) + len(systems)) + "---|",
    ]
    for task, d in b["tasks"].items():
        base = [_fmt(_headline(d, d["baselines"].get(n))) for n in BASELINES]
        vals = [_fmt(_headline(d, d["systems"][s]["metrics"])) for s in systems]
        bad = ", ".join(f"{s} {d['systems'][s]['unparseable'] + d['systems'][s]['missing']}" for s in systems)
        lines.append(f"| {task} | {d['samples']} | {d['headline_metric']} | " + " | ".join(base + vals)
                     + f" | {bad} |")
    lines += ["", "## Every metric", "", "| task | metric | " + " | ".join((*BASELINES, *systems)) + " |",
              "|---|---|" + "---|" * (len(BASELINES) + len(systems))]
    for task, d in b["tasks"].items():
        names = list(d["systems"][systems[0]]["metrics"])
        for m in names:
            base = [_fmt((d["baselines"].get(n) or {}).get(m)) for n in BASELINES]
            vals = [_fmt(d["systems"][s]["metrics"].get(m)) for s in systems]
            lines.append(f"| {task} | {m} | " + " | ".join(base + vals) + " |")
    majority = {t: d["majority_answer"] for t, d in b["tasks"].items() if d.get("majority_answer")}
    if majority:
        lines += ["", "Majority answers (from the baseline split):", ""]
        lines += [f"- {t}: `{a}`" for t, a in majority.items()]
    lines += ["", "Missing (no prediction) / unparseable answers per system:", ""]
    for task, d in b["tasks"].items():
        lines.append(f"- {task}: " + "; ".join(
            f"{s} {d['systems'][s]['missing']} / {d['systems'][s]['unparseable']}" for s in systems))
    if any("tokens_per_sample" in d["systems"][s] for d in b["tasks"].values() for s in systems):
        lines += ["", "Tokens generated per sample (mean, through the stop token; budgets "
                  f"{doc.get('max_new_tokens')}):", ""]
        for task, d in b["tasks"].items():
            lines.append(f"- {task}: " + "; ".join(
                f"{s} {d['systems'][s].get('tokens_per_sample', 0):.1f}" for s in systems))
    return "\n".join(lines) + "\n"


def plot_tasks(doc: dict[str, Any], path: Path) -> Path | None:
    """Grouped bars: headline metric per task for each baseline and system (classification, then generation)."""
    b = doc["benchmarks"]["behaviour"]
    tasks = b["tasks"]
    if not tasks:
        return None
    panels = [[t for t, d in tasks.items() if d["family"] not in GENERATIVE_FAMILIES],
              [t for t, d in tasks.items() if d["family"] in GENERATIVE_FAMILIES]]
    panels = [p for p in panels if p]
    series = [*BASELINES, *b["systems"]]
    fig, axes = plots.subplots(1, len(panels), figsize=(max(5.0, 0.9 * len(tasks) + 3), 4.0), squeeze=False)
    width = 0.8 / len(series)
    for ax, names in zip(axes[0], panels, strict=True):
        for j, s in enumerate(series):
            vals = []
            for t in names:
                src = tasks[t]["baselines"].get(s) if s in BASELINES else tasks[t]["systems"][s]["metrics"]
                v = _headline(tasks[t], src)
                vals.append(float("nan") if v is None else v)
            ax.bar([i + (j - (len(series) - 1) / 2) * width for i in range(len(names))], vals, width, label=s)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        generative = tasks[names[0]]["family"] in GENERATIVE_FAMILIES
        ax.set_ylim(0, 100 if generative else 1)
        ax.set_ylabel("ROUGE-Lsum (0-100)" if generative else "headline metric (accuracy / overlap)", fontsize=8)
        ax.legend(fontsize=7)
    fig.suptitle(f"behaviour tasks: {doc['model']}", fontsize=9)
    return plots.save(fig, path)


def write_behaviour_report(out_dir: Path, doc: dict[str, Any]) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"results": out_dir / "results.json", "report": out_dir / "report.md"}
    plot = plot_tasks(doc, out_dir / "plots" / "behaviour_tasks.png")
    doc["plots"] = {} if plot is None else {"behaviour": str(plot.relative_to(out_dir))}
    if plot is not None:
        paths["plot"] = plot
    write_json(paths["results"], doc)
    atomic_write_bytes(paths["report"], markdown(doc).encode())
    return paths
