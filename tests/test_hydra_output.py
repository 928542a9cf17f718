"""conf/hydra/output/ava.yaml and conf/hydra/callbacks/sweep_summary.yaml: every command's run and sweep folders,
job name and sweep callback, composed through Hydra for each root config, and resolved in a real run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir, initialize_config_module
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = {"sweep_summary": {"_target_": "ava.sweep.SweepSummary"}}
JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
BASIC = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
# root -> (sweep callbacks, launcher): the commands whose entry point wraps its task in ava.sweep.run_job get the
# sweep summary and the joblib launcher; the others Hydra's defaults.
STAGES = {"fetch": ({}, BASIC), "verbalize": ({}, BASIC), "dedup": ({}, BASIC), "build_dataset": ({}, BASIC),
          "train": (SUMMARY, JOBLIB), "evaluate": (SUMMARY, JOBLIB), "bench_lora_linear": (SUMMARY, JOBLIB)}
STAMP = r"\d{8}-\d{6}"


def hydra_node(root: str):
    if root == "bench_lora_linear":  # not in the ava_conf package: benchmarks/conf, with ava_conf on its search path
        ctx = initialize_config_dir(str(ROOT / "benchmarks" / "conf"), version_base="1.3")
    else:
        ctx = initialize_config_module("ava_conf", version_base="1.3")
    with ctx:
        return compose(root, ["output_dir=/out"], return_hydra_config=True).hydra


@pytest.mark.parametrize("root", sorted(STAGES))
def test_run_and_sweep_folders_job_name_and_callbacks(root):
    callbacks, launcher = STAGES[root]
    h = hydra_node(root)
    assert re.fullmatch(f"/out/logs/{STAMP}", h.run.dir), h.run.dir
    assert re.fullmatch(f"/out/multirun/{STAMP}", h.sweep.dir), h.sweep.dir
    assert OmegaConf.to_container(h.sweep)["subdir"] == "${hydra.job.num}"  # one folder per job
    assert h.job.name == root  # the log file (ROOT.log) and the SLURM job name
    assert h.job.chdir is None  # version_base 1.3: Hydra keeps the working directory
    assert OmegaConf.to_container(h.callbacks, resolve=True) == callbacks
    assert h.launcher._target_ == launcher
    assert "bench_lora_linear" not in {p.stem for p in (ROOT / "conf").glob("*.yaml")}  # not shipped in ava_conf


def test_a_real_run_and_multirun_land_in_the_output_folder(tmp_path):
    from tests.dedup.helpers import EMBEDDING_SCHEMA, planted, rows_for, write_verbalized

    x, _ = planted(4, 10, d=8, seed=1)
    src = write_verbalized(tmp_path / "v", rows_for(x), shards=1, schema=EMBEDDING_SCHEMA)
    out = tmp_path / "out"
    for mode in ([], ["-m"]):
        proc = subprocess.run([sys.executable, "-m", "ava.dedup", *mode, f"input={src}", f"output_dir={out}",
                               "threshold=0.9,0.95" if mode else "threshold=0.9"],
                              capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = (out / "logs").iterdir()
    (sweep,) = (out / "multirun").iterdir()
    assert re.fullmatch(STAMP, run.name) and re.fullmatch(STAMP, sweep.name)
    assert (run / "dedup.log").is_file() and (run / ".hydra" / "config.yaml").is_file()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    for job in "01":
        assert (sweep / job / "dedup.log").is_file()
        assert OmegaConf.load(sweep / job / ".hydra" / "hydra.yaml").hydra.job.name == "dedup"
    assert (out / "dedup.parquet").is_file()
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()  # nothing in the cwd
