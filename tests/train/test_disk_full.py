"""python -m ava.train on a full disk (issue #25, item 21): the error names the disk and the output folder, not
torch's "unexpected pos"; no truncated loss.png is left. The disk is "filled" with RLIMIT_FSIZE (writes past
the limit fail with EFBIG, as ENOSPC on a full disk), so the test needs no mount and no root."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from ava.models.tiny import build_tiny
from tests.train.samples import FAST, REPO

LIMIT = 150_000  # bytes a file: the adapter (~110 KB) fits, the checkpoint's optimizer.pt (~220 KB) does not


def _limited() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_full_disk_is_named_and_leaves_no_truncated_plot(dataset_dir, tmp_path):
    build_tiny()  # the tiny model's files are written here, before the limit
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ava.train", f"dataset={dataset_dir}", f"output_dir={out}", *FAST,
           "trainer.max_steps=2", "trainer.save_steps=2", "trainer.eval_steps=0"]
    proc = subprocess.run(cmd, cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=300,
                          preexec_fn=_limited)
    assert proc.returncode != 0
    raised = [ln for ln in proc.stderr.splitlines() if ln[:1].isalpha() and "Error" in ln.split(":")[0]]
    last = raised[-1]  # the exception the command ended with (the chain's last one; tqdm lines follow it)
    assert last.startswith("ava.runtime.DiskFullError") and "disk is full" in last, proc.stderr[-3000:]
    assert str(out) in last and "MiB free" in last
    png = Path(out / "loss.png")
    assert not png.exists() or png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".loss.png.*"))  # no temp file left either
