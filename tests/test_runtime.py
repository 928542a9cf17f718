"""ava.runtime: atomic writes keep the old file or write the whole new one, with the mode open() would give."""

import hashlib
import os
import stat
import subprocess
import sys

import pytest

from ava.runtime import append_jsonl, atomic_write_bytes, sha256_file


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


def test_append_jsonl_never_writes_through_a_planted_link(tmp_path, caplog):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n")
    log = tmp_path / "out" / "metrics.jsonl"
    log.parent.mkdir()
    log.symlink_to(outside)
    append_jsonl(log, [{"step": 1, "loss": float("nan")}])
    append_jsonl(log, [{"step": 2, "loss": 0.5}])
    assert outside.read_text() == "keep me\n"
    assert not log.is_symlink()
    assert log.read_text() == '{"step": 1, "loss": NaN}\n{"step": 2, "loss": 0.5}\n'
    assert "symbolic link" in caplog.text and str(outside) in caplog.text
    dangling = tmp_path / "out" / "dangling.jsonl"
    dangling.symlink_to(tmp_path / "created-outside.jsonl")
    append_jsonl(dangling, [{"a": 1}])
    assert not (tmp_path / "created-outside.jsonl").exists() and dangling.read_text() == '{"a": 1}\n'


def test_output_dir_under_a_file_is_refused_before_hydra_starts(tmp_path):
    (tmp_path / "a_file").write_text("not a folder\n")
    for module in ("ava.verbalize", "ava.build_dataset", "ava.dedup"):
        proc = subprocess.run([sys.executable, "-m", module, f"output_dir={tmp_path / 'a_file' / 'out'}",
                               f"input={tmp_path}", f"manifest={tmp_path / 'ads.jsonl'}"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, (module, proc.stderr[-2000:])
        assert f"{tmp_path / 'a_file'} is a file, not a folder" in proc.stderr, module
        assert "Traceback" not in proc.stderr and "logs" not in proc.stderr  # Hydra never got to its log folder


def test_check_output_dir(tmp_path):
    from ava.runtime import OutputDirError, check_output_dir, output_dir_of

    check_output_dir(tmp_path / "new" / "deeper")  # a folder that does not exist yet, under a writable one
    assert not (tmp_path / "new").exists()  # checking makes nothing
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputDirError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "f")
    with pytest.raises(OutputDirError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "f" / "sub")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if not os.access(locked, os.W_OK):  # root writes anywhere: this half runs as an ordinary user only
        with pytest.raises(OutputDirError, match="not writable"):
            check_output_dir(locked / "out")
    assert output_dir_of(["x=1", "output_dir=/a", "++output_dir='/b'"], "verbalize") == "/b"
    assert output_dir_of([], "verbalize") == "outputs/verbalize"  # the root config's default
    assert output_dir_of([], "train") is None  # ??? : Hydra reports the missing value itself
    assert output_dir_of(["-m", "output_dir=/a,/b"], "train") is None
    # Hydra's own parsers: flags and their values are not overrides; a quoted path keeps its ", " and "="
    assert output_dir_of(["--cfg", "job", "output_dir='/x/a, b=c'", "seed=1"], "train") == "/x/a, b=c"
    assert output_dir_of(["output_dir=${oc.env:HOME}"], "train") is None  # an interpolation: Hydra resolves it
    assert output_dir_of(["output_dir=[unclosed"], "train") is None  # Hydra reports the parse error itself


def test_pick_device_without_torch_asks_the_driver():
    # this machine may or may not have a GPU: torch's answer and the driver's agree on a working machine
    import torch

    from ava.runtime import cuda_driver_devices, pick_device

    assert (cuda_driver_devices() > 0) == torch.cuda.is_available()
    assert pick_device("auto", torch_runs=False) == pick_device("auto") == ("cuda" if torch.cuda.is_available()
                                                                            else "cpu")
    assert pick_device("cpu", torch_runs=False) == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            pick_device("cuda:0", torch_runs=False)


def test_pick_device_without_torch_does_not_import_it():
    code = ("import sys; from ava.runtime import pick_device; d = pick_device('auto', torch_runs=False); "
            "print(d, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1] == "False" and out[0] in ("cpu", "cuda")


def test_peak_rss_is_the_commands_own_not_its_parents():
    """ru_maxrss survives exec: a command started by a 300 MB process would report 300 MB as its own peak."""
    import subprocess
    import sys

    ballast = bytearray(300 * 2**20)  # noqa: F841  (the parent's memory, touched)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    out = subprocess.run([sys.executable, "-c", "from ava.runtime import peak_rss_mb; print(peak_rss_mb())"],
                         capture_output=True, text=True, check=True).stdout
    assert float(out) < 150, out


ODD_VALUES = ["/data/my ads, 2024/ads.jsonl", "/data/a=b/ads.jsonl", "/data/café/ads.jsonl", "/data/a#1/x",
              "/data/[x](y){z}/x", "/data/it's/x", "C:\\ads=2\\", 'a\\"b']


@pytest.mark.parametrize("value", ODD_VALUES)
def test_odd_path_is_refused_with_a_quoted_form_hydra_reads_back(value):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from ava.runtime import CommandLineError, check_overrides

    with pytest.raises(CommandLineError) as err:
        check_overrides(["dedup=null", f"manifest={value}"])
    fixed = str(err.value).split("inside the argument: ", 1)[1].split(", in a POSIX shell ")[0]
    assert fixed.startswith('manifest="')
    assert OverridesParser.create().parse_override(fixed).value() == value  # the advice works, byte for byte
    check_overrides(["dedup=null", fixed])  # and is accepted


def test_overrides_hydra_reads_are_left_alone():
    from ava.runtime import check_overrides

    check_overrides(["model=smollm2_135m", "+a.b=3", "~c", "d=[1,2]", "e={a:1}", "f=${g}", "g='x=y'", "-m", "seed=1,2",
                     "--config-name", "train", "h=/data/plain path/ads.jsonl"])


def test_path_with_comma_and_equals_on_the_command_line(tmp_path):
    """The command refuses the bare path before Hydra starts (exit 1, the quoted form in the message), and runs
    with the quoted form it gives."""
    import json
    import shlex

    from ava.build_dataset.synthetic import ad, write_manifest

    folder = tmp_path / "my ads, 2024=final"
    folder.mkdir()
    write_manifest(folder / "ads.jsonl", [ad("a"), ad("b", "p2")])
    base = [sys.executable, "-m", "ava.build_dataset", "verbalized=null", "dedup=null", f"output_dir={tmp_path / 'o'}",
            "dataset_tasks.generators.ts.enabled=false", "dataset_tasks.generators.tc.enabled=false"]
    bare = subprocess.run([*base, f"manifest={folder / 'ads.jsonl'}"], capture_output=True, text=True, timeout=300)
    assert bare.returncode == 1 and "Traceback" not in bare.stderr
    shell_form = bare.stderr.split("in a POSIX shell ", 1)[1].split(" (or add -m")[0].strip()
    ok = subprocess.run([*base, *shlex.split(shell_form)], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr[-2000:]
    summary = json.loads((tmp_path / "o" / "build_summary.json").read_text())
    assert summary["inputs"]["manifest"] == str(folder / "ads.jsonl") and summary["counts"]["ads_read"] == 2


def test_sha256_file_streams_any_size(tmp_path):
    data = os.urandom(5 * (1 << 20) // 2 + 7)  # 2.5 MiB + 7 bytes: chunks of 1 MiB and a short last one
    (tmp_path / "big").write_bytes(data)
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "big") == hashlib.sha256(data).hexdigest()
    assert sha256_file(str(tmp_path / "empty")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
