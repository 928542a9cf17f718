"""A file shared by many ads is decoded once per run, across shards and worker processes (ava/verbalize/shared.py):
every ad keeps its own row, equal to the row a run without sharing makes, and the rows' store stays bounded."""

import json
import tempfile
import unicodedata

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw

from ava.manifest import Ad
from ava.verbalize.pipeline import verbalize
from ava.verbalize.shared import SharedFiles, copy_row
from tests.helpers import compose_verbalize

LIGHT = ["vision=none", "ocr=none", "asr=none", "faces=none", "audio=none", "caption=none", "progress=false"]
IDENTITY = ("ad_id", "manifest_line", "media_index", "media_path")


def _rows(out):
    return {(r["ad_id"], r["media_index"]): r for r in pq.read_table(out / "verbalized").to_pylist()}


def _content(row):
    """A row less what is the ad's own (ids, path) and the note saying it was copied."""
    kept = {k: v for k, v in row.items() if k not in IDENTITY}
    kept["notes"] = [n for n in row["notes"] if not n.startswith("shared_file:")]
    return kept


@pytest.mark.slow
def test_a_file_shared_across_shards_and_workers_is_decoded_at_most_once_per_worker(tmp_path, monkeypatch):
    """24 ads on one file in 12 shards, 2 workers, and an item that kills its worker in the first shard, so the pool
    is restarted and the shard rerun in a fresh worker: the file is still decoded at most twice in all (each of the
    first two workers may meet it before the other has stored its row); a cache per process decoded it again in
    every new worker. The rows equal a run's without sharing, less the ids and the note."""
    name = unicodedata.normalize("NFC", "café.png")
    img = Image.new("RGB", (160, 90), "white")
    ImageDraw.Draw(img).rectangle((20, 20, 100, 60), fill="navy")
    img.save(tmp_path / name)
    (tmp_path / "other.png").write_bytes((tmp_path / name).read_bytes())  # the same bytes under another name
    Image.new("RGB", (32, 32), "red").save(tmp_path / "poison.png")
    # ad 0 spells the name in NFD: its row has a unicode_name note that a copy for another ad must not carry
    ads = [{"id": str(i), "media": [unicodedata.normalize("NFD", name) if i == 0 else
                                    "other.png" if i == 5 else name]} for i in range(24)]
    ads[1]["media"].append("poison.png")
    (tmp_path / "ads.jsonl").write_text("".join(json.dumps(a) + "\n" for a in ads))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the run's shared rows go
    base = [f"input={tmp_path / 'ads.jsonl'}", *LIGHT, "shard_size=2",
            "+encoders.poison._target_=tests.verbalize.poison.KillOnPoison"]
    verbalize(compose_verbalize([*base, f"output_dir={tmp_path / 'on'}", "executor.workers=2"]))
    verbalize(compose_verbalize([*base, f"output_dir={tmp_path / 'off'}", "executor.workers=2",
                                 "shared_cache_rows=0"]))
    on, off = _rows(tmp_path / "on"), _rows(tmp_path / "off")
    assert len(on) == 25 and {r["ad_id"] for r in on.values()} == {str(i) for i in range(24)}
    assert [k for k, r in on.items() if r["status"] != "ok"] == [("1", 1)]
    decoded = [k for k, r in on.items() if k != ("1", 1) and not any(n.startswith("shared_file:") for n in r["notes"])]
    assert 1 <= len(decoded) <= 2, decoded
    assert not any(n.startswith("shared_file:") for r in off.values() for n in r["notes"])  # off: each decoded
    assert on.keys() == off.keys()
    for key in on:
        assert {k: on[key][k] for k in IDENTITY} == {k: off[key][k] for k in IDENTITY}
        assert _content(on[key]) == _content(off[key]), key
    assert on[("2", 0)]["phash"] is not None and on[("2", 0)]["colours"]
    assert [n for n in on[("0", 0)]["notes"] if n.startswith("unicode_name")] == [
        "unicode_name: not on disk as spelled in the manifest; found as NFC"]
    assert not any(n.startswith("unicode_name") for k, r in on.items() if k != ("0", 0) for n in r["notes"])
    assert not list(tmp_path.glob("ava-verbalize-shared-*"))  # removed at the end of the run


def test_shared_rows_are_bounded_and_the_first_stored_wins(tmp_path):
    path = tmp_path / "shared.sqlite"
    SharedFiles.create(path)
    a, b = SharedFiles(path, "settings", size=2), SharedFiles(path, "settings", size=2)  # two workers
    row = {"ad_id": "1", "embedding": np.float32([0.25, -1.5]).tolist(), "faces": np.int32(2), "notes": [],
           "status": "ok", "error_kind": None}
    a.put("k1", row)
    b.put("k1", {**row, "ad_id": "2"})  # the same file, made again by another worker: the first row stays
    assert b.get("k1") == {**row, "faces": 2}
    a.put("k2", row)
    b.put("k3", row)
    assert a.get("k1") is None and a.get("k2") is not None and a.get("k3") is not None  # oldest dropped first
    assert a.db.execute("SELECT COUNT(*) FROM rows").fetchone() == (2,)


def test_the_key_is_the_content_the_record_fields_and_the_settings(tmp_path):
    (tmp_path / "a.png").write_bytes(b"same bytes")
    (tmp_path / "b.png").write_bytes(b"same bytes")
    path = tmp_path / "shared.sqlite"
    SharedFiles.create(path)
    shared = SharedFiles(path, "settings", size=10)
    key = shared.key(Ad(1, {"media": ["a.png"], "languages": ["en"]}), 0, tmp_path)[0]
    assert shared.key(Ad(2, {"media": ["b.png"], "languages": ["en"], "page_name": "X"}), 0, tmp_path)[0] == key
    assert shared.key(Ad(3, {"media": ["a.png"], "languages": ["de"]}), 0, tmp_path)[0] != key
    assert SharedFiles(path, "other settings", 10).key(Ad(1, {"media": ["a.png"], "languages": ["en"]}), 0,
                                                       tmp_path)[0] != key
    assert shared.key(Ad(4, {"media": ["missing.png"]}), 0, tmp_path) is None
    assert SharedFiles(None, "settings", 10).key(Ad(1, {"media": ["a.png"]}), 0, tmp_path) is None  # off


def test_only_errors_the_bytes_decide_are_kept_and_a_copy_says_whose_error_it_is(tmp_path):
    path = tmp_path / "shared.sqlite"
    SharedFiles.create(path)
    shared = SharedFiles(path, "settings", size=10)
    first = {"ad_id": "1", "manifest_line": 1, "media_index": 0, "media_path": "a.png", "status": "error",
             "notes": [], "error_kind": "empty_file", "error": "zero-byte file: a.png"}
    shared.put("empty", first)
    for kind in ("timeout", "unreadable", "internal"):  # may not happen again: not kept for the run
        shared.put(kind, {**first, "error_kind": kind})
        assert shared.get(kind) is None
    copy = copy_row(shared.get("empty"), Ad(7, {"id": "2", "media": ["b.png"]}), 0, tmp_path / "b.png")
    assert (copy["ad_id"], copy["manifest_line"], copy["media_path"]) == ("2", 7, "b.png")
    assert copy["error"] == "the same file as ad 1 item 0 (line 1), a.png: zero-byte file: a.png"
    assert copy["notes"] == ["shared_file: the same file as ad 1 item 0 (line 1), whose row this is: not decoded "
                             "again"]


def test_a_failing_store_turns_sharing_off_with_a_warning(tmp_path, caplog):
    path = tmp_path / "shared.sqlite"
    SharedFiles.create(path)
    shared = SharedFiles(path, "settings", size=10)
    shared.db.execute("DROP TABLE rows")  # what a broken or vanished store looks like to a worker
    row = {"ad_id": "1", "status": "ok", "error_kind": None, "notes": []}
    shared.put("k", row)
    assert shared.db is None and shared.get("k") is None
    assert "shared-file rows are off in this process" in caplog.text
    unopenable = SharedFiles(tmp_path / "no" / "such" / "dir.sqlite", "settings", size=10)
    assert unopenable.db is None and unopenable.get("k") is None
