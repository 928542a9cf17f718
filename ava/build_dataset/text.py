"""python -m ava.build_dataset: ad text helpers (URL masking, word-level edit distance, ad copy fields)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rapidfuzz.distance import Levenshtein

# Top-level domains a bare host (no scheme, no www.) is recognised by: common generic ones and the country
# codes of the EU/EEA, the UK, Switzerland, Canada and Oceania. Matched in lower case only (``(?-i:...)``), so
# a sentence run together ("Shop now.It is") is not a domain while "ActBlue.com" and "site.nl" are. Codes that
# are common English words and small registries (in, to, so, am, my) are left out.
_TLDS = ("com|org|net|gov|edu|info|biz|app|shop|online|store|site|news|vote|io|co|ly|me|tv|ai|eu|us|uk|ca|au|nz|"
         "ch|at|be|bg|cy|cz|de|dk|ee|es|fi|fr|gr|hr|hu|ie|is|it|li|lt|lu|lv|mt|nl|no|pl|pt|ro|se|si|sk")
# A scheme URL, a www. host, or a bare host with one of those top-level domains (optionally a path).
URL_RE = re.compile(
    r"(?:https?://|ftp://)\S+"
    r"|\bwww\.\S+"
    rf"|\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)*\.(?-i:{_TLDS})"
    r"\b(?![.-]?[a-z0-9])(?:/\S*)?",
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


def word_levenshtein(a: str, b: str, cutoff: int | None = None) -> int:
    """Edit distance between the word sequences of ``a`` and ``b`` (insert, delete, substitute a word).

    With ``cutoff`` the answer is exact up to ``cutoff`` and ``cutoff + 1`` for anything larger: rapidfuzz then
    stops early (length difference, banded bit-parallel search), so two 8,000-word ads cost no more than the
    band. Case-insensitive.
    """
    return int(Levenshtein.distance(a.lower().split(), b.lower().split(), score_cutoff=cutoff))


def normalised(text: str) -> str:
    """Lower-cased, whitespace-collapsed text: two ads with the same normalised copy are duplicates."""
    return " ".join(text.lower().split())
