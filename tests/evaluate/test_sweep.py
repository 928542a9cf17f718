"""python -m ava.evaluate -m model.predictions=A,B: each job scores into its own folder and the sweep summary lists
every job's headline metric as read from its results.json."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from tests.evaluate import fixtures


def test_evaluate_multirun_writes_one_results_json_per_job_and_a_summary(data_root, tmp_path):
    probs = {"a": [[0.9, 0.05, 0.05]] * 4, "b": [[0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.05, 0.05, 0.9]] * 2}
    first, last = (fixtures.write_jsonl(tmp_path / f"{k}.jsonl", [{"id": i, "probs": p}
                                                                  for i, p in enumerate(v[:4])])
                   for k, v in probs.items())
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ava.evaluate", "-m", "benchmark=culturenli",
           f"data={data_root / 'culturenli' / 'data.tsv'}", "model=precomputed",
           f"model.predictions={first},{last}", f"output_dir={out}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep,) = (out / "multirun").iterdir()
    rows = list(csv.DictReader((sweep / "sweep_summary.csv").open()))
    assert [(r["job"], r["status"], r["model.predictions"]) for r in rows] == [("0", "ok", str(first)),
                                                                         ("1", "ok", str(last))]
    headlines = []
    for r in rows:
        doc = json.loads((sweep / r["job"] / "results.json").read_text())
        assert doc["predictions"]["culturenli"] == r["model.predictions"]
        headlines.append(doc["benchmarks"]["culturenli"]["headline"]["value"])
        assert float(r["eval/culturenli"]) == pytest.approx(headlines[-1], rel=1e-12)
    assert headlines[0] != headlines[1]  # the two prediction files score differently
    assert "| job | status | model.predictions | eval/culturenli |" in (sweep / "sweep_summary.md").read_text()
