"""The wheel carries the configs and samples, and the command runs from it outside the clone."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    return next(out.glob("ava-*.whl"))


def test_wheel_contents(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ["ava_conf/verbalize.yaml", "ava_conf/vision/clip.yaml", "ava/samples/ads.jsonl",
                     "ava/samples/media/measure5.mp4", "ava/verbalize/pipeline.py", "ava_kernels/__init__.py"]:
        assert required in names
    assert not any(n.startswith(("kernels/", "conf/", "tests/")) for n in names)


def test_command_runs_from_the_installed_wheel(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run([sys.executable, "-c", "import ava, ava_conf; print(ava.__file__)"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip().startswith(str(site))
    cfg = subprocess.run([sys.executable, "-m", "ava.verbalize", "--cfg", "job", "output_dir=x"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert cfg.returncode == 0, cfg.stderr
    assert "model: ViT-B-32" in cfg.stdout and "shard_size: 16" in cfg.stdout
