"""python -m ava.evaluate benchmark=gss: the authors' question-file options mapped to the data's codes.

``questions_final.json`` lists each variable's answers with the labels of the 1972-2018 release, in the order
they first appear in the data: upper case, sometimes abbreviated ("ALMST ALWAYS WRG", "SAME ST,DIF CITY"),
sometimes as bare numbers (``3.0``), sometimes a missing category ("REFUSED"). :func:`option_codes` maps them
to the current value labels' codes.
"""

from __future__ import annotations

import re
from typing import Any

from ava.evaluate.suites.pew import normalise_option

# option texts naming a missing category in the question file (23 entries list "REFUSED")
MISSING_OPTION = re.compile(
    r"^(refused|dk|don'?t know|dont know|no answer|na|iap|dk, na, iap|can'?t choose|skipped on web)$"
)
_NEGATION = re.compile(
    r"n't\b|\b(not|no|never|none|nor|neither|cant|dont|doesnt|didnt|wont|isnt|arent|wasnt|shouldnt|wouldnt)\b"
)


def words(text: str) -> list[str]:
    """Lower-case words of a label, without the ``(vol.)``/``<vol.>`` (volunteered) marker."""
    text = re.sub(r"[(<]vol\.?[)>]", " ", normalise_option(text)).replace("'", "")
    return re.findall(r"[a-z0-9]+", text)


def abbreviates(short: str, word: str) -> bool:
    """``short`` is ``word`` shortened: same first letter, its letters in order (ALMST -> almost, ST -> state)."""
    if not short or short[0] != word[0]:
        return False
    if short.isdigit() or word.isdigit():  # numbers are not shortened: "1" is not "10"
        return short == word
    rest = iter(word)
    return all(ch in rest for ch in short)


def abbreviation_of(option: str, label: str) -> bool:
    """Every word of ``option`` abbreviates a word of ``label``, in order ("SAME ST,DIF CITY" -> "same state,
    different city", "ALMST ALWAYS WRG" -> "almost always wrong", "ALLOWED" -> "yes, allowed to speak"), and
    both or neither are negated ("CAN TRUST" is not "can't trust")."""
    if bool(_NEGATION.search(normalise_option(option))) != bool(_NEGATION.search(normalise_option(label))):
        return False
    remaining = iter(words(label))
    return all(any(abbreviates(t, w) for w in remaining) for t in words(option))


def option_codes(options: list[Any], labels: dict[float, str], present: set[float]) -> tuple[list | None, int]:
    """Each option's code (None: a missing-category option), or None when an option maps to no code; and how
    many options were matched as abbreviations of their label.

    A text option is its label's code when equal after :func:`normalise_option` (or without the "(vol.)"
    marker); else, among the labels no other option took, the one label it abbreviates (:func:`abbreviation_of`),
    repeated while that settles more options; an option left with none or several is unmatched.
    """
    exact: dict[str, float] = {}
    for code, text in labels.items():
        exact.setdefault(" ".join(words(text)), code)
    out: list[Any] = []
    pending: list[int] = []
    for i, o in enumerate(options):
        if isinstance(o, (int, float)) and not isinstance(o, bool):
            if float(o) not in present and float(o) not in labels:
                return None, 0
            out.append(float(o))
            continue
        key = " ".join(words(str(o)))
        if key in exact:
            out.append(exact[key])
        elif MISSING_OPTION.match(normalise_option(str(o))):
            out.append(None)
        else:
            out.append(None)
            pending.append(i)
    abbreviated = 0
    while pending:
        free = {c: t for c, t in labels.items() if c not in out}
        settled = {}
        for i in pending:
            hits = [c for c, t in free.items() if abbreviation_of(str(options[i]), t)]
            if len(hits) == 1:
                settled[i] = hits[0]
        if not settled or len(set(settled.values())) < len(settled):
            return None, 0
        for i, c in settled.items():
            out[i] = c
        abbreviated += len(settled)
        pending = [i for i in pending if i not in settled]
    return out, abbreviated
