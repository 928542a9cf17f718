"""benchmarks/machine.py: every benchmark's machine columns, and appends that keep one header over old and new rows."""

import csv
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def machine(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import machine

    return machine


def test_describe_names_host_cpu_gpu_then_the_asked_versions(machine):
    row = machine.describe("numpy")
    assert list(row) == ["host", "cpu", "gpu", "numpy"]
    assert row["numpy"] == np.__version__ and all(row.values())


def test_append_writes_one_header_and_matches_columns_by_name(machine, tmp_path):
    path = tmp_path / "results" / "x.csv"
    machine.append_csv(path, [{"host": "a", "ms": 1}, {"ms": 2, "host": "b"}])
    machine.append_csv(path, [{"ms": 3, "host": "c"}])
    assert path.read_text().splitlines()[0] == "host,ms"
    assert [(r["host"], r["ms"]) for r in csv.DictReader(path.open())] == [("a", "1"), ("b", "2"), ("c", "3")]


def test_append_refuses_rows_whose_columns_are_not_the_files(machine, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("machine,ms\nvm,1\n")
    with pytest.raises(ValueError, match=r"missing \['machine'\], extra \['host'\]"):
        machine.append_csv(path, [{"host": "a", "ms": 2}])
    with pytest.raises(ValueError, match=r"missing \[\], extra \['gpu'\]"):
        machine.append_csv(path, [{"machine": "a", "ms": 2}, {"machine": "a", "ms": 2, "gpu": "none"}])
    assert path.read_text() == "machine,ms\nvm,1\n"
