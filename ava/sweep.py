"""python -m ava.train -m lora.r=4,8,16 lora.alpha=8,16: multirun plumbing (job folders, failures, summary).

Hydra does the sweeping: ``-m`` expands the overrides into jobs, a launcher runs them (``hydra/launcher=``
``local``, joblib, the default; ``slurm`` through submitit; ``ray_cluster`` through hydra-ray-launcher) and a
sweeper picks them (Hydra's grid, or ``hydra/sweeper=lora_optuna``). This module adds what a sweep needs:

- ``run_job(task, cfg, objective)`` (the lightning-hydra-template task wrapper): in a multirun it points
  ``output_dir`` (when the config has one) at the job's own folder (``hydra.sweep.dir/<job number>``) and
  turns an exception into a logged failure written to that folder's ``job_status.json``, so the other jobs
  carry on. It returns the objective (what the Optuna sweeper minimises). Outside a multirun it calls
  ``task(cfg)``; errors propagate.
- ``SweepSummary``, a Hydra callback (conf/hydra/callbacks/sweep_summary.yaml): when the sweep ends it reads
  every job folder (``job_status.json``, ``train_summary.json``, and ``results.json`` from ``ava.evaluate``
  when present) and writes ``sweep_summary.csv`` and ``sweep_summary.md`` into ``hydra.sweep.dir``; then, if
  any job failed or never finished, the command exits with status 1.
- ``python -m ava.sweep SWEEP_DIR`` writes that summary again, e.g. after ``python -m ava.evaluate
  output_dir=SWEEP_DIR/N adapter=SWEEP_DIR/N/adapter`` put eval metrics into job folders, or when the process
  that launched a SLURM sweep ended before its jobs did.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from ava.runtime import atomic_write_bytes, write_json

log = logging.getLogger(__name__)

STATUS_FILE = "job_status.json"
# Columns copied from a job's train_summary.json, in table order.
TRAIN_COLUMNS = ("final_train_loss", "steps", "train_runtime_s", "peak_mem_mb", "trainable_params")
NON_METRIC = {"job", "overrides", "status", "error"}


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def mean_val_loss(summary: Mapping[str, Any]) -> float | None:
    """``ava.train``'s sweep objective: the final validation loss averaged over tasks (None: no val set)."""
    losses = list((summary.get("val_loss") or {}).values())
    return sum(losses) / len(losses) if losses else None


def run_job(
    task: Callable[[DictConfig], Mapping[str, Any]],
    cfg: DictConfig,
    objective: Callable[[Mapping[str, Any]], float | None],
) -> float | None:
    """Run ``task(cfg)`` as one Hydra job; return ``objective`` of its result (see the module docstring)."""
    if not in_multirun():
        return objective(task(cfg))
    hc = HydraConfig.get()
    job_dir = Path(hc.runtime.output_dir)
    if "output_dir" in cfg:
        cfg = cfg.copy()
        with open_dict(cfg):
            cfg.output_dir = str(job_dir)
    overrides = list(hc.overrides.task)
    status: dict[str, Any] = {"job": hc.job.num, "overrides": overrides, "output_dir": str(job_dir)}
    t0 = time.perf_counter()
    try:
        value = objective(task(cfg))
    except Exception as exc:  # one bad job must not end the sweep; it is logged and recorded instead
        log.exception("sweep job %s (%s) failed; the other jobs go on", hc.job.num, " ".join(overrides))
        status.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        value = None
    else:
        status.update(status="ok", objective=value)
    status["wall_s"] = round(time.perf_counter() - t0, 3)
    write_json(job_dir / STATUS_FILE, status)
    return value


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _job_number(job_dir: Path) -> tuple[int, str]:
    return (int(job_dir.name), "") if job_dir.name.isdigit() else (1 << 62, job_dir.name)


def job_row(job_dir: Path) -> dict[str, Any]:
    """One table row for a finished (or failed, or missing) job folder of a sweep."""
    overrides = [str(o) for o in OmegaConf.load(job_dir / ".hydra" / "overrides.yaml")]
    row: dict[str, Any] = {"job": job_dir.name, "overrides": overrides}
    status = _read_json(job_dir / STATUS_FILE)
    if status is None:
        row.update(status="missing", error=f"no {STATUS_FILE}: the job was killed, timed out or still runs")
    else:
        row.update(status=status["status"], error=status.get("error"))
    train = _read_json(job_dir / "train_summary.json")
    if train is not None:
        row["val_loss"] = mean_val_loss(train)
        row.update({f"val_loss/{task}": loss for task, loss in sorted((train.get("val_loss") or {}).items())})
        row.update({key: train.get(key) for key in TRAIN_COLUMNS})
    results = _read_json(job_dir / "results.json")
    if results is not None:
        benchmarks = results.get("benchmarks", {})
        row.update({f"eval/{name}": b["headline"]["value"] for name, b in benchmarks.items()})
    return row


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    """Rows for every job folder (one holding ``.hydra/overrides.yaml``) in ``sweep_dir``, by job number."""
    jobs = sorted((p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")), key=_job_number)
    return [job_row(job) for job in jobs]


def _split(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key, value


def _metric_order(column: str) -> tuple[int, int, str]:
    """val_loss, val_loss/<task>..., the train columns, eval/<benchmark>..."""
    if column in TRAIN_COLUMNS:
        return (2, TRAIN_COLUMNS.index(column), "")
    prefix = column.split("/")[0]
    group = {"val_loss": 0 if column == "val_loss" else 1, "eval": 3}.get(prefix, 4)
    return (group, 0, column)


def table(rows: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]], dict[str, str]]:
    """``(columns, rows, common overrides)``: an override whose value differs between jobs is a column."""
    values: dict[str, set[str]] = {}
    for row in rows:
        for key, value in map(_split, row["overrides"]):
            values.setdefault(key, set()).add(value)
    per_job = [dict(map(_split, row["overrides"])) for row in rows]
    varying = [k for k, v in values.items() if len(v) > 1 or any(k not in job for job in per_job)]
    common = {k: next(iter(v)) for k, v in values.items() if k not in varying}
    metric_cols = sorted({k for row in rows for k in row if k not in NON_METRIC}, key=_metric_order)
    columns = ["job", "status", *varying, *metric_cols, "error"]
    flat = [{**{c: row.get(c) for c in columns}, **{k: job.get(k) for k in varying}}
            for row, job in zip(rows, per_job, strict=True)]
    return columns, flat, common


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value).splitlines()[0][:200].replace("|", "\\|") if str(value) else ""


def write_summary(sweep_dir: Path, rows: list[dict[str, Any]], stem: str) -> dict[str, Path]:
    """Write ``STEM.csv`` (full precision) and ``STEM.md`` (rounded, best job named) into ``sweep_dir``."""
    columns, flat, common = table(rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: "" if r[c] is None else r[c] for c in columns} for r in flat)
    paths = {"csv": sweep_dir / f"{stem}.csv", "md": sweep_dir / f"{stem}.md"}
    atomic_write_bytes(paths["csv"], buf.getvalue().encode())

    ok = [r for r in flat if r["status"] == "ok" and r.get("val_loss") is not None]
    lines = [f"# Sweep {sweep_dir}", "", f"{len(ok)} of {len(flat)} jobs finished with a validation loss."]
    if ok:
        best = min(ok, key=lambda r: r["val_loss"])
        lines.append(f"Best: job {best['job']} (val_loss {best['val_loss']:.4g}).")
    if common:
        lines.append("Common to every job: " + " ".join(f"`{k}={v}`" for k, v in common.items()))
    lines += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r[c]) for c in columns) + " |" for r in flat]
    atomic_write_bytes(paths["md"], ("\n".join(lines) + "\n").encode())
    return paths


def summarize(sweep_dir: Path, stem: str = "sweep_summary") -> int:
    """Write the summary of ``sweep_dir``; 0 when every job finished, else 1 (the failures are logged)."""
    rows = collect(sweep_dir)
    if not rows:
        raise FileNotFoundError(f"{sweep_dir} holds no job folders (N/.hydra/overrides.yaml): pass the "
                                "sweep's hydra.sweep.dir, OUT/multirun/TIME")
    paths = write_summary(sweep_dir, rows, stem)
    log.info("sweep summary of %d jobs: %s and %s", len(rows), paths["md"], paths["csv"])
    bad = [f"job {r['job']} ({r['status']}: {r['error']})" for r in rows if r["status"] != "ok"]
    if bad:
        log.error("%d of %d sweep jobs did not finish: %s", len(bad), len(rows), "; ".join(bad))
    return 1 if bad else 0


class SweepSummary(Callback):
    """Hydra callback: the summary table of a multirun, written when the last job has returned."""

    def __init__(self, stem: str = "sweep_summary") -> None:
        self.stem = stem

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if summarize(Path(str(config.hydra.sweep.dir)), self.stem):
            # Hydra turns an Exception in a callback into a warning; SystemExit gets through: exit status 1.
            raise SystemExit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ava.sweep", description="(Re)write a sweep's summary.")
    parser.add_argument("sweep_dir", type=Path, help="the hydra.sweep.dir of a multirun (OUT/multirun/TIME)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return summarize(args.sweep_dir)


if __name__ == "__main__":
    sys.exit(main())
