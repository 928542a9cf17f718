"""Every ``python -m ava.*`` command that reads JSON Lines (manifest, dataset, predictions, metrics): one reader.

:func:`iter_jsonl` yields ``(1-based line number, object | LineError)`` for every non-blank line and never
raises on a bad line, so each caller decides what a bad line means (the manifest counts it, the dataset stops
with file and line, predictions list every bad line) and words its own message from :class:`LineError`.

The rules, in one place:

- a UTF-8 byte-order mark at the start of the file is accepted (``utf-8-sig``); a line holding only a BOM is
  skipped like a blank line; a BOM before JSON elsewhere is that line's error;
- a line that is not UTF-8 is that line's error (``kind="not_utf8"``);
- ``NaN`` / ``Infinity`` / ``-Infinity`` (which Python's ``json`` accepts and strict JSON does not) are that
  line's error (``kind="non_finite"``) unless the caller passes ``allow_nan=True`` (the training metrics log,
  whose loss may be NaN);
- a line nested deeper than the parser's stack is that line's error (``kind="too_deep"``), not a
  ``RecursionError`` that stops the run;
- an integer too large for a float (``1000…0`` with 400 digits, valid JSON) is read as ``±inf``, as JSON's
  ``1e400`` already is, so it meets the caller's rule for non-finite numbers (with its line) instead of an
  ``OverflowError`` wherever it is used as a number; Python's 4,300-digit limit on ``int()`` never applies;
- a line longer than the caller's ``max_line_bytes`` is that line's error (``kind="too_long"``); it is skipped
  a chunk at a time, never held in memory;
- anything else ``json.loads`` refuses is ``kind="malformed"``.
"""

from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

# float's largest finite value has 309 integer digits: a longer integer literal is beyond it without converting
FLOAT_DIGITS = len(str(int(sys.float_info.max)))
SKIP_CHUNK = 2**20  # bytes read at a time while skipping a line over max_line_bytes


class NonFiniteError(ValueError):
    """A ``NaN`` / ``Infinity`` literal in a file read with ``allow_nan=False``."""

    def __init__(self, name: str) -> None:
        super().__init__(f"non-finite number {name} is not valid JSON")
        self.name = name


@dataclass(frozen=True)
class LineError:
    line: int
    kind: str  # not_utf8 | non_finite | too_deep | too_long | malformed
    exc: BaseException  # what the decoder or parser raised (for the caller's message)

    @property
    def detail(self) -> str:
        return str(self.exc)


def _reject_constant(name: str) -> float:
    raise NonFiniteError(name)


def _parse_int(text: str) -> int | float:
    """An integer literal; ``±inf`` when no float holds it (so it is never an ``OverflowError`` later)."""
    digits = text.lstrip("-")
    if len(digits) <= FLOAT_DIGITS:
        value = int(text)
        if abs(value) <= sys.float_info.max:
            return value
    return float("-inf") if text.startswith("-") else float("inf")


class LineTooLong(ValueError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the line is {size:,} bytes, over the limit of {limit:,} bytes; it was not read")
        self.size, self.limit = size, limit


def iter_lines(fh: BinaryIO, max_bytes: int | None = None) -> Iterator[tuple[int, bytes | None, int]]:
    """``(1-based line number, its bytes, its length in bytes)`` for every line of ``fh``, blank ones too.

    A line longer than ``max_bytes`` (its newline not counted) comes as ``None``: it is skipped
    :data:`SKIP_CHUNK` bytes at a time, so memory never holds more than ``max_bytes`` + one chunk of it.
    """
    line_no = 0
    while True:
        raw = fh.readline() if max_bytes is None else fh.readline(max_bytes + 1)
        if not raw:
            return
        line_no += 1
        if max_bytes is None or len(raw) <= max_bytes or raw.endswith(b"\n"):
            yield line_no, raw, len(raw)
            continue
        size = len(raw)
        while chunk := fh.readline(SKIP_CHUNK):
            size += len(chunk)
            if chunk.endswith(b"\n"):
                break
        yield line_no, None, size


def parse_json_line(raw: bytes, line: int, allow_nan: bool = False) -> Any | LineError:
    """One line's object, or its :class:`LineError`; a BOM is stripped from line 1. Never raises."""
    if line == 1:
        raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return LineError(line, "not_utf8", exc)
    try:
        if allow_nan:
            return json.loads(text, parse_int=_parse_int)
        return json.loads(text, parse_int=_parse_int, parse_constant=_reject_constant)
    except NonFiniteError as exc:
        return LineError(line, "non_finite", exc)
    except RecursionError as exc:
        return LineError(line, "too_deep", exc)
    except ValueError as exc:
        return LineError(line, "malformed", exc)


def _blank(raw: bytes) -> bool:
    return not raw.strip() or raw.strip() == codecs.BOM_UTF8


def iter_jsonl(path: str | Path, allow_nan: bool = False, max_line_bytes: int | None = None
               ) -> Iterator[tuple[int, Any | LineError]]:
    """``(line number, object | LineError)`` for every non-blank line of ``path``, in file order."""
    with Path(path).open("rb") as fh:
        yield from iter_jsonl_stream(fh, allow_nan, max_line_bytes)


def iter_jsonl_stream(fh: BinaryIO, allow_nan: bool = False, max_line_bytes: int | None = None
                      ) -> Iterator[tuple[int, Any | LineError]]:
    """:func:`iter_jsonl` over an open binary stream (a decompressing one: ``ava.sample_files``)."""
    for line_no, raw, size in iter_lines(fh, max_line_bytes):
        if raw is None:
            yield line_no, LineError(line_no, "too_long", LineTooLong(size, max_line_bytes or 0))
        elif not _blank(raw):
            yield line_no, parse_json_line(raw, line_no, allow_nan)


def count_records(path: str | Path) -> int:
    """How many lines :func:`iter_jsonl` yields, counted without parsing (streamed: a progress bar's total)."""
    with Path(path).open("rb") as fh:
        return sum(not _blank(raw) for raw in fh)
