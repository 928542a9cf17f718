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
