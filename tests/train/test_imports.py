"""python -m ava.train: ``--help``, ``--cfg job`` and a config error return without importing torch,
transformers or peft (issue #27: the import cost 5.7 s and ~1 GB for every sweep job and every typo)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "peft")
PROBE = """
import runpy, sys
sys.argv = ["ava.train", *sys.argv[1:]]
try:
    runpy.run_module("ava.train", run_name="__main__")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print("HEAVY=" + ",".join(m for m in {heavy!r} if m in sys.modules), "CODE=" + str(code), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["--cfg", "job", "dataset=d", "output_dir=o"],
                                  ["dataset=d", "output_dir=o", "trainer.no_such_key=1"]])
def test_entry_point_imports_no_torch(args, tmp_path):
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("HEAVY= "), proc.stderr[-2000:]  # the probe ran to its end, nothing heavy loaded
    if args[-1].startswith("trainer.no_such_key"):
        assert "no_such_key" in proc.stderr and not last.endswith("CODE=0")


def test_thread_policy_is_set_before_torch_and_reported(tmp_path):
    """auto = the cores of this process's affinity (no cgroup quota assumed lower), passive wait policy."""
    code = ("import os, sys; from ava.runtime import apply_thread_policy, usable_cores;"
            "got = apply_thread_policy('auto', 'passive'); import torch;"
            "print(got['threads'], usable_cores(), torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'],"
            " len(os.sched_getaffinity(0)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in __import__("os").environ.items() if not k.startswith("OMP_")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    threads, usable, torch_threads, policy, affinity = proc.stdout.split()
    assert threads == usable == torch_threads and policy == "PASSIVE" and 1 <= int(usable) <= int(affinity)
    # taskset-like restriction: one core allowed -> auto gives 1
    code1 = "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); " + code
    proc = subprocess.run([sys.executable, "-c", code1], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[:3] == ["1", "1", "1"]
