"""shards.py: the manifest streams into shards; fingerprints decide what a rerun redoes."""

import json

from ava.manifest import iter_manifest
from ava.verbalize.shards import Plan


def manifest(tmp_path, n):
    path = tmp_path / "ads.jsonl"
    path.write_text("".join(json.dumps({"id": str(i), "media": ["a.png"]}) + "\n" for i in range(n)) + "{bad\n")
    return path


def test_plan_reads_the_manifest_one_shard_at_a_time(tmp_path):
    read = []

    def entries():
        for e in iter_manifest(manifest(tmp_path, 10)):
            read.append(e.line)
            yield e

    plan = Plan(entries(), tmp_path / "shards", "settings", shard_size=3)
    jobs = plan.jobs()
    first = next(jobs)
    assert [a.line for a, _ in first.items] == [1, 2, 3] and len(read) == 3  # nothing read beyond the first shard
    first.finish([])
    rest = list(jobs)
    assert len(read) == 11 and plan.shards == 4 and len(rest) == 3
    assert plan.ads == 10 and [e.line for e in plan.manifest_errors] == [11]


def test_fingerprint_decides_what_is_redone(tmp_path):
    path = manifest(tmp_path, 4)

    def jobs(settings):
        plan = Plan(iter_manifest(path), tmp_path / "shards", settings, shard_size=2)
        return plan, list(plan.jobs())

    plan, todo = jobs("a")
    for job in todo:
        job.finish([])
    assert len(todo) == 3
    plan, todo = jobs("a")
    assert todo == [] and plan.skipped == 4
    assert len(jobs("b")[1]) == 3  # other settings (or other resolved encoder weights): every shard again


def test_shards_beyond_a_shorter_manifest_are_removed(tmp_path):
    path = manifest(tmp_path, 6)
    for job in Plan(iter_manifest(path), tmp_path / "shards", "s", shard_size=2).jobs():
        job.finish([])
    assert len(list((tmp_path / "shards").glob("shard-*.parquet"))) == 4
    path.write_text("".join(json.dumps({"id": str(i), "media": []}) + "\n" for i in range(3)))
    list(Plan(iter_manifest(path), tmp_path / "shards", "s", shard_size=2).jobs())
    assert sorted(p.name for p in (tmp_path / "shards").glob("shard-*.parquet")) == [
        "shard-00000.parquet", "shard-00001.parquet"]
