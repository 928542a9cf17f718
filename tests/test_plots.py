"""ava.plots.save (build_summary.png, train's loss.png, evaluate's figures): written by exclusive temp + rename."""

import pytest

from ava import plots


def _figure():
    fig, ax = plots.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    return fig


def test_planted_symlink_is_replaced_not_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    (tmp_path / "out").mkdir()
    link = tmp_path / "out" / "loss.png"
    link.symlink_to(victim)
    plots.save(_figure(), link)
    assert victim.read_bytes() == b"precious"
    assert link.is_file() and not link.is_symlink() and link.read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["loss.png"]  # no temp file left


def test_failed_write_keeps_the_old_png(tmp_path, monkeypatch):
    path = tmp_path / "loss.png"
    plots.save(_figure(), path)
    old = path.read_bytes()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", full)
    with pytest.raises(OSError, match="No space left"):
        plots.save(_figure(), path)
    assert path.read_bytes() == old and sorted(p.name for p in tmp_path.iterdir()) == ["loss.png"]
