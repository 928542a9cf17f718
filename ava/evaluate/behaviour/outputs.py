"""python -m ava.evaluate benchmark=behaviour model=precomputed model.predictions=FILE.jsonl: answers made elsewhere.

One JSON object a line, ``{"id": SAMPLE_ID, "output": "the model's answer"}``, the ids of the scored split's
samples (the ``outputs_<system>.jsonl`` files a model run writes have this shape and can be scored again).
The whole file is checked first; every bad line is reported with its 1-based number. Samples without a line
are scored as missing (wrong), and counted.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from ava.evaluate.predictions import PredictionsError, bad_lines
from ava.jsonl import LineError, iter_jsonl


def read_outputs(path: str | Path, ids: Collection[str]) -> dict[str, str]:
    """``{sample id: output}`` from ``path``; unknown or duplicate ids and malformed lines raise."""
    path = Path(path)
    if not path.is_file():
        raise PredictionsError(f"predictions file not found: {path}")
    known = set(ids)
    out: dict[str, str] = {}
    problems: list[str] = []
    # allow_nan: only 'output' is read; the parsed prediction a model run writes beside it may be non-finite
    for line_no, rec in iter_jsonl(path, allow_nan=True):
        if isinstance(rec, LineError):
            problems.append(f"line {line_no}: malformed JSON ({type(rec.exc).__name__}: {rec.detail[:200]})")
            continue
        if not isinstance(rec, dict):
            problems.append(f"line {line_no}: expected a JSON object, got {type(rec).__name__}")
            continue
        sid, text = rec.get("id"), rec.get("output")
        if not isinstance(sid, str) or not sid:
            problems.append(f"line {line_no}: missing or invalid 'id' (a sample id string)")
        elif sid not in known:
            problems.append(f"line {line_no}: unknown sample id {sid!r} (not in the scored split)")
        elif sid in out:
            problems.append(f"line {line_no}: duplicate output for id {sid!r}")
        elif not isinstance(text, str):
            problems.append(f"line {line_no}: 'output' must be a string (the model's answer)")
        else:
            out[sid] = text
    if problems:
        raise bad_lines(path, problems)
    if not out:
        raise PredictionsError(f"{path}: no outputs in the file")
    return out
