"""The real command in a subprocess, and every evaluate config composes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.evaluate import fixtures

CONF = Path(__file__).resolve().parents[2] / "conf"


def test_python_m_ava_evaluate_precomputed(data_root, tmp_path):
    preds = fixtures.write_jsonl(
        tmp_path / "p.jsonl", [{"id": i, "probs": [0.7, 0.2, 0.1]} for i in range(4)]
    )
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ava.evaluate",
            "benchmark=culturenli",
            f"data={data_root / 'culturenli' / 'data.tsv'}",
            "model=precomputed",
            f"model.predictions={preds}",
            f"output_dir={out}",
            "runtime.threads=1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "threads: 1 intra-op (runtime.threads=1), OMP_WAIT_POLICY=PASSIVE" in proc.stdout + proc.stderr
    doc = json.loads((out / "results.json").read_text())
    r = doc["benchmarks"]["culturenli"]
    assert doc["mode"] == "precomputed" and r["counts"]["questions_used"] == 4
    assert set(r["per_group"]) == {"US", "IN"} and (out / "plots" / "culturenli_groups.png").is_file()
    assert list((out / "logs").iterdir()), "hydra run dir goes under output_dir/logs"

    bad = fixtures.write_jsonl(tmp_path / "bad.jsonl", ['{"id": 0, "probs": [NaN, 0.5, 0.5]}'])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ava.evaluate",
            "benchmark=culturenli",
            f"data={data_root / 'culturenli'}",
            "model=precomputed",
            f"model.predictions={bad}",
            f"output_dir={tmp_path / 'bad'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0 and "line 1: non-finite number NaN" in proc.stderr


@pytest.mark.parametrize("model", sorted(p.stem for p in (CONF / "model").glob("*.yaml")))
def test_every_model_config_composes_with_evaluate(model):
    cfg = fixtures.compose_cfg([f"model={model}"])
    assert cfg.model.name_or_path and set(cfg.suites) == {
        "opinionqa",
        "oqa_xl",
        "global_opinionqa",
        "culturenli",
        "culturebank",
        "gss",
    }
