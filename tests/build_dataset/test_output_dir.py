"""build_dataset and its output_dir: planted symlinks, SIGTERM, scratch folders left by killed runs, a full disk."""

import fcntl
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from ava.build_dataset.run import WORK_PREFIX, build_dataset
from ava.build_dataset.synthetic import ad, random_ads, write_manifest, write_verbalized
from ava.lock import OutputInUse, output_lock
from ava.runtime import DiskFullError
from tests.build_dataset.helpers import cfg_for, leftovers

COMMAND = [sys.executable, "-m", "ava.build_dataset", "dedup=null", "dataset_tasks.generators.ts.enabled=false",
           "dataset_tasks.generators.tc.enabled=false"]


@pytest.mark.parametrize(("fmt", "written", "other"), [("jsonl.zst", "train-00000.jsonl.zst", "train.jsonl"),
                                                       ("jsonl", "train.jsonl", "train-00000.jsonl.zst")])
def test_symlinks_planted_in_output_dir_are_never_written_through(tmp_path, fmt, written, other):
    """Links at the old fixed temp names and at the outputs themselves, in both sample formats: the files they
    point at keep their bytes, the outputs become regular files (os.replace replaces a link, not its target),
    and a link where the other format's file would be is removed (unlinked), its target kept."""
    out = tmp_path / "out"
    out.mkdir()
    victims = {}
    for name in (".train.jsonl.tmp", ".val.jsonl.tmp", "build_summary.png", "build_summary.json", written, other):
        victim = tmp_path / f"victim-{name.strip('.')}"
        victim.write_bytes(b"precious " + name.encode())
        (out / name).symlink_to(victim)
        victims[name] = victim
    write_manifest(tmp_path / "ads.jsonl", [ad("a"), ad("b", "p2"), ad("c", "p3")])
    summary = build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl", extra=[f"samples.format={fmt}"]))
    assert sum(summary["samples"].values()) > 0
    for name, victim in victims.items():
        assert victim.read_bytes() == b"precious " + name.encode(), name
    for name in ("build_summary.png", "build_summary.json", written):
        assert (out / name).is_file() and not (out / name).is_symlink(), name
    assert not os.path.lexists(out / other)
    assert (out / "build_summary.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [".lock", ".train.jsonl.tmp",
                                                                               ".val.jsonl.tmp"]


def test_scratch_left_by_a_killed_run_is_removed_and_a_running_ones_kept(tmp_path):
    out = tmp_path / "out"
    stale = out / f"{WORK_PREFIX}killed"  # what a SIGKILL leaves: nobody holds it
    stale.mkdir(parents=True)
    (stale / "media.sqlite").write_bytes(b"x" * 1000)
    held = out / f"{WORK_PREFIX}running"  # another build going on in the same output_dir holds its lock
    held.mkdir()
    fd = os.open(held, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    (out / f"{WORK_PREFIX}link").symlink_to(elsewhere)  # a planted link is never followed
    try:
        write_manifest(tmp_path / "ads.jsonl", [ad("a"), ad("b", "p2")])
        build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl"))
    finally:
        os.close(fd)
    left = sorted(p.name for p in out.iterdir() if p.name.startswith(WORK_PREFIX))
    assert left == [f"{WORK_PREFIX}link", f"{WORK_PREFIX}running"]
    assert (elsewhere / "keep.txt").read_text() == "keep"


def test_sigterm_leaves_no_scratch_copy(tmp_path):
    """SIGTERM as soon as the scratch SQLite folder exists: exit status 143, nothing left behind (before: the
    .work-* copy of every verbalized row stayed after each SIGTERM)."""
    ads = random_ads(3000, pages=40)
    write_manifest(tmp_path / "ads.jsonl", ads)
    write_verbalized(tmp_path / "verb", [{"ad_id": a["id"], "media_index": 0, "verbalization": "words " * 50}
                                         for a in ads])
    out = tmp_path / "out"
    proc = subprocess.Popen([*COMMAND, f"manifest={tmp_path / 'ads.jsonl'}", f"verbalized={tmp_path / 'verb'}",
                             f"output_dir={out}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(out.glob(f"{WORK_PREFIX}*")):
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM
    assert not leftovers(out)
    assert not list(out.glob("*.jsonl*"))  # no split in either form


def _tiny_sqlite(monkeypatch, pages: int) -> None:
    """SQLite's own full-disk error (SQLITE_FULL, "database or disk is full") after ``pages`` pages."""
    connect = sqlite3.connect

    def small(*args, **kwargs):
        db = connect(*args, **kwargs)
        db.execute(f"PRAGMA max_page_count = {pages}")
        return db

    monkeypatch.setattr(sqlite3, "connect", small)


def test_full_disk_under_the_scratch_database_names_the_disk_not_a_shard(tmp_path, monkeypatch):
    write_manifest(tmp_path / "ads.jsonl", [ad(f"a{i}", f"p{i}") for i in range(50)])
    write_verbalized(tmp_path / "verb", [{"ad_id": f"a{i}", "media_index": 0, "verbalization": "w" * 4000}
                                         for i in range(50)])
    cfg = cfg_for(tmp_path, tmp_path / "ads.jsonl", tmp_path / "verb")
    build_dataset(cfg)
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}
    _tiny_sqlite(monkeypatch, pages=8)
    with pytest.raises(DiskFullError) as err:
        build_dataset(cfg)
    message = str(err.value)
    assert "no space left on the disk" in message and f"{tmp_path / 'out'}: " in message and "MiB free" in message
    assert "database or disk is full" in message and "parquet" not in message and "re-verbalize" not in message
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()} == before  # kept
    assert not leftovers(tmp_path / "out")


def _can_mount_tmpfs() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs unshare -rm to mount a tmpfs (user namespaces)")
@pytest.mark.parametrize("full", ["scratch", "samples"])
def test_real_full_disk_names_the_disk(tmp_path, full):
    """A real full disk: output_dir on a 1 MiB tmpfs (a private mount namespace), filled by the scratch SQLite
    (verbalized rows of 3 MB) or by the samples (verbalized=null). The error names the disk; the previous
    train.jsonl stays; no temp file or scratch folder is left."""
    ads = random_ads(1500, pages=40)
    write_manifest(tmp_path / "ads.jsonl", ads)
    verbalized = "null"
    if full == "scratch":
        write_verbalized(tmp_path / "verb", [{"ad_id": a["id"], "media_index": 0, "verbalization": "w" * 2000}
                                             for a in ads])
        verbalized = str(tmp_path / "verb")
    disk = tmp_path / "disk"
    disk.mkdir()
    script = ('mount -t tmpfs -o size=1m tmpfs "$1" && mkdir "$1/out" && echo old > "$1/out/train.jsonl" && '
              '"$2" -m ava.build_dataset dedup=null dataset_tasks.generators.ts.enabled=false '
              'dataset_tasks.generators.tc.enabled=false hydra.job.chdir=false "manifest=$3" "verbalized=$4" '
              '"output_dir=$1/out" "hydra.run.dir=$5"; echo "rc=$?"; ls -A "$1/out"; cat "$1/out/train.jsonl"')
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(disk), sys.executable,
                           str(tmp_path / "ads.jsonl"), verbalized, str(tmp_path / "logs")],
                          capture_output=True, text=True, timeout=600)
    lines = proc.stdout.splitlines()
    assert "rc=1" in lines, proc.stdout + proc.stderr[-3000:]
    assert f"no space left on the disk while building the dataset in {disk}/out" in proc.stderr
    assert f"{disk}/out: " in proc.stderr and "MiB free of 1.0 MiB" in proc.stderr
    assert "re-verbalize" not in proc.stderr
    # where it filled: SQLite's own error for the scratch rows, the OS's for the samples
    assert ("database or disk is full" if full == "scratch" else "[Errno 28] No space left on device") in proc.stderr
    listing = lines[lines.index("rc=1") + 1:]
    assert listing == [".lock", "train.jsonl", "old"], listing  # no temp file, no scratch folder; the old output kept


def test_a_second_build_on_the_same_output_dir_is_refused_naming_the_first(tmp_path):
    """Two builds on one output_dir would interleave their shards' renames: the second stops at once."""
    write_manifest(tmp_path / "ads.jsonl", [ad("a"), ad("b", "p2")])
    with output_lock(tmp_path / "out", "python -m ava.build_dataset"):
        with pytest.raises(OutputInUse, match=f"in use by PID {os.getpid()} "):
            build_dataset(cfg_for(tmp_path, tmp_path / "ads.jsonl"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".lock"]
