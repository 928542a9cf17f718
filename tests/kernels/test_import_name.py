"""The repo's kernels/ folder is the package ``ava_kernels`` and must not pass for PyPI's ``kernels``."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import importlib.util, json, sys
from transformers.utils import import_utils
spec = importlib.util.find_spec("kernels")
print(json.dumps({
    "kernels_dir_on_path": spec is not None and (spec.origin or "").startswith(sys.argv[1]),
    "is_kernels_available": import_utils.is_kernels_available(),
    # hub_kernels does `from kernels import ...` only when it believes PyPI's kernels is installed
    "hub_kernels_imported": hasattr(__import__("transformers.integrations.hub_kernels", fromlist=["x"]),
                                    "get_kernel_hub"),
}))
"""


def test_transformers_does_not_take_repo_kernels_for_pypi_kernels(tmp_path):
    # Run from the repo root, where `kernels/` (with an __init__.py) sits first on sys.path via "".
    out = subprocess.run([sys.executable, "-c", PROBE, str(REPO)], cwd=REPO, capture_output=True, text=True,
                         check=True,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"})
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["kernels_dir_on_path"], "the probe should see the repo's kernels/ folder as a candidate"
    assert probe["is_kernels_available"] is False
    assert probe["hub_kernels_imported"] is False


def test_kernels_folder_ships_as_ava_kernels():
    import ava_kernels
    import ava_kernels.lora_linear as kl

    assert Path(ava_kernels.__file__).resolve().parent == REPO / "kernels"
    assert hasattr(kl, "LoraLinearFunction")
