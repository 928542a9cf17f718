"""python -m ava.build_dataset: ad text helpers (URL masking, word-level edit distance, ad copy fields)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# A scheme URL, a www. host, or a bare host with a common top-level domain (optionally a path).
URL_RE = re.compile(
    r"(?:https?://|ftp://)\S+"
    r"|\bwww\.\S+"
    r"|\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)*\.(?:com|org|net|gov|edu|io|co|us|info|biz|ly|me)"
    r"\b(?:/\S*)?",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?)]}'\""


def mask_urls(text: str) -> tuple[str, int]:
    """Replace every URL in ``text`` by ``[URL]`` (trailing punctuation is kept); return the count too."""
    count = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        url = m.group(0)
        stripped = url.rstrip(_TRAILING)
        return "[URL]" + url[len(stripped):]

    return URL_RE.sub(repl, text), count


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    out: list[str] = []
    for v in value:
        if isinstance(v, str) and v.strip() and v.strip() not in out:
            out.append(v.strip())
    return out


def ad_copy(record: Mapping[str, Any]) -> dict[str, str]:
    """Title, body and link description of an ad (versions joined by newlines), URLs unmasked."""
    return {
        "title": "\n".join(_strings(record.get("ad_creative_link_titles"))),
        "body": "\n".join(_strings(record.get("ad_creative_bodies"))),
        "description": "\n".join(_strings(record.get("ad_creative_link_descriptions"))),
    }


def word_levenshtein(a: str, b: str) -> int:
    """Edit distance between the word sequences of ``a`` and ``b`` (insert, delete, substitute a word)."""
    x, y = a.lower().split(), b.lower().split()
    if len(x) < len(y):
        x, y = y, x
    prev = list(range(len(y) + 1))
    for i, wx in enumerate(x, start=1):
        cur = [i]
        for j, wy in enumerate(y, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (wx != wy)))
        prev = cur
    return prev[-1]


def normalised(text: str) -> str:
    """Lower-cased, whitespace-collapsed text: two ads with the same normalised copy are duplicates."""
    return " ".join(text.lower().split())
