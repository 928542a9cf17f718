"""Shared by every ``python -m ava.*`` command: device choice, atomic writes (bytes, JSON, Parquet), file hashes,
scratch folders, SIGTERM as an exit, full-disk errors, run summaries."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import resource
import shlex
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

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


def temp_beside(path: str | Path) -> tuple[int, Path]:
    """(open fd, name) of a new temp file in ``path``'s folder, for writing ``path`` by temp + rename.

    Made exclusively (``mkstemp``: ``O_CREAT | O_EXCL``, a random name), so a symlink planted in a shared
    ``output_dir`` is never written through; ``os.replace`` onto ``path`` then replaces a link there, not its
    target. Its mode is what ``open()`` would give (``0666 & ~umask``), not mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, Path(tmp)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    with atomic_open(path) as fh:
        fh.write(data)


@contextmanager
def atomic_open(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file to write that replaces ``path`` whole when the block ends (streamed: for files too large
    to build in memory); an exception leaves ``path`` as it was and removes the temporary file."""
    fd, tmp = temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: str | Path) -> str:
    """The SHA-256 (hex) of a file's bytes, read 1 MiB at a time (media and weights files of any size)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; restored at once
    os.umask(mask)
    return mask


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode())


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> None:
    """Write one JSON object a line, atomically (NaN stays NaN: for logs of our own, read with allow_nan)."""
    atomic_write_bytes(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())


class LinkRefused(OSError):
    """A symbolic link where a file of this run's was to be opened for writing (planted in a shared folder)."""


def open_nofollow(path: str | Path, flags: int, mode: int = 0o666) -> int:
    """``os.open`` with ``O_NOFOLLOW``, for files a run writes in place (appends, repairs): a symbolic link at
    ``path`` raises :class:`LinkRefused` naming it and its target, which is never opened."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise LinkRefused(errno.ELOOP, f"{path} is a symbolic link (to {os.readlink(path)}), not a file of this "
                          "run's; it is not written through: remove it (its target is left alone)") from None


def append_jsonl(path: str | Path, rows: Iterable[Any]) -> None:
    """Append one JSON object a line to a log of our own (NaN stays NaN), never through a symlink: a link
    planted at ``path`` (a shared ``output_dir``) is replaced by a regular file, and that is announced."""
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    try:
        fd = open_nofollow(path, flags)
    except LinkRefused:
        log.warning("%s is a symbolic link (to %s); replaced by a regular file, the link's target is left alone",
                    path, os.readlink(path))
        os.unlink(path)
        fd = open_nofollow(path, flags | os.O_EXCL)
    with os.fdopen(fd, "ab") as fh:
        fh.write(data)


def write_table(path: str | Path, table: Any) -> None:
    """Write a ``pyarrow.Table`` as Parquet, atomically (table → bytes in memory → temp file → rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


@contextmanager
def terminate_as_exit() -> Iterator[None]:
    """While the block runs, SIGTERM (``kill``, a scheduler's time limit) raises ``SystemExit(143)``, so every
    ``finally`` and ``with`` on the way out runs (temp files and scratch folders removed) before the process
    ends with the status a SIGTERM gives. Outside the main thread (no handler can be set there) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def scratch_dir(parent: str | Path, prefix: str) -> Iterator[Path]:
    """A new private folder ``parent/<prefix>XXXXXXXX``, removed when the block ends (an error, Ctrl-C, and a
    SIGTERM inside :func:`terminate_as_exit` included).

    A SIGKILL or a power cut still leaves one behind, so each folder is held under an exclusive ``flock`` while
    in use, and every ``<prefix>*`` folder under ``parent`` that no process holds is removed first: a run
    never deletes the folder of a run still going on the same ``parent``, and stale ones do not pile up.
    """
    parent = Path(parent)
    for stale in sorted(parent.glob(f"{prefix}*")):
        _remove_if_unheld(stale)
    path: Path | None = None
    fd: int | None = None
    try:  # from the folder's creation on: a SIGTERM right after mkdtemp must not leave it behind
        while True:
            path = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # waits if another run's clean-up holds it, then sees it gone
            except OSError as exc:  # a file system without flock: the folder is still removed on exit
                log.info("cannot lock %s (%s): if this run is killed, it stays behind", path, exc.strerror)
            if path.is_dir():
                break
            os.close(fd)
            fd = None
        yield path
    finally:
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
        if fd is not None:
            os.close(fd)


def _remove_if_unheld(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)  # never through a planted link
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held by a run going on now (or no flock here: cannot tell, so kept)
        os.close(fd)
        return
    try:
        shutil.rmtree(path, ignore_errors=True)
        log.info("removed %s, left by a run that was killed", path)
    finally:
        os.close(fd)


class DiskFullError(OSError):
    """No space (or quota) left where a command writes; the message names the disk(s) and their free space."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it came from) is a write that ran out of disk or quota: an ``OSError``
    ENOSPC / EDQUOT / EFBIG, SQLite's SQLITE_FULL ("database or disk is full"), or torch's checkpoint writer,
    which loses the errno and says only ``unexpected pos N vs M`` (its zip writer wrote less than asked)."""
    seen, cur = set(), exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return True
        if getattr(cur, "sqlite_errorcode", None) == 13 or (  # SQLITE_FULL
                isinstance(cur, RuntimeError) and "unexpected pos" in str(cur)):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def disk_full_error(exc: BaseException, folder: str | Path, doing: str) -> DiskFullError:
    """The error for a full disk met while ``doing`` under ``folder``: the disks written and their free space.

    Besides ``folder``, a command may write to the system's temp folder (SQLite's sort files), so that is named
    too when it is on another file system.
    """
    places = [Path(folder).absolute()]
    tmp = Path(tempfile.gettempdir())
    try:
        if os.stat(tmp).st_dev != os.stat(places[0]).st_dev:
            places.append(tmp)
    except OSError:
        pass
    free = []
    for place in places:
        try:
            usage = shutil.disk_usage(place)
            free.append(f"{place}: {usage.free / 2**20:,.1f} MiB free of {usage.total / 2**20:,.1f} MiB")
        except OSError as err:
            free.append(f"{place}: {err.strerror}")
    return DiskFullError(errno.ENOSPC, f"no space left on the disk while {doing} ({'; '.join(free)}): the disk is "
                                       f"full or a quota was reached ({type(exc).__name__}: {str(exc):.160}). "
                                       "Free space there or choose another output_dir")


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
    """The ``output_dir`` a command line asks for (its last ``output_dir=`` override as Hydra's own parsers read
    it, else the root config's default); None when it is not one plain path (``???``, an interpolation, a
    sweep) or the command line does not parse (Hydra then reports it itself)."""
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    args, _ = get_args_parser().parse_known_args(argv)
    try:
        overrides = OverridesParser.create().parse_overrides(args.overrides)
    except HydraException:
        return None
    ours = [o for o in overrides if o.key_or_group == "output_dir" and not o.is_delete()]
    if ours and ours[-1].is_sweep_override():
        return None
    if ours:
        value = ours[-1].value()
    else:
        from importlib.resources import files

        from omegaconf import OmegaConf

        node = OmegaConf.load(str(files("ava_conf") / f"{config_name}.yaml"))
        value = OmegaConf.to_container(node, resolve=False).get("output_dir")
    if not isinstance(value, str) or not value or value == "???" or "${" in value:
        return None
    return value


class CommandLineError(SystemExit):
    """A command-line override Hydra would misread; the message shows it quoted so that Hydra reads it."""


def hydra_quoted(value: str) -> str:
    """``value`` as a double-quoted Hydra string: ``"`` escaped, and the backslashes before it or at the end
    doubled (Hydra's rule: backslashes elsewhere stay as they are)."""
    escaped = re.sub(r'(\\*)("|$)', lambda m: m.group(1) * 2 + ("\\" + m.group(2) if m.group(2) else ""), value)
    return f'"{escaped}"'


def check_overrides(argv: list[str]) -> None:
    """Refuse, with the fix, an override whose value Hydra's grammar would misread but reads once quoted.

    A path holding ``=``, ``#``, brackets, parentheses, braces, a quote or a non-ASCII letter is a parse error
    ("mismatched input '='"), and one holding a comma (``my ads, 2024.jsonl``) a list to sweep over. The error
    names the argument and gives it quoted for Hydra and for a POSIX shell. Values already quoted, and commas
    under ``-m`` (a sweep), are left to Hydra.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    multirun = "-m" in argv or "--multirun" in argv
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        if not value or value[0] in "'\"":
            continue
        try:
            override = parser.parse_override(arg)
            why = "Hydra reads its commas as a list to sweep over" if override.is_sweep_override() else ""
        except Exception as exc:  # hydra.errors.OverrideParseException and the grammar's own errors
            why = f"Hydra cannot parse it: {str(exc).splitlines()[0]}"
        if not why or (multirun and "," in value):
            continue
        fixed = f"{key}={hydra_quoted(value)}"
        try:
            if parser.parse_override(fixed).value() != value:
                continue
        except Exception:
            continue
        raise CommandLineError(
            f"{arg}: {why}. A value holding '=', ', ', '#', brackets, quotes or non-ASCII letters must be quoted "
            f"for Hydra inside the argument: {fixed}, in a POSIX shell {shlex.quote(fixed)}"
            + (" (or add -m to sweep over the comma-separated values)" if "," in value else "")
        )


def checked_output_dir(config_name: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Decorates a ``@hydra.main`` entry point: before Hydra starts, check the command line's overrides
    (:func:`check_overrides`) and its ``output_dir``."""
    def wrap(main: Callable[[], Any]) -> Callable[[], Any]:
        @functools.wraps(main)
        def run() -> Any:
            check_overrides(sys.argv[1:])
            path = output_dir_of(sys.argv[1:], config_name)
            if path is not None:
                check_output_dir(path)
            return main()
        return run
    return wrap


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    Linux: ``VmHWM`` of /proc/self/status, this program's own peak. ``ru_maxrss`` is kept across ``exec``, so a
    command started by a large process (a test runner, a launcher) would report its parent's peak instead.
    """
    try:
        with open("/proc/self/status") as fh:
            return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration, ValueError, IndexError):
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
