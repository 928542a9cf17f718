"""python -m ava.train -m: a real two-job multirun on the tiny model with the joblib launcher, one job failing
on purpose; and the sweep summary over job folders that were killed or were also evaluated."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ava.sweep import collect, main, write_summary

FAST = ["model=tiny", "device=cpu", "trainer.max_steps=2", "trainer.batch_size=4", "trainer.logging_steps=1",
        "trainer.eval_steps=0", "trainer.save_steps=2"]


def test_multirun_one_job_fails_the_other_finishes_and_the_summary_is_written(dataset_dir, tmp_path):
    out = tmp_path / "out"
    # lora.dropout=1.5 is invalid (torch.nn.Dropout refuses p > 1) once PEFT builds the LoRA layers of job 1.
    cmd = [sys.executable, "-m", "ava.train", "-m", f"dataset={dataset_dir}", f"output_dir={out}", *FAST,
           "lora.r=4", "lora.alpha=8", "lora.dropout=0.0,1.5", "hydra.launcher.n_jobs=2"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    log = run.stdout + run.stderr
    assert run.returncode == 1, log  # the sweep ran to the end, then reported the failed job
    assert "1 of 2 sweep jobs did not finish: job 1 (failed: ValueError: dropout probability" in log, log

    (sweep,) = (out / "multirun").iterdir()
    ok, bad = sweep / "0", sweep / "1"
    assert (ok / "adapter" / "adapter_model.safetensors").is_file()  # each job trained into its own folder
    summary = json.loads((ok / "train_summary.json").read_text())
    assert summary["steps"] == 2 and summary["lora"]["dropout"] == 0.0
    assert summary["adapter"] == str(ok / "adapter")
    status = json.loads((ok / "job_status.json").read_text())
    mean_val = sum(summary["val_loss"].values()) / len(summary["val_loss"])
    assert status["status"] == "ok" and status["objective"] == pytest.approx(mean_val, rel=1e-12)

    failed = json.loads((bad / "job_status.json").read_text())
    assert failed["status"] == "failed" and "lora.dropout=1.5" in failed["overrides"]
    assert failed["error"].startswith("ValueError: dropout probability")
    assert not (bad / "train_summary.json").exists() and not (bad / "adapter").exists()
    job_log = (bad / "train.log").read_text()
    assert "sweep job 1" in job_log and "Traceback" in job_log and "nn.Dropout" in job_log

    rows = list(csv.DictReader((sweep / "sweep_summary.csv").open()))
    assert [(r["job"], r["status"], r["lora.dropout"]) for r in rows] == [("0", "ok", "0.0"),
                                                                          ("1", "failed", "1.5")]
    assert float(rows[0]["val_loss"]) == pytest.approx(mean_val, rel=1e-12)
    for task, loss in summary["val_loss"].items():
        assert float(rows[0][f"val_loss/{task}"]) == pytest.approx(loss, rel=1e-12)
    assert int(rows[0]["steps"]) == 2 and rows[0]["error"] == "" and rows[1]["val_loss"] == ""
    assert "lora.r" not in rows[0]  # the same in every job: listed once above the Markdown table instead
    md = (sweep / "sweep_summary.md").read_text()
    assert "| job | status | lora.dropout | val_loss |" in md
    assert f"Best: job 0 (val_loss {mean_val:.4g})" in md
    assert "`lora.r=4`" in md and "| 1 | failed | 1.5 |" in md


def _job(sweep: Path, num: int, overrides: list[str], status: dict | None, **files: dict) -> Path:
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), job / ".hydra" / "overrides.yaml")
    for name, doc in {**files, **({"job_status": status} if status else {})}.items():
        (job / f"{name}.json").write_text(json.dumps(doc))
    return job


def test_summary_orders_jobs_marks_missing_ones_and_reads_eval_results(tmp_path):
    sweep = tmp_path / "sweep"
    train = {"val_loss": {"a": 1.0, "b": 2.0}, "steps": 5, "final_train_loss": 0.5}
    results = {"benchmarks": {"opinionqa": {"headline": {"metric": "representativeness", "value": 0.81}}}}
    _job(sweep, 10, ["lora.r=16", "seed=0"], {"status": "ok"}, train_summary=train, results=results)
    _job(sweep, 2, ["lora.r=8", "seed=0"], {"status": "ok"}, train_summary={**train, "val_loss": {"a": 0.5}})
    _job(sweep, 3, ["lora.r=4", "seed=0"], None)  # killed before it wrote job_status.json

    rows = collect(sweep)
    assert [r["job"] for r in rows] == ["2", "3", "10"]  # by job number, not by name
    assert [r["status"] for r in rows] == ["ok", "missing", "ok"] and "killed" in rows[1]["error"]
    assert rows[0]["val_loss"] == 0.5 and rows[2]["val_loss"] == 1.5 and rows[2]["eval/opinionqa"] == 0.81
    paths = write_summary(sweep, rows, "sweep_summary")
    table = list(csv.DictReader(paths["csv"].open()))
    assert list(table[0]) == ["job", "status", "lora.r", "val_loss", "val_loss/a", "val_loss/b",
                              "final_train_loss", "steps", "train_runtime_s", "peak_mem_mb",
                              "trainable_params", "eval/opinionqa", "error"]
    assert [r["eval/opinionqa"] for r in table] == ["", "", "0.81"]
    md = paths["md"].read_text()
    assert "2 of 3 jobs finished" in md and "Best: job 2 (val_loss 0.5)" in md and "`seed=0`" in md

    paths["md"].unlink()
    assert main([str(sweep)]) == 1  # python -m ava.sweep DIR: the summary again; job 3 never finished
    assert paths["md"].read_text() == md
    with pytest.raises(FileNotFoundError, match="no job folders"):
        main([str(tmp_path)])


def test_optuna_sweeper_minimises_the_validation_loss_that_ava_train_returns(dataset_dir, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ava.train", "-m", "hydra/sweeper=lora_optuna", "hydra.sweeper.n_trials=2",
           f"dataset={dataset_dir}", f"output_dir={out}", *FAST]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    (sweep,) = (out / "multirun").iterdir()
    result = OmegaConf.load(sweep / "optimization_results.yaml")
    rows = list(csv.DictReader((sweep / "sweep_summary.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "ok"]
    best = min(rows, key=lambda r: float(r["val_loss"]))
    assert result.best_value == pytest.approx(float(best["val_loss"]), rel=1e-12)
    job_cfg = OmegaConf.load(sweep / best["job"] / ".hydra" / "config.yaml")
    assert {"lora.r": job_cfg.lora.r, "lora.alpha": job_cfg.lora.alpha, "optim.lr": job_cfg.optim.lr} == \
        OmegaConf.to_container(result.best_params)
    assert job_cfg.lora.r in (4, 8, 16, 32) and 1e-5 <= job_cfg.optim.lr <= 1e-3
