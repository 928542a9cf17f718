"""python -m ava.verbalize (and any command that writes a folder in place): one run per output folder at a time.

Two ``ava.verbalize`` runs on one ``output_dir`` at once corrupted each other: run B removed the temp shard run
A was writing and A died with ``FileNotFoundError``. :func:`output_lock` takes an exclusive ``flock`` on
``DIR/.lock`` (released by the kernel when the process ends, however it ends: no stale lock after ``kill -9``)
and writes the holder's PID into it, so a second run stops at once with "in use by PID N". The lock file is
opened by ``runtime.open_nofollow``: a symbolic link planted in its place is refused by name, never followed.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ava.runtime import LinkRefused, open_nofollow

LOCK_NAME = ".lock"


class OutputInUse(SystemExit):
    """The output folder is held by another running process (exit status 1, the message on stderr)."""


@contextmanager
def output_lock(out_dir: str | Path, command: str) -> Iterator[None]:
    """Hold ``out_dir``'s lock for the block; raise :class:`OutputInUse` naming the holder's PID if taken."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = open_nofollow(out_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except LinkRefused:
        raise SystemExit(f"{out_dir / LOCK_NAME} is a symbolic link, not {command}'s lock file: remove it "
                         "(nothing was written through it)") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            raise OutputInUse(f"output_dir={out_dir} is in use by PID {holder} (another {command} run writing "
                              "there); wait for it to finish or choose another output_dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays (removing it would race a run that just opened it)
