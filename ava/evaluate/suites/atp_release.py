"""python -m ava.evaluate benchmark=oqa_xl data=DIR: the OpinionQA-XL release's Pew ATP ``.sav`` files.

Layout (behavior-in-the-wild/AlignViaActions50M ``OQA-XL/``): ``ATP_data/PEW_ATP_Cleaned/<folder>/[<folder>/]
ATP W<n>.sav``, some one folder deep, most two, plus ``__MACOSX/`` resource-fork copies (``._ATP W60.sav``)
that are not SPSS files. Every ``ATP W<n>*.sav`` below ``DIR`` is found; ``__MACOSX`` and ``._*`` files and
``.sav`` files with other names are ignored and counted.

Demographic groups as OpinionQA defines them (its ``metadata.csv`` groups, its 12 attributes), from the
``F_*`` columns, whose names carry a suffix that changes between waves (``F_AGECAT_FINAL``,
``F_AGECAT_TYPOLOGY``, ``F_AGECAT``). A respondent's label is matched to a group by text after
:func:`~ava.evaluate.suites.pew.normalise_option` (a trailing ``(...)``/``[OR]`` and a leading ``(VOL)``
removed), then by the aliases below; income brackets by their dollar bounds; RACE as OpinionQA recoded it
(``F_RACECMB`` White / Black / Asian, else ``Hispanic`` when ``F_HISP`` is Yes, else ``Other`` for "some other
race"). Checked on the real W26 file: every respondent's group equals the one in OpinionQA's released
responses for all 12 attributes (tests/evaluate/test_oqa_xl_release.py). A label matching no group (refused,
"Mixed Race", "Living with a partner") puts the respondent in no group of that attribute, as OpinionQA's
metadata does.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from ava.evaluate.suites.labelled import LabelledFrame
from ava.evaluate.suites.pew import normalise_option

_SAV_NAME = re.compile(r"^ATP W(\d+)\b.*\.sav$", re.IGNORECASE)

# OpinionQA's groups (human_resp/*/metadata.csv, identical in its 15 waves)
GROUPS: dict[str, list[str]] = {
    "CREGION": ["Northeast", "Midwest", "South", "West"],
    "AGE": ["18-29", "30-49", "50-64", "65+"],
    "SEX": ["Male", "Female"],
    "EDUCATION": ["Less than high school", "High school graduate", "Some college, no degree",
                  "Associate's degree", "College graduate/some postgrad", "Postgraduate"],
    "CITIZEN": ["Yes", "No"],
    "MARITAL": ["Married", "Divorced", "Separated", "Widowed", "Never been married"],
    "RELIG": ["Protestant", "Roman Catholic", "Mormon", "Orthodox", "Jewish", "Muslim", "Buddhist", "Hindu",
              "Atheist", "Agnostic", "Other", "Nothing in particular"],
    "RELIGATTEND": ["More than once a week", "Once a week", "Once or twice a month", "A few times a year",
                    "Seldom", "Never"],
    "POLPARTY": ["Republican", "Democrat", "Independent", "Other"],
    "INCOME": ["Less than $30,000", "$30,000-$50,000", "$50,000-$75,000", "$75,000-$100,000",
               "$100,000 or more"],
    "POLIDEOLOGY": ["Very conservative", "Conservative", "Moderate", "Liberal", "Very liberal"],
    "RACE": ["White", "Black", "Asian", "Hispanic", "Other"],
}  # fmt: skip
# the F_* column (base name, any one suffix) each attribute is read from, first found wins; EDUCATION needs
# the 6-category F_EDUCCAT2 (F_EDUCCAT has 3), INCOME brackets finer than OpinionQA's groups
SOURCES: dict[str, list[str]] = {
    "CREGION": ["F_CREGION"], "AGE": ["F_AGECAT"], "SEX": ["F_SEX", "F_GENDER"], "EDUCATION": ["F_EDUCCAT2"],
    "CITIZEN": ["F_CITIZEN_RECODE", "F_CITIZEN"], "MARITAL": ["F_MARITAL"], "RELIG": ["F_RELIG"],
    "RELIGATTEND": ["F_ATTEND"], "POLPARTY": ["F_PARTY_FINAL", "F_PARTY"], "INCOME": ["F_INCOME", "F_INC_SDT1"],
    "POLIDEOLOGY": ["F_IDEO"], "RACE": ["F_RACECMB"],
}  # fmt: skip
ALIASES: dict[str, dict[str, str]] = {
    "SEX": {"a man": "Male", "a woman": "Female"},
    "EDUCATION": {"college graduate/some post grad": "College graduate/some postgrad"},
    "CITIZEN": {"us citizen": "Yes", "not us citizen": "No"},
    "RELIG": {"something else": "Other"},
    "POLPARTY": {"something else": "Other", "other party": "Other"},
}
_INCOME_BOUNDS = [30_000, 50_000, 75_000, 100_000]  # the upper bounds of OpinionQA's first four INCOME groups
_RACE_DIRECT = {"white": "White", "black or african-american": "Black", "asian or asian-american": "Asian"}


def find_sav_files(root: Path) -> tuple[dict[str, Path], Counter]:
    """``{"W<n>": path}`` for every ``ATP W<n>*.sav`` below ``root``, and what was ignored (counted)."""
    found: dict[str, list[Path]] = {}
    ignored: Counter = Counter()
    for path in sorted(Path(root).rglob("*.sav")):
        rel = path.relative_to(root)
        if "__MACOSX" in rel.parts or path.name.startswith("._"):
            ignored["__MACOSX / ._ resource-fork files"] += 1
            continue
        m = _SAV_NAME.match(path.name)
        if not m:
            ignored[".sav files not named 'ATP W<n>.sav'"] += 1
            continue
        found.setdefault(f"W{int(m.group(1))}", []).append(path)
    out = {}
    for wave, paths in found.items():
        paths.sort(key=lambda p: (len(p.parts), str(p)))  # the wave folder's own file first
        out[wave] = paths[0]
        ignored["further .sav files of a wave (the shallowest kept)"] += len(paths) - 1
    return out, +ignored


_SUFFIXES = ["", "_FINAL", "_RECRUITMENT", "_TYPOLOGY"]  # the ATP's; any other one-word suffix after these


def _column(columns: list[str], base: str) -> str | None:
    """``base`` itself, else with a known wave suffix, else with one other ``_WORD`` (shortest first)."""
    for suffix in _SUFFIXES:
        if base + suffix in columns:
            return base + suffix
    pattern = re.compile(rf"^{re.escape(base)}_[A-Z0-9]+$")
    hits = [c for c in columns if pattern.match(c)]
    return min(hits, key=lambda c: (len(c), c)) if hits else None


def source_column(columns: list[str], attribute: str) -> str | None:
    """The file's column for ``attribute``: the first SOURCES base name found (:func:`_column`)."""
    for base in SOURCES[attribute]:
        col = _column(columns, base)
        if col:
            return col
    return None


def needed_columns(columns: list[str]) -> list[str]:
    cols = [source_column(columns, a) for a in SOURCES]
    return [c for c in [*cols, source_column_hisp(columns)] if c]


def source_column_hisp(columns: list[str]) -> str | None:
    return _column(columns, "F_HISP")


def _clean(label: str) -> str:
    text = normalise_option(label)
    text = re.sub(r"^\(vol\.?\)\s*", "", text)
    return re.sub(r"\s*(\([^)]*\)|\[or\])$", "", text).strip()


def _income_group(label: str) -> str | None:
    text = label.replace(",", "").lower()
    nums = [float(x) * (1000 if float(x) < 1000 else 1) for x in re.findall(r"\d+(?:\.\d+)?", text)]
    if not nums:
        return None
    if text.startswith("less than"):
        low, high = 0.0, nums[0]
    elif "or more" in text:
        low, high = nums[0], float("inf")
    elif len(nums) == 2:
        low, high = nums
    else:
        return None
    groups = GROUPS["INCOME"]
    first = int(np.searchsorted(_INCOME_BOUNDS, low, side="right"))
    last = int(np.searchsorted(_INCOME_BOUNDS, high, side="left"))  # a bracket [low, high) in one group only
    return groups[first] if first == last else None


def label_group(attribute: str, label: str) -> str | None:
    """OpinionQA's group for a respondent's ``F_*`` label, or None (no group of this attribute)."""
    if attribute == "INCOME":
        return _income_group(label)
    clean = _clean(label)
    for g in GROUPS[attribute]:
        if _clean(g) == clean:
            return g
    return ALIASES.get(attribute, {}).get(clean)


def respondent_groups(frame: LabelledFrame, attributes: list[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each respondent's group index per attribute (-1: none) and the attributes the file cannot give."""
    out: dict[str, np.ndarray] = {}
    missing = []
    cols = frame.columns
    for attr in attributes:
        if attr not in GROUPS:
            raise ValueError(f"unknown OpinionQA attribute {attr!r}; choose from {sorted(GROUPS)}")
        col = source_column(cols, attr)
        if col is None or col not in frame.data:
            missing.append(attr)
            continue
        labels = frame.labels.get(col, {})
        groups = {code: label_group(attr, text) for code, text in labels.items()}
        if attr == "RACE":
            hisp_col = source_column_hisp(cols)
            hisp = frame.labels.get(hisp_col, {}) if hisp_col else {}
            hisp_yes = {c for c, t in hisp.items() if _clean(t) == "yes"}
            is_hisp = frame.data[hisp_col].isin(hisp_yes).to_numpy() if hisp_col in frame.data else None
            direct = {c: _RACE_DIRECT.get(_clean(t)) for c, t in labels.items()}
            other = {c for c, t in labels.items() if _clean(t) == "or some other race"}
            names = []
            for i, code in enumerate(frame.data[col].to_numpy()):
                if direct.get(code):
                    names.append(direct[code])
                elif is_hisp is not None and is_hisp[i]:
                    names.append("Hispanic")
                else:
                    names.append("Other" if code in other else None)
        else:
            names = [groups.get(code) for code in frame.data[col].to_numpy()]
        index = {g: i for i, g in enumerate(GROUPS[attr])}
        out[attr] = np.array([index.get(n, -1) if n else -1 for n in names], dtype=np.int64)
    return out, missing
