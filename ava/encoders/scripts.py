"""python -m ava.verbalize: which writing systems an ad's ``languages`` use, and which one a text line is in.

The Ad Library gives ``languages`` as ISO 639-1 codes (``["en"]``). A code not in :data:`SCRIPTS` allows
every script (nothing is filtered on a language we cannot place).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from typing import Any

_LATIN = ("af ca cs cy da de en eo es et eu fi fil fr ga gl hr hu id is it lt lv ms mt nl no nb nn pl pt ro sk sl "
          "sq sv sw tl tr vi az uz").split()
_CYRILLIC = "be bg kk ky mk mn ru sr tg uk".split()
SCRIPTS: dict[str, frozenset[str]] = {
    **{c: frozenset({"LATIN"}) for c in _LATIN},
    **{c: frozenset({"CYRILLIC"}) for c in _CYRILLIC},
    "sr": frozenset({"CYRILLIC", "LATIN"}),
    "zh": frozenset({"CJK"}),
    "ja": frozenset({"CJK", "HIRAGANA", "KATAKANA"}),
    "ko": frozenset({"HANGUL", "CJK"}),
    "ar": frozenset({"ARABIC"}), "fa": frozenset({"ARABIC"}), "ur": frozenset({"ARABIC"}),
    "he": frozenset({"HEBREW"}), "yi": frozenset({"HEBREW"}),
    "el": frozenset({"GREEK"}),
    "hi": frozenset({"DEVANAGARI"}), "mr": frozenset({"DEVANAGARI"}), "ne": frozenset({"DEVANAGARI"}),
    "bn": frozenset({"BENGALI"}), "ta": frozenset({"TAMIL"}), "te": frozenset({"TELUGU"}),
    "th": frozenset({"THAI"}), "ka": frozenset({"GEORGIAN"}), "hy": frozenset({"ARMENIAN"}),
}
_NAMED = ("LATIN", "CYRILLIC", "GREEK", "ARABIC", "HEBREW", "HANGUL", "HIRAGANA", "KATAKANA", "DEVANAGARI",
          "BENGALI", "TAMIL", "TELUGU", "THAI", "GEORGIAN", "ARMENIAN")


def languages(record: dict[str, Any]) -> list[str]:
    """The ad's ``languages`` as lower-case base codes (``"en-US"`` → ``"en"``); [] when absent."""
    value = record.get("languages") or []
    if isinstance(value, str):
        value = [value]
    return [str(v).strip().lower().replace("_", "-").split("-")[0] for v in value if str(v).strip()]


def allowed_scripts(codes: list[str]) -> frozenset[str] | None:
    """Scripts the ad's languages are written in, plus Latin (brand names, URLs and prices are written in Latin
    in ads of every language); None (= any) when a language is unknown or none is given."""
    if not codes or any(c not in SCRIPTS for c in codes):
        return None
    return frozenset({"LATIN"}).union(*(SCRIPTS[c] for c in codes))


def char_script(ch: str) -> str | None:
    """The script of one letter (CJK ideographs as ``CJK``); None for digits, punctuation and symbols."""
    if not unicodedata.category(ch).startswith("L"):
        return None
    name = unicodedata.name(ch, "")
    if name.startswith(("CJK ", "KANGXI")):
        return "CJK"
    return next((s for s in _NAMED if name.startswith(s)), "OTHER")


def line_script(text: str) -> str | None:
    """The script most of the line's letters are in; None for a line without letters ("50%", "4.")."""
    counts = Counter(s for s in map(char_script, text) if s)
    return counts.most_common(1)[0][0] if counts else None
