"""python -m ava.dedup: the real command on a generated verbalized/ folder; every dedup config composes."""

import json
import subprocess
import sys
from pathlib import Path

import ava_conf
import numpy as np
import pyarrow.parquet as pq
import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from ava.vector_index import IndexChooser
from tests.dedup.helpers import EMBEDDING_SCHEMA, pair_counts, planted, rows_for, write_verbalized


def test_command_runs_on_a_verbalized_folder(tmp_path):
    x, group = planted(20, 60, d=32, seed=5)
    rows = rows_for(x, phashes=[f"{i:016x}" for i in range(len(x))])
    src = write_verbalized(tmp_path / "verbalize_out", rows, shards=2, schema=EMBEDDING_SCHEMA)
    out = tmp_path / "dedup_out"
    proc = subprocess.run(
        [sys.executable, "-m", "ava.dedup", f"input={src}", f"output_dir={out}", "threshold=0.9"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "dedup_summary.json").read_text())
    assert summary["items"] == len(x) and summary["index"] == "Flat"
    df = pq.read_table(out / "dedup.parquet").to_pandas()
    truth = {f"ad{i}": g for i, g in enumerate(group)}
    assert pair_counts(df.cluster_id.to_numpy(), np.array([truth[a] for a in df.ad_id])) == (1.0, 1.0)
    assert list(out.glob("logs/*/.hydra/config.yaml"))  # hydra.run.dir under output_dir


def test_command_reports_bad_input(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "ava.dedup", f"input={tmp_path}", f"output_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0 and "output_dir of `python -m ava.verbalize`" in proc.stderr


@pytest.mark.parametrize(
    "name", sorted(p.stem for p in (Path(ava_conf.__file__).parent / "dedup_index").glob("*.yaml"))
)
def test_every_dedup_index_config_composes_and_instantiates(name):
    with initialize_config_module("ava_conf", version_base="1.3"):
        cfg = compose("dedup", overrides=["input=x", "output_dir=y", f"dedup_index={name}"])
    chooser = instantiate(cfg.dedup_index)
    assert isinstance(chooser, IndexChooser) and chooser.plan(1000, 64).factory
    assert cfg.threshold == 0.95


def test_threshold_default_follows_method():
    with initialize_config_module("ava_conf", version_base="1.3"):
        assert compose("dedup", overrides=["input=x", "output_dir=y", "method=phash"]).threshold == 8
        assert (
            compose("dedup", overrides=["input=x", "output_dir=y", "method=phash", "threshold=5"]).threshold
            == 5
        )
