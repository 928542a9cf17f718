"""python -m ava.verbalize / ava.build_dataset: read an ad manifest (JSON Lines, Meta Ad Library shape).

One ad per line, as the Ad Library API's ``ads_archive`` returns it (``id``, ``page_name``,
``ad_creative_bodies``, ``demographic_distribution``, ...; unknown fields are kept), plus ``media``: file
paths relative to the manifest's folder. A malformed line never stops a run: it becomes a
:class:`ManifestError` with its 1-based line number. A media path that leaves the manifest's folder is
refused with :class:`MediaPathError`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class MediaPathError(ValueError):
    """A media path that is absolute, empty, or resolves outside the data root."""


@dataclass(frozen=True)
class ManifestError:
    line: int
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "error": self.error}


@dataclass(frozen=True)
class Ad:
    line: int
    record: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def media(self) -> list[str]:
        return list(self.record.get("media") or [])


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} is not valid JSON")


def parse_line(text: str, line: int) -> Ad | ManifestError:
    """Parse one manifest line; never raises."""
    try:
        record = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        return ManifestError(line, f"malformed JSON: {exc}")
    if not isinstance(record, dict):
        return ManifestError(line, f"expected a JSON object, got {type(record).__name__}")
    ad_id = record.get("id")
    if not isinstance(ad_id, (str, int)) or isinstance(ad_id, bool) or str(ad_id).strip() == "":
        return ManifestError(line, "missing or invalid 'id' (a non-empty string or integer)")
    media = record.get("media", [])
    if media is None:
        media = []
    if not isinstance(media, list) or not all(isinstance(m, str) for m in media):
        return ManifestError(line, "'media' must be a list of relative file paths")
    bad = _first_non_finite(record)
    if bad is not None:
        return ManifestError(line, f"non-finite number in field {bad!r}")
    return Ad(line, record)


def _first_non_finite(value: Any, path: str = "") -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return path or "<root>"
    if isinstance(value, dict):
        for k, v in value.items():
            found = _first_non_finite(v, f"{path}.{k}" if path else str(k))
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _first_non_finite(v, f"{path}[{i}]")
            if found:
                return found
    return None


def iter_manifest(path: str | Path) -> Iterator[Ad | ManifestError]:
    """Yield an :class:`Ad` or a :class:`ManifestError` for every non-blank line, in file order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield ManifestError(line_no, f"not UTF-8: {exc}")
                continue
            if text.strip():
                yield parse_line(text, line_no)


def resolve_media(root: str | Path, rel: str) -> Path:
    """Resolve ``rel`` under ``root``; refuse absolute paths and any path that leaves ``root``."""
    if not rel or not rel.strip():
        raise MediaPathError("empty media path")
    if Path(rel).is_absolute():
        raise MediaPathError(f"absolute media path refused (paths are relative to the manifest's folder): {rel}")
    root = Path(root).resolve()
    full = (root / rel).resolve()
    if not full.is_relative_to(root):
        raise MediaPathError(f"media path leaves the data root {root}: {rel}")
    return full
