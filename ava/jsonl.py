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
- anything else ``json.loads`` refuses is ``kind="malformed"``.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class NonFiniteError(ValueError):
    """A ``NaN`` / ``Infinity`` literal in a file read with ``allow_nan=False``."""

    def __init__(self, name: str) -> None:
        super().__init__(f"non-finite number {name} is not valid JSON")
        self.name = name


@dataclass(frozen=True)
class LineError:
    line: int
    kind: str  # not_utf8 | non_finite | too_deep | malformed
    exc: BaseException  # what the decoder or parser raised (for the caller's message)

    @property
    def detail(self) -> str:
        return str(self.exc)


def _reject_constant(name: str) -> float:
    raise NonFiniteError(name)


def parse_json_line(raw: bytes, line: int, allow_nan: bool = False) -> Any | LineError:
    """One line's object, or its :class:`LineError`; a BOM is stripped from line 1. Never raises."""
    if line == 1:
        raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return LineError(line, "not_utf8", exc)
    try:
        return json.loads(text) if allow_nan else json.loads(text, parse_constant=_reject_constant)
    except NonFiniteError as exc:
        return LineError(line, "non_finite", exc)
    except RecursionError as exc:
        return LineError(line, "too_deep", exc)
    except ValueError as exc:
        return LineError(line, "malformed", exc)


def iter_jsonl(path: str | Path, allow_nan: bool = False) -> Iterator[tuple[int, Any | LineError]]:
    """``(line number, object | LineError)`` for every non-blank line of ``path``, in file order."""
    with Path(path).open("rb") as fh:
        yield from iter_lines(fh, allow_nan)


def iter_lines(fh: Iterable[bytes], allow_nan: bool = False) -> Iterator[tuple[int, Any | LineError]]:
    """:func:`iter_jsonl` over an open binary stream (a decompressing one: ``ava.sample_files``)."""
    for line_no, raw in enumerate(fh, start=1):
        if raw.strip() and raw.strip() != codecs.BOM_UTF8:
            yield line_no, parse_json_line(raw, line_no, allow_nan)
