"""Shared by every ``python -m ava.*`` command: device choice, atomic writes (bytes, JSON, Parquet), run summaries."""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import logging
import os
import resource
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def cuda_driver_devices() -> int:
    """CUDA devices the driver reports (libcuda through ctypes): the answer without importing torch."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def pick_device(device: str = "auto", torch_runs: bool = True) -> str:
    """``auto`` → ``cuda`` when a CUDA device is present, else ``cpu``; anything else is checked and returned.

    Present means usable by torch when torch will run on it (``torch_runs``); otherwise, as asked of the driver,
    so that a command with no torch model never imports torch for this.
    """
    if torch_runs:
        import torch

        present = torch.cuda.is_available()
    else:
        present = cuda_driver_devices() > 0
    if device == "auto":
        return "cuda" if present else "cpu"
    if device.startswith("cuda") and not present:
        raise RuntimeError(f"device={device} was asked for but no CUDA device is present; use device=auto or cpu")
    return device


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; the file gets what open() would have given it
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; restored at once
    os.umask(mask)
    return mask


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode())


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> None:
    """Write one JSON object a line, atomically (NaN stays NaN: for logs of our own, read with allow_nan)."""
    atomic_write_bytes(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())


def write_table(path: str | Path, table: Any) -> None:
    """Write a ``pyarrow.Table`` as Parquet, atomically (table → bytes in memory → temp file → rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


class OutputDirError(SystemExit):
    """An ``output_dir`` nothing can be written under (the message says which folder and why)."""


def check_output_dir(path: str | Path) -> None:
    """Refuse, before anything runs, an ``output_dir`` under a file or a folder this user cannot write.

    The nearest existing folder on the path must be a folder and writable; otherwise
    :class:`OutputDirError` (exit status 1, the message on stderr, no traceback). Hydra makes its log folder
    under ``output_dir`` before the command's code runs, so the entry points call this first
    (:func:`checked_output_dir`), and verbalize, dedup and build_dataset call it again (they may be called
    without Hydra).
    """
    target = Path(path).absolute()
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise OutputDirError(f"output_dir={path}: {probe} is a file, not a folder, so nothing can be written "
                             "under it; choose another output_dir")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputDirError(f"output_dir={path}: the folder {probe} is not writable by this user; choose "
                             "another output_dir or change the folder's permissions")


def output_dir_of(argv: list[str], config_name: str) -> str | None:
    """The ``output_dir`` a command line asks for (its last ``output_dir=`` override, else the root config's
    default); None when it is not a plain path (``???``, an interpolation, a multirun list)."""
    values = [a.split("=", 1)[1] for a in argv if a.lstrip("+").startswith("output_dir=")]
    if values:
        value = values[-1].strip("'\"")
    else:
        from importlib.resources import files

        from omegaconf import OmegaConf

        node = OmegaConf.load(str(files("ava_conf") / f"{config_name}.yaml"))
        value = OmegaConf.to_container(node, resolve=False).get("output_dir")
    if not isinstance(value, str) or not value or value == "???" or "${" in value:
        return None
    if ("-m" in argv or "--multirun" in argv) and "," in value:
        return None
    return value


def checked_output_dir(config_name: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Decorates a ``@hydra.main`` entry point: check the command line's ``output_dir`` before Hydra starts."""
    def wrap(main: Callable[[], Any]) -> Callable[[], Any]:
        @functools.wraps(main)
        def run() -> Any:
            path = output_dir_of(sys.argv[1:], config_name)
            if path is not None:
                check_output_dir(path)
            return main()
        return run
    return wrap


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def loud_warning(message: str) -> None:
    """Announce a fallback once, where a user running the command will see it (log and stderr)."""
    banner = "!" * 78
    log.warning(message)
    print(f"\n{banner}\nWARNING: {message}\n{banner}\n", file=sys.stderr, flush=True)


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one) and core count, for benchmark rows."""
    import platform

    name = platform.processor() or platform.machine() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            name = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), name)
    except OSError:
        pass
    return f"{name} x{os.cpu_count()}"


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup (v2 ``cpu.max``, v1
    ``cfs_quota_us``) quota rounded up; at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, -(-quota[0] // quota[1])))
    return max(1, cores)


def _cgroup_quota() -> tuple[int, int] | None:
    """(quota, period) in microseconds of this process's cgroup CPU limit, or None when unlimited/unknown."""
    try:
        fields = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if fields and fields[0] != "max":
            return int(fields[0]), int(fields[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return (quota, period) if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


_THREADS_SET: dict[str, Any] = {}


def apply_thread_policy(threads: int | str, wait_policy: str = "passive") -> dict[str, Any]:
    """Set the intra-op thread count and the OpenMP wait policy, once, before torch is imported.

    ``threads``: ``auto`` (:func:`usable_cores`) or a count; ``wait_policy``: ``passive`` (idle OpenMP workers
    sleep: a step beside another process's load stays within ~2× of quiet, see benchmarks/bench_threads.py)
    or ``active`` (they spin: the OpenMP default, a 10× slower step when any other process wants a core).
    The environment (``OMP_NUM_THREADS``, ``OMP_WAIT_POLICY``, ``MKL_NUM_THREADS``) is what the OpenMP runtime
    reads when torch loads it, so a torch already imported keeps its wait policy: that is announced. Returns
    (and logs once) what was set.
    """
    if _THREADS_SET:
        return _THREADS_SET
    n = usable_cores() if str(threads) == "auto" else int(threads)
    if n < 1:
        raise ValueError(f"runtime.threads={threads!r}: auto or a count >= 1")
    policy = str(wait_policy).upper()
    if policy not in {"PASSIVE", "ACTIVE"}:
        raise ValueError(f"runtime.omp_wait_policy={wait_policy!r} is not one of passive, active")
    if "torch" in sys.modules:
        loud_warning("torch was imported before the thread policy was set: its OpenMP wait policy stays as it "
                     "was; only the thread count is applied")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    os.environ["OMP_WAIT_POLICY"] = policy
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    _THREADS_SET.update(threads=n, requested=str(threads), omp_wait_policy=policy)
    log.info("threads: %d intra-op (runtime.threads=%s), OMP_WAIT_POLICY=%s", n, threads, policy)
    return _THREADS_SET


DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class DiskFullError(OSError):
    """A write under an output folder failed for lack of space (the message names the folder and its free space)."""


def disk_full(exc: BaseException, folder: str | Path) -> DiskFullError | None:
    """The :class:`DiskFullError` to raise instead of ``exc`` when it (or an exception it came from) is a write
    that ran out of disk or quota; None otherwise. torch's checkpoint writer loses the errno and says only
    ``unexpected pos N vs M`` (its zip writer wrote less than asked), so that message counts too."""
    seen, cur = set(), exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if (isinstance(cur, OSError) and cur.errno in DISK_ERRNOS) or (
                isinstance(cur, RuntimeError) and "unexpected pos" in str(cur)):
            break
        cur = cur.__cause__ or cur.__context__
    else:
        return None
    probe = Path(folder).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free / 2**20
    return DiskFullError(errno.ENOSPC, f"writing under {folder} failed: the disk is full or a disk/file-size "
                         f"quota was reached ({free:.0f} MiB free on its filesystem; {type(exc).__name__}: "
                         f"{str(exc):.160}). Free some space (or raise the quota) and rerun with resume=true, "
                         "or choose another output_dir")
