"""ava.runtime: atomic writes keep the old file or write the whole new one, with the mode open() would give."""

import os
import stat

import pytest

from ava.runtime import atomic_write_bytes


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_write_follows_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        target = tmp_path / "out.json"
        atomic_write_bytes(target, b"{}")
        plain = tmp_path / "plain.json"
        plain.write_bytes(b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~umask
    assert os.umask(old) == old  # the process umask is unchanged


def test_atomic_write_replaces_whole_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "sub" / "data.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert [p.name for p in target.parent.iterdir()] == ["data.bin"]


def test_table_and_jsonl_writers_go_through_the_atomic_write(tmp_path, monkeypatch):
    import json
    import math

    import pyarrow as pa
    import pyarrow.parquet as pq

    from ava import runtime

    table = pa.table({"a": [1, 2], "b": ["x", "é"]}).replace_schema_metadata({b"k": b"v"})
    runtime.write_table(tmp_path / "t.parquet", table)
    back = pq.read_table(tmp_path / "t.parquet")
    assert back.equals(table) and back.schema.metadata[b"k"] == b"v"
    runtime.write_jsonl(tmp_path / "m.jsonl", [{"loss": float("nan"), "t": "é"}, {"loss": 1.0}])
    rows = [json.loads(x) for x in (tmp_path / "m.jsonl").read_text("utf-8").splitlines()]
    assert math.isnan(rows[0]["loss"]) and rows[0]["t"] == "é" and rows[1] == {"loss": 1.0}
    calls = []
    monkeypatch.setattr(runtime, "atomic_write_bytes", lambda path, data: calls.append(path))
    runtime.write_table(tmp_path / "u.parquet", table)
    runtime.write_jsonl(tmp_path / "u.jsonl", [])
    assert calls == [tmp_path / "u.parquet", tmp_path / "u.jsonl"] and not (tmp_path / "u.parquet").exists()
