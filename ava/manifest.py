"""python -m ava.verbalize / ava.build_dataset: read an ad manifest (JSON Lines, Meta Ad Library shape).

One ad per line, as the Ad Library API's ``ads_archive`` returns it (``id``, ``page_name``,
``ad_creative_bodies``, ``demographic_distribution``, ...; unknown fields are kept), plus ``media``: file
paths relative to the manifest's folder. Records in older API field names are renamed to the current ones by
:func:`normalise_record` (one place, applied to every parsed record; what it changed is kept on the
:class:`Ad`). A malformed line never stops a run: it becomes a
:class:`ManifestError` with its 1-based line number. A media path that leaves the manifest's folder is
refused with :class:`MediaPathError`.

Bounds (:class:`Limits`): a line over ``max_line_bytes`` is a :class:`ManifestError` and is never held in
memory; a string over ``max_field_chars`` is cut to it (``"<field>: cut to N characters"``); a field holding
a number no float holds (``1e400``, a 401-digit integer) is dropped (``"<field>: non-finite number
dropped"``), the rest of the ad kept. Both are named on the :class:`Ad` like the renames, so callers count them.
"""

from __future__ import annotations

import errno
import math
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ava.jsonl import LineError, iter_jsonl, parse_json_line

# The 289 real Ad Library records in ../shared/data/real_ads.jsonl: longest line 48,726 bytes, longest string
# 43,133 characters (an ad body). The defaults leave 21x and 2.3x headroom, and bound what one line costs:
# parsing a line takes ~20x its size in RAM (a 500 MB line took 10.6 GB), so 1 MiB costs ~20 MB at most.
MAX_LINE_BYTES = 2**20
MAX_FIELD_CHARS = 100_000
UNCUT_FIELDS = frozenset({"id", "media"})  # cut, they would name another ad or file: refused instead


@dataclass(frozen=True)
class Limits:
    """How large a manifest line and one string in it may be (build_dataset: ``limits.max_line_bytes``,
    ``limits.max_field_chars``)."""

    max_line_bytes: int = MAX_LINE_BYTES
    max_field_chars: int = MAX_FIELD_CHARS

    def __post_init__(self) -> None:
        if self.max_line_bytes < 1 or self.max_field_chars < 1:
            raise ValueError(f"manifest limits must be positive, got {self}")


DEFAULT_LIMITS = Limits()


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
    normalised: tuple[str, ...] = ()  # what normalise_record changed, e.g. "region_distribution->delivery_by_region"

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def media(self) -> list[str]:
        return list(self.record.get("media") or [])


# Older Ad Library API names → current ones (Graph API v3–v11 era; the current name wins when both are present).
# Singular creative fields held one string; the current ones hold a list of versions.
RENAMED_FIELDS = {
    "region_distribution": "delivery_by_region",
    "funding_entity": "bylines",
    "potential_reach": "estimated_audience_size",
    "ad_creative_body": "ad_creative_bodies",
    "ad_creative_link_title": "ad_creative_link_titles",
    "ad_creative_link_caption": "ad_creative_link_captions",
    "ad_creative_link_description": "ad_creative_link_descriptions",
}
LIST_FIELDS = frozenset({"ad_creative_bodies", "ad_creative_link_titles", "ad_creative_link_captions",
                         "ad_creative_link_descriptions"})
# Fields the API gives as lists; a plain string in one is its only element, any other scalar is dropped
LIST_VALUED = LIST_FIELDS | {"publisher_platforms", "languages"}
_SNAPSHOT_ID = re.compile(r"[?&]id=(\d+)")


def normalise_record(record: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Rename older Ad Library field names to the current ones; return the record and what was changed.

    - ``region_distribution`` → ``delivery_by_region``, ``funding_entity`` → ``bylines``, ``potential_reach``
      → ``estimated_audience_size``, singular ``ad_creative_body`` / ``_link_title`` / ``_link_caption`` /
      ``_link_description`` → the plural list fields (a string becomes a one-element list). When both names
      are present the current one is kept and the old one dropped (``"<old> dropped (<new> present)"``).
    - A list-valued field (:data:`LIST_VALUED`) holding a plain string becomes a one-element list
      (``"ad_creative_bodies: string->list"``, never spelled out letter by letter); one holding a number,
      boolean or object is dropped (``"publisher_platforms: int dropped (not a list)"``), the rest of the
      record is kept.
    - A MongoDB export's ``_id`` is removed; when the record has no ``id``, a plain string/integer ``_id`` is
      the ad id (``"_id->id"``; a ``{"$oid": ...}`` is a database key, never an ad id).
    - A record still without ``id`` takes the ``id=`` of its ``ad_snapshot_url`` (API v3–v5 returned no
      ``id``; ``"ad_snapshot_url->id"``).

    Each change is named in the returned list, so callers can count them; the input is not modified.
    """
    rec = dict(record)
    changes: list[str] = []
    for old, new in RENAMED_FIELDS.items():
        if old not in rec:
            continue
        value = rec.pop(old)
        if new in rec:
            changes.append(f"{old} dropped ({new} present)")
            continue
        rec[new] = [value] if new in LIST_FIELDS and isinstance(value, str) else value
        changes.append(f"{old}->{new}")
    for name in sorted(LIST_VALUED & rec.keys()):
        value = rec[name]
        if value is None or isinstance(value, list):
            continue
        if isinstance(value, str):
            rec[name] = [value]
            changes.append(f"{name}: string->list")
        else:
            del rec[name]
            changes.append(f"{name}: {type(value).__name__} dropped (not a list)")
    if "_id" in rec:
        mongo = rec.pop("_id")
        if rec.get("id") is None and isinstance(mongo, (str, int)) and not isinstance(mongo, bool):
            rec["id"] = str(mongo)
            changes.append("_id->id")
        else:
            changes.append("_id dropped")
    if rec.get("id") is None and isinstance(rec.get("ad_snapshot_url"), str):
        m = _SNAPSHOT_ID.search(rec["ad_snapshot_url"])
        if m:
            rec["id"] = m.group(1)
            changes.append("ad_snapshot_url->id")
    return rec, changes


def parse_line(raw: bytes | str, line: int, limits: Limits = DEFAULT_LIMITS) -> Ad | ManifestError:
    """Parse one manifest line (old field names normalised by :func:`normalise_record`); never raises."""
    raw = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if len(raw.rstrip(b"\r\n")) > limits.max_line_bytes:
        return ManifestError(line, f"line too long: {len(raw):,} bytes, over max_line_bytes={limits.max_line_bytes:,}")
    return parse_record(parse_json_line(raw, line), line, limits)


def _line_error(err: LineError) -> ManifestError:
    if err.kind == "not_utf8":
        return ManifestError(err.line, f"not UTF-8: {err.detail}")
    if err.kind == "too_deep":
        return ManifestError(err.line, "malformed JSON: nested deeper than the parser's stack")
    if err.kind == "too_long":
        return ManifestError(err.line, f"line too long: {err.exc.size:,} bytes, over max_line_bytes="
                                       f"{err.exc.limit:,}; not read")
    return ManifestError(err.line, f"malformed JSON: {err.detail}")


def parse_record(record: Any, line: int, limits: Limits = DEFAULT_LIMITS) -> Ad | ManifestError:
    """Check one parsed line (or its :class:`~ava.jsonl.LineError`) and make it an :class:`Ad`."""
    if isinstance(record, LineError):
        return _line_error(record)
    if not isinstance(record, dict):
        return ManifestError(line, f"expected a JSON object, got {type(record).__name__}")
    record, changes = normalise_record(record)
    ad_id = record.get("id")
    if not isinstance(ad_id, (str, int)) or isinstance(ad_id, bool) or str(ad_id).strip() == "":
        return ManifestError(line, "missing or invalid 'id' (a non-empty string or integer; none found in "
                                   "'_id' or ad_snapshot_url's id= either)")
    if len(str(ad_id)) > limits.max_field_chars:
        return ManifestError(line, f"'id' is {len(str(ad_id)):,} characters, over max_field_chars="
                                   f"{limits.max_field_chars:,}")
    media = record.get("media", [])
    if media is None:
        media = []
    if not isinstance(media, list) or not all(isinstance(m, str) for m in media):
        return ManifestError(line, "'media' must be a list of relative file paths")
    bad = _first_bad_value(record)
    if bad is not None:
        return ManifestError(line, f"{bad[1]} in field {bad[0]!r}")
    for name in [n for n in record if n not in UNCUT_FIELDS]:
        value, non_finite, cut = _bounded(record[name], limits.max_field_chars)
        if non_finite:
            del record[name]
            changes.append(f"{name}: non-finite number dropped")
        elif cut:
            record[name] = value
            changes.append(f"{name}: cut to {limits.max_field_chars} characters")
    return Ad(line, record, tuple(changes))


def _bounded(value: Any, max_chars: int) -> tuple[Any, bool, bool]:
    """(``value`` with every string over ``max_chars`` cut, whether it holds a non-finite number, whether a
    string was cut); the same object when nothing was cut."""
    if isinstance(value, float):
        return value, not math.isfinite(value), False
    if isinstance(value, str):
        return (value[:max_chars], False, True) if len(value) > max_chars else (value, False, False)
    if isinstance(value, (dict, list)):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        out, non_finite, cut = {}, False, False
        for k, v in items:
            out[k], nf, c = _bounded(v, max_chars)
            non_finite, cut = non_finite or nf, cut or c
        if cut:
            value = out if isinstance(value, dict) else list(out.values())
        return value, non_finite, cut
    return value, False, False


def _unencodable(text: str) -> bool:
    """A lone surrogate (``"\\ud800"``, which ``json.loads`` accepts) cannot be written as UTF-8 (Parquet)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _first_bad_value(value: Any, path: str = "") -> tuple[str, str] | None:
    """(field path, what is wrong) of the first unencodable string, else ``None``."""
    if isinstance(value, str) and _unencodable(value):
        return path or "<root>", "lone surrogate (not encodable as UTF-8)"
    if isinstance(value, dict):
        for k, v in value.items():
            where = f"{path}.{k}" if path else str(k)
            if _unencodable(str(k)):
                return where.encode("utf-8", "backslashreplace").decode(), "lone surrogate (not encodable as UTF-8)"
            found = _first_bad_value(v, where)
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _first_bad_value(v, f"{path}[{i}]")
            if found:
                return found
    return None


def iter_manifest(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> Iterator[Ad | ManifestError]:
    """Yield an :class:`Ad` or a :class:`ManifestError` for every non-blank line, in file order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    for line_no, parsed in iter_jsonl(path, max_line_bytes=limits.max_line_bytes):
        yield parse_record(parsed, line_no, limits)


def renormalised(rel: str, resolved: Path) -> str | None:
    """The normal form (NFC or NFD) :func:`resolve_media` found ``rel`` under, when not as written."""
    if resolved.name == Path(rel).name or unicodedata.normalize("NFC", resolved.name) != \
            unicodedata.normalize("NFC", Path(rel).name):
        return None
    return "NFD" if unicodedata.is_normalized("NFD", resolved.name) else "NFC"


def resolve_media(root: str | Path, rel: str) -> Path:
    """Resolve ``rel`` under ``root``; refuse absolute paths, paths that leave ``root`` and unusable paths.

    Unusable: a NUL byte, a symlink loop, a name or path longer than the file system allows. Each is a
    :class:`MediaPathError` naming the problem (``path_refused`` rows), never an internal error. A name not on
    disk as written is looked for in the other Unicode normal form (NFC/NFD) too; the caller can tell by
    :func:`renormalised`.
    """
    if not rel or not rel.strip():
        raise MediaPathError("empty media path")
    if "\x00" in rel:
        raise MediaPathError(f"media path holds a NUL byte: {rel!r:.200}")
    if Path(rel).is_absolute():
        raise MediaPathError(f"absolute media path refused (paths are relative to the manifest's folder): {rel}")
    root = Path(root).resolve()
    try:
        full = (root / rel).resolve()
    except (RuntimeError, OSError) as exc:  # Python < 3.13 raises RuntimeError("Symlink loop from ...")
        raise MediaPathError(f"media path cannot be resolved ({exc}): {rel!r:.200}") from exc
    if not full.is_relative_to(root):
        raise MediaPathError(f"media path leaves the data root {root}: {rel}")
    if not os.path.lexists(full):  # café.png in the manifest (NFC), café.png on disk (NFD, as macOS wrote it)
        for form in ("NFC", "NFD"):
            other = unicodedata.normalize(form, rel)
            if other != rel and os.path.lexists(root / other):
                return resolve_media(root, other)
    try:
        os.stat(full)
    except OSError as exc:  # a missing or unreadable file is the decoder's to report (missing_file, ...)
        if exc.errno in (errno.ELOOP, errno.ENAMETOOLONG):
            raise MediaPathError(f"media path cannot be used ({exc.strerror}): {rel!r:.200}") from exc
    return full
