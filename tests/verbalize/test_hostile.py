"""verbalize on hostile input: scalars in list fields, gaps in the shard files, a corrupted data page."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from ava.manifest import iter_manifest
from ava.verbalize.pipeline import verbalize
from ava.verbalize.rows import new_row
from ava.verbalize.shards import Plan
from tests.helpers import compose_verbalize

LIGHT = ["vision=none", "ocr=none", "asr=none", "faces=none", "progress=false", "executor.workers=0"]


def test_scalars_in_list_fields_keep_the_shard(tmp_path):
    Image.new("RGB", (32, 32), "red").save(tmp_path / "a.png")
    ads = [{"id": "good", "page_name": "P", "ad_creative_bodies": ["Fine"], "media": ["a.png"]},
           {"id": "num", "ad_creative_bodies": 5, "ad_creative_link_titles": True, "media": ["a.png"]},
           {"id": "str", "ad_creative_bodies": "Hello world", "publisher_platforms": 5, "media": ["a.png"]},
           {"id": "lang", "languages": 7, "media": ["a.png"]}]
    (tmp_path / "ads.jsonl").write_text("".join(json.dumps(a) + "\n" for a in ads))
    out = tmp_path / "out"
    summary = verbalize(compose_verbalize([f"input={tmp_path / 'ads.jsonl'}", f"output_dir={out}", *LIGHT]))
    rows = {r["ad_id"]: r for r in pq.read_table(out / "verbalized").to_pylist()}
    assert summary["items"] == {**summary["items"], "total": 4, "ok": 4, "error": 0}
    assert {ad: r["status"] for ad, r in rows.items()} == dict.fromkeys(["good", "num", "str", "lang"], "ok")
    assert summary["manifest_normalised"] == {
        "ad_creative_bodies: int dropped (not a list)": 1, "ad_creative_bodies: string->list": 1,
        "ad_creative_link_titles: bool dropped (not a list)": 1, "languages: int dropped (not a list)": 1,
        "publisher_platforms: int dropped (not a list)": 1}


def _manifest(path, n):
    path.write_text("".join(json.dumps({"id": str(i), "media": ["a.png"]}) + "\n" for i in range(n)))
    return path


def _finish(job):
    rows = []
    for ad, indices in job.items:
        for i in indices:
            row = new_row(ad, i)
            row.update(status="ok", verbalization=f"ad {ad.id} " + "words " * 200)
            rows.append(row)
    job.finish(rows)


def test_stale_shards_are_removed_by_number_not_position(tmp_path):
    shards = tmp_path / "shards"
    path = _manifest(tmp_path / "ads.jsonl", 8)
    for job in Plan(iter_manifest(path), shards, "s", shard_size=2).jobs():
        _finish(job)
    (shards / "shard-00001.parquet").unlink()  # a killed run: shard 1 never written
    _manifest(path, 4)  # the manifest shrinks to two shards
    plan = Plan(iter_manifest(path), shards, "s", shard_size=2)
    todo = list(plan.jobs())  # a pool finishes its jobs after the plan has run out
    assert [j.index for j in todo] == [1]
    for job in todo:
        _finish(job)
    assert sorted(p.name for p in shards.glob("shard-*.parquet")) == ["shard-00000.parquet", "shard-00001.parquet"]
    assert pq.read_table(shards).num_rows == 4


def test_a_corrupted_data_page_is_redone_not_trusted(tmp_path):
    shards = tmp_path / "shards"
    path = _manifest(tmp_path / "ads.jsonl", 4)
    for job in Plan(iter_manifest(path), shards, "s", shard_size=2).jobs():
        _finish(job)
    victim = shards / "shard-00000.parquet"
    data = bytearray(victim.read_bytes())
    data[4:200] = b"\xff" * 196  # the first page header and data; the footer (and fingerprint) stay intact
    victim.write_bytes(bytes(data))
    assert pq.read_schema(victim).metadata[b"ava.fingerprint"]
    plan = Plan(iter_manifest(path), shards, "s", shard_size=2)
    todo = list(plan.jobs())
    assert [j.index for j in todo] == [0] and plan.skipped == 2
    for job in todo:
        _finish(job)
    assert pq.read_table(shards).num_rows == 4


def test_unusable_media_paths_are_path_errors_not_internal(tmp_path):
    Image.new("RGB", (32, 32), "blue").save(tmp_path / "ok.png")
    (tmp_path / "loop1").symlink_to("loop2")
    (tmp_path / "loop2").symlink_to("loop1")
    bad = ["loop1", "loop1/inside.png", "a" * 300 + ".png", "x\x00y.png", ("d" * 200 + "/") * 30 + "f.png"]
    ads = [{"id": "bad", "media": bad}, {"id": "good", "media": ["ok.png"]}]
    (tmp_path / "ads.jsonl").write_text("".join(json.dumps(a) + "\n" for a in ads))
    out = tmp_path / "out"
    summary = verbalize(compose_verbalize([f"input={tmp_path / 'ads.jsonl'}", f"output_dir={out}", *LIGHT]))
    rows = pq.read_table(out / "verbalized").to_pylist()
    assert summary["error_kinds"] == {"path_refused": len(bad)} and summary["items"]["ok"] == 1
    errors = {r["media_index"]: r["error"] for r in rows if r["ad_id"] == "bad"}
    loop = re.compile("Symlink loop|levels of symbolic links")  # Python < 3.13 | 3.13 (ELOOP from stat)
    assert loop.search(errors[0]) and loop.search(errors[1])
    assert "too long" in errors[2] and "too long" in errors[4] and "NUL byte" in errors[3]


DRIVER = """
import sys, time
from pathlib import Path
from omegaconf import OmegaConf
from ava.verbalize.executors import LocalExecutor, Work
from ava.verbalize.shards import ShardJob

out = Path(sys.argv[-1])

def jobs():
    for k in range(2):
        yield ShardJob(k, out / f"shard-{k:05d}.parquet", "fp", [])
    print("submitted", flush=True)
    time.sleep(600)  # the driver hangs here, its pool alive, until the test kills it

if __name__ == "__main__":  # spawned workers import this file too
    LocalExecutor(workers=2).run(jobs(), Work(out, OmegaConf.create({}), [], "cpu", progress=False))
"""


def _children(pid: int) -> set[int]:
    kids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.add(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_workers_exit_when_the_driver_is_killed(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True)
    kids: set[int] = set()
    try:
        assert proc.stdout.readline().strip() == "submitted"
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("shard-*.parquet"))) < 2:  # both workers started and ran a shard
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        kids = _children(proc.pid)
        assert len(kids) >= 2  # two workers (and the resource tracker)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while any(_alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [k for k in kids if _alive(k)]
    finally:  # leave nothing running, whatever failed
        proc.kill()
        for k in kids | _children(proc.pid):
            if _alive(k):
                os.kill(k, signal.SIGKILL)


def test_a_foreign_file_named_like_a_shard_is_not_counted(tmp_path):
    Image.new("RGB", (32, 32), "red").save(tmp_path / "a.png")
    _manifest(tmp_path / "ads.jsonl", 3)
    overrides = [f"input={tmp_path / 'ads.jsonl'}", f"output_dir={tmp_path / 'out'}", "shard_size=2", *LIGHT]
    verbalize(compose_verbalize(overrides))
    (tmp_path / "out" / "verbalized" / "shard-x.parquet").write_text("not parquet")  # a user's stray copy
    summary = verbalize(compose_verbalize(overrides))
    assert (summary["shards"], summary["items"]["total"], summary["items"]["skipped_already_done"]) == (2, 3, 3)
