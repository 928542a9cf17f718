"""python -m ava.evaluate benchmark=oqa_xl|gss: labelled survey files as numeric codes plus value labels.

* SPSS ``.sav`` and Stata ``.dta`` (the Pew ATP files, NORC's GSS files): pyreadstat, codes kept
  (``apply_value_formats=False``); SPSS user-defined missing values and Stata's extended missing values
  (``.d``, ``.i``, ...) come back as NaN.
* R ``.rda`` (gssr's haven tibbles, ``gss_sub.rda``, ``gss_panel20.rda``): the ``rdata`` parser. rdata's
  converter drops haven's value labels (every column comes back as plain float, as with pyreadr), so the
  columns and their ``labels`` attribute (a named numeric vector) are read from the parse tree here.
  Haven's tagged NAs (don't know, iap, no answer, refused, skipped on web) are NaN.

Only the columns a caller asks for are converted (``columns``: a function from the file's column names to
the ones wanted), which keeps the 4,296-column panel file cheap after its one parse (12 s on this VM).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ava.evaluate.suites.base import SuiteDataError, require_file

ColumnPicker = Callable[[list[str]], list[str]]


@dataclass
class LabelledFrame:
    """Codes (float, NaN = missing) of the columns read, each column's ``{code: label}``, the file's columns."""

    data: pd.DataFrame
    labels: dict[str, dict[float, str]]
    columns: list[str]
    path: Path


def read_labelled(path: Path, columns: ColumnPicker | None = None) -> LabelledFrame:
    """The labelled file at ``path`` (``.sav``, ``.dta`` or ``.rda``/``.RData``), reading ``columns(names)``."""
    path = require_file(Path(path), "labelled survey file")
    suffix = path.suffix.lower()
    if suffix in (".sav", ".dta"):
        return _read_pyreadstat(path, columns, suffix)
    if suffix in (".rda", ".rdata"):
        return _read_rda(path, columns)
    raise SuiteDataError(f"{path}: not a labelled survey file (want .sav, .dta or .rda)")


def _read_pyreadstat(path: Path, columns: ColumnPicker | None, suffix: str) -> LabelledFrame:
    import pyreadstat

    reader = pyreadstat.read_sav if suffix == ".sav" else pyreadstat.read_dta
    try:
        _, meta = reader(str(path), metadataonly=True)
        names = list(meta.column_names)
        wanted = names if columns is None else [c for c in columns(names) if c in set(names)]
        df, meta = reader(str(path), usecols=wanted or names[:1], apply_value_formats=False)
    except Exception as exc:  # pyreadstat raises its own ReadstatError / PyreadstatError types
        raise SuiteDataError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    df = df[wanted] if wanted else df.iloc[:, :0]
    data = pd.DataFrame({c: pd.to_numeric(df[c], errors="coerce").astype(np.float64) for c in df.columns})
    labels = {
        c: {float(k): str(v) for k, v in meta.variable_value_labels.get(c, {}).items() if _is_number(k)}
        for c in data.columns
    }
    return LabelledFrame(data, labels, names, path)


def _is_number(value: Any) -> bool:
    try:
        return np.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _pairlist(obj: Any) -> dict[str, Any]:
    """An R pairlist (attributes) as ``{tag: value}``."""
    from rdata.parser import RObjectType

    out: dict[str, Any] = {}
    while obj is not None and obj.info.type == RObjectType.LIST:
        tag = obj.tag.referenced_object if obj.tag.info.type == RObjectType.REF else obj.tag
        out[tag.value.value.decode()] = obj.value[0]
        obj = obj.value[1]
    return out


def _strings(obj: Any) -> list[str]:
    return [c.value.decode("utf-8", "replace") if c.value is not None else "" for c in obj.value]


def _numeric(obj: Any) -> np.ndarray | None:
    """A REAL / INT / LGL vector as float64 with NaN for NA; None for anything else (strings, lists)."""
    from rdata.parser import RObjectType

    if obj.info.type not in (RObjectType.REAL, RObjectType.INT, RObjectType.LGL):
        return None
    value = obj.value
    if isinstance(value, np.ma.MaskedArray):
        return value.astype(np.float64).filled(np.nan)
    return np.asarray(value, dtype=np.float64)


def _read_rda(path: Path, columns: ColumnPicker | None) -> LabelledFrame:
    import rdata
    from rdata.parser import RObjectType

    try:
        parsed = rdata.parser.parse_file(path)
    except Exception as exc:  # rdata raises plain ValueError / NotImplementedError on files it cannot parse
        raise SuiteDataError(f"{path}: cannot parse as an R data file ({type(exc).__name__}: {exc})") from None
    frames = [
        v for v in _pairlist(parsed.object).values()
        if v.info.type == RObjectType.VEC and "names" in _pairlist(v.attributes)
    ]  # fmt: skip
    if len(frames) != 1:
        raise SuiteDataError(f"{path}: expected one data frame, found {len(frames)}")
    frame = frames[0]
    names = _strings(_pairlist(frame.attributes)["names"])
    wanted = set(names if columns is None else columns(names))
    data: dict[str, np.ndarray] = {}
    labels: dict[str, dict[float, str]] = {}
    for name, col in zip(names, frame.value, strict=True):
        if name not in wanted:
            continue
        values = _numeric(col)
        if values is None:
            continue
        data[name] = values
        attrs = _pairlist(col.attributes)
        labels[name] = {}
        if "labels" in attrs:
            codes = _numeric(attrs["labels"])
            texts = _strings(_pairlist(attrs["labels"].attributes).get("names", attrs["labels"]))
            if codes is not None and len(texts) == len(codes):
                labels[name] = {float(c): t for c, t in zip(codes, texts, strict=True) if np.isfinite(c)}
    return LabelledFrame(pd.DataFrame(data), labels, names, path)
