"""python -m ava.evaluate benchmark=opinionqa|oqa_xl: Pew American Trends Panel human responses and the
OpinionQA metrics shared by OpinionQA and OpinionQA-XL.

Human side, one folder per survey (``human_resp/<survey>/``, the OpinionQA CodaLab layout):
``info.csv`` (``key, question, references, option_mapping, option_ordinal``: the references list the ordinal
options first, then the refusal option(s); ``option_ordinal`` gives the ordinal options' positions),
``responses.csv`` (one respondent a row: answer text per question key, demographic attributes,
``WEIGHT_W<wave>``) and ``metadata.csv`` (``key, options``: each demographic attribute and its groups).
A group's distribution is the survey-weighted share of each answer among its respondents; the refusal
option is removed and the rest renormalised (Santurkar et al. 2023, ``helpers.extract_human_opinions``).
OpinionQA-XL reads its humans from the release's ``.sav`` files instead (:mod:`.oqa_xl`), through the same
:func:`group_totals`, and is scored by the same :func:`score_survey`.

Real-file quirks handled as the official code (helpers.py on pandas 1.x) did: answers are read as text, so
the answer "None" (28 questions) is an answer, not missing; respondents with an empty weight (W92: 695) are
left out and counted; one key may carry several question texts (W43, piped by race) that share the key's
answer column; questions whose ``option_ordinal`` values are all equal are kept for the refusal rate only.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ava.evaluate.metrics import drop_refusal, ordinal_alignment, refusal_share
from ava.evaluate.suites.base import (
    DistKey,
    Loaded,
    Question,
    SuiteDataError,
    SuiteResult,
    mean_or_none,
    parse_list,
    question_row,
    require_columns,
    require_file,
)

OVERALL = "Overall"
NOT_ORDINAL = "option_ordinal positions all equal (not an ordinal question)"
NORMALISED = "options_matched_after_normalisation"
# Curly quotes and apostrophes (OQA-XL's option texts) -> their ASCII forms, before NFKC and casefold.
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u201c": '"', "\u201d": '"'})


@dataclass(frozen=True)
class InfoRow:
    key: str
    question: str
    references: tuple[str, ...]
    ordinal: tuple[float, ...]


@dataclass
class Human:
    """Summed survey weights ``{key: {group: {answer: weight}}}`` and respondents left out for no weight."""

    weights: dict[str, dict[str, dict[str, float]]]
    no_weight: int


def group_name(attribute: str, value: str) -> str:
    """Results key a demographic group by ``ATTRIBUTE=value`` (``POLPARTY=Democrat``); ``Overall`` is all."""
    return f"{attribute}={value}"


def read_text_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    """Every cell as text; only empty cells are missing (pandas >= 2 would read the answer "None" as NaN)."""
    return pd.read_csv(path, dtype=object, keep_default_na=False, na_values=[""], **kwargs)


def read_info(survey_dir: Path) -> list[InfoRow]:
    """info.csv's rows in file order; a key may repeat with other question texts (W43's IDIMPORT_W43)."""
    path = require_file(survey_dir / "info.csv", "OpinionQA info.csv")
    df = read_text_csv(path)
    require_columns(df.columns, ["key", "question", "references", "option_ordinal"], path)
    rows, seen = [], set()
    for i, r in enumerate(df.to_dict("records")):
        try:
            refs = tuple(str(x) for x in parse_list(r["references"], "references"))
            ordinal = tuple(float(x) for x in parse_list(r["option_ordinal"], "option_ordinal"))
        except ValueError as exc:
            raise SuiteDataError(f"{path} data row {i + 1}: {exc}") from None
        if len(ordinal) > len(refs):
            raise SuiteDataError(
                f"{path} data row {i + 1} ({r['key']}): more option_ordinal values than references"
            )
        row = InfoRow(str(r["key"]), str(r["question"]), refs, ordinal)
        if (row.key, row.question) not in seen:
            seen.add((row.key, row.question))
            rows.append(row)
    return rows


def question_ids(rows: list[InfoRow]) -> dict[tuple[str, str], str]:
    """``{(key, question text): question id}``: the key itself, or ``KEY:n`` (n-th text of the key in
    info.csv order) for a key info.csv gives to several texts."""
    texts: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        texts[r.key].append(r.question)
    return {
        (k, t): k if len(ts) == 1 else f"{k}:{n}" for k, ts in texts.items() for n, t in enumerate(ts, 1)
    }


def _weight_column(columns: list[str], survey_dir: Path) -> str:
    m = re.search(r"W(\d+)$", survey_dir.name)
    if m and f"WEIGHT_W{m.group(1)}" in columns:
        return f"WEIGHT_W{m.group(1)}"
    weights = [c for c in columns if c.startswith("WEIGHT_W")]
    if len(weights) != 1:
        raise SuiteDataError(
            f"{survey_dir / 'responses.csv'}: cannot tell the survey weight column "
            f"(want WEIGHT_W<wave> matching the folder name {survey_dir.name!r}); found {weights or 'none'}"
        )
    return weights[0]


def read_human(survey_dir: Path, keys: list[str], attributes: list[str]) -> Human:
    """Weighted answer totals per group for the keys that responses.csv has. A respondent with an empty
    weight is left out (the official code's weighted sums skip NaN) and counted; a weight that is not a
    non-negative number is an error naming its data row."""
    resp_path = require_file(survey_dir / "responses.csv", "OpinionQA responses.csv")
    meta_path = require_file(survey_dir / "metadata.csv", "OpinionQA metadata.csv")
    meta = read_text_csv(meta_path)
    require_columns(meta.columns, ["key", "options"], meta_path)
    groups = {
        str(k): list(dict.fromkeys(str(o) for o in parse_list(v, f"metadata options of {k}")))
        for k, v in zip(meta["key"], meta["options"], strict=True)
    }
    resp = read_text_csv(resp_path, low_memory=False)
    wcol = _weight_column(list(resp.columns), survey_dir)
    raw = resp[wcol]
    weight = pd.to_numeric(raw, errors="coerce")
    bad = (raw.notna() & weight.isna()) | (weight < 0)
    if bad.any():
        rows = [int(i) + 1 for i in np.flatnonzero(bad.to_numpy())[:5]]
        raise SuiteDataError(f"{resp_path}: {wcol} is not a non-negative number in data row(s) {rows}")
    weighted = weight.notna()
    resp, weight = resp[weighted], weight[weighted]
    attrs = [a for a in attributes if a in groups and a in resp.columns]
    # each respondent's group index per attribute (-1: not one of metadata.csv's groups), computed once
    member = {a: pd.Index(groups[a]).get_indexer(resp[a].to_numpy(dtype=object)) for a in attrs}
    w = weight.to_numpy(dtype=np.float64)
    out = {
        key: group_totals(resp[key].to_numpy(dtype=object), w, member, groups, str)
        for key in dict.fromkeys(keys)
        if key in resp.columns
    }
    return Human(out, int((~weighted).sum()))


def group_totals(
    col: np.ndarray,
    w: np.ndarray,
    member: dict[str, np.ndarray],
    groups: dict[str, list[str]],
    answer_key: Any = str,
) -> dict[str, dict[Any, float]]:
    """Summed weight of each answer (``answer_key(answer)``), overall and per ``ATTRIBUTE=group``, over the
    respondents who answered (missing: None/NaN); ``member[attr]`` is each respondent's group index or -1."""
    answered = pd.notna(col)
    codes, answers = pd.factorize(col[answered])
    wa, k = w[answered], len(answers)
    keys = [answer_key(a) for a in answers]
    per_group = {OVERALL: dict(zip(keys, np.bincount(codes, wa, k).tolist(), strict=True))}
    for attr, index in member.items():
        g = index[answered]
        inside = g >= 0
        cell = g[inside] * k + codes[inside]  # (group, answer) cell
        n = len(groups[attr]) * k
        sums = np.bincount(cell, wa[inside], n).reshape(-1, k)
        seen = np.bincount(cell, minlength=n).reshape(-1, k) > 0
        for gi in np.flatnonzero(seen.any(axis=1)):
            per_group[group_name(attr, groups[attr][gi])] = {
                keys[j]: float(sums[gi, j]) for j in np.flatnonzero(seen[gi])
            }
    return per_group


def normalise_option(text: str) -> str:
    """Option text for matching when the exact text is not found: ASCII quotes, NFKC, casefolded, single
    spaces (OQA-XL writes "Don’t" and "MORE" where info.csv has "Don't" and "more")."""
    return " ".join(unicodedata.normalize("NFKC", text.translate(_QUOTES)).casefold().split())


def match_options(options: tuple[str, ...], refs: tuple[str, ...]) -> tuple[list[int | None], bool]:
    """Each option's index in ``refs`` (None if absent) and whether normalisation was needed."""
    exact = [refs.index(o) if o in refs else None for o in options]
    if None not in exact:
        return exact, False
    norm_refs = [normalise_option(r) for r in refs]
    if len(set(norm_refs)) < len(norm_refs):
        return exact, False
    matched = [norm_refs.index(normalise_option(o)) if normalise_option(o) in norm_refs else None for o in options]
    if len(set(matched)) < len(matched):  # two options folding onto one reference: no safe match
        return exact, False
    return matched, matched != exact


def ordinal_question(qid: str, text: str, options: tuple[str, ...], info: InfoRow) -> Question | str:
    """Attach ordinal positions / refusal flags to ``options`` (benchmark order); a reason if it cannot.

    Options are matched to info.csv's references exactly, else after :func:`normalise_option` (flagged in
    ``meta["normalised"]``); ``meta["answers"]`` holds the matched reference texts, which responses.csv
    answers with. A question whose ordinal positions are all equal gets ``meta["unscorable"]``: the official
    code gives it no representativeness but keeps it in the refusal rate.
    """
    n = len(info.ordinal)
    index, normalised = match_options(options, info.references)
    if any(i is None for i in index):
        return "option text not among info.csv references"
    if set(range(n)) - set(index):
        return "an info.csv option is missing from the question's options"
    positions = [info.ordinal[i] if i < n else None for i in index]
    kept = [p for p in positions if p is not None]
    meta: dict[str, Any] = {
        "key": info.key,
        "positions": positions,
        "refusal": [p is None for p in positions],
        "answers": [info.references[i] for i in index],
        "normalised": normalised,
    }
    if len(kept) < 2 or max(kept) == min(kept):
        meta["unscorable"] = NOT_ORDINAL
    return Question(qid, text, options, meta)


def _alignment(q: Question, dist: np.ndarray, human: dict[str, float]) -> float | None:
    refusal = q.meta["refusal"]
    h = np.array([human.get(a, 0.0) for a, r in zip(q.meta["answers"], refusal, strict=True) if not r])
    if h.sum() <= 0:
        return None
    if all(dist[i] <= 0 for i, r in enumerate(refusal) if not r):
        return None
    pm, _ = drop_refusal(dist, refusal)
    pos = [p for p in q.meta["positions"] if p is not None]
    return ordinal_alignment(pos, pm, h)


def _has_ordinal_answers(q: Question, human: dict[str, float] | None) -> bool:
    """helpers.extract_human_opinions keeps a (question, group) only when its ordinal answers weigh > 0."""
    if not human:
        return False
    return sum(human.get(a, 0.0) for a, r in zip(q.meta["answers"], q.meta["refusal"], strict=True) if not r) > 0


def score_survey(
    name: str, loaded: Loaded, dists: dict[DistKey, np.ndarray], template: str, steer_subset: set[str] | None
) -> SuiteResult:
    """Representativeness per group (mean over questions of the OpinionQA alignment), refusal rate, and
    steerability (per group, per question the best of the steering contexts, averaged).

    The refusal rate follows ``refusals.ipynb``: the mean model refusal mass over the questions that have an
    ``Overall`` human distribution (ordinal answers weighing > 0), equal-ordinal questions included."""
    human: dict[str, dict[str, dict[str, float]]] = loaded.extra["human"]
    skipped = Counter(loaded.skipped)
    per_group: dict[str, list[float]] = defaultdict(list)
    refusals: list[float] = []
    used = unscorable_predictions = 0
    rows: list[dict[str, Any]] = []
    steer: dict[tuple[str, str], list[DistKey]] = defaultdict(list)  # keys only: a distribution is read when scored
    for key in dists:
        if key[1] is not None:
            steer[(key[0], key[1])].append(key)
    steer_scores: dict[str, list[float]] = defaultdict(list)
    for q in loaded.questions:
        hq = human.get(q.meta["key"])
        d = dists.get((q.id, None, None))
        answered = hq is not None and _has_ordinal_answers(q, hq.get(OVERALL))
        if d is not None and answered:
            refusals.append(refusal_share(d, q.meta["refusal"]))
        reason = (
            q.meta.get("unscorable")
            or (hq is None and "no human responses for the question")
            or (not answered and "no human answers on the ordinal options")
        )
        shown = [o for o, r in zip(q.options, q.meta["refusal"], strict=True) if not r]
        positions = [p for p in q.meta["positions"] if p is not None] or None
        if not reason and d is None:
            reason = "no model distribution"
        elif not reason and all(d[i] <= 0 for i, r in enumerate(q.meta["refusal"]) if not r):
            reason = "model put all its mass on the refusal option"
        if reason:
            skipped[reason] += 1
            unscorable_predictions += d is not None and bool(q.meta.get("unscorable") or not answered)
            rows.append(question_row(q.id, OVERALL, None, shown, positions, reason))
            if q.meta.get("unscorable") or not answered:
                continue
        else:
            for g, counts in hq.items():
                a = _alignment(q, d, counts)
                if a is not None:
                    per_group[g].append(a)
                    rows.append(question_row(q.id, g, a, shown, positions))
            used += 1
        if steer_subset is not None and q.id not in steer_subset:
            continue
        for g, counts in hq.items():
            contexts = steer.get((q.id, g))
            if contexts:
                scores = [a for a in (_alignment(q, dists[k], counts) for k in contexts) if a is not None]
                if scores:
                    steer_scores[g].append(max(scores))
    groups = {g: float(np.mean(v)) for g, v in sorted(per_group.items())}
    demo = [v for g, v in groups.items() if g != OVERALL]
    steerability = {g: float(np.mean(v)) for g, v in sorted(steer_scores.items())}
    metrics: dict[str, Any] = {
        "overall_representativeness": groups.get(OVERALL),
        "refusal_rate": mean_or_none(refusals),
        "refusal_rate_questions": len(refusals),
        "steerability": steerability,
        "steerability_mean": mean_or_none(list(steerability.values())),
        "steer_subset_questions": None if steer_subset is None else len(steer_subset),
        "predictions_for_skipped_questions": unscorable_predictions,
        NORMALISED: sum(bool(q.meta.get("normalised")) for q in loaded.questions),
        "respondents_without_weight": loaded.extra["no_weight"],
    }
    return SuiteResult(
        benchmark=name,
        headline_metric="representativeness (mean over demographic groups)",
        headline=mean_or_none(demo),
        per_group=groups,
        group_questions={g: len(v) for g, v in sorted(per_group.items())},
        metrics=metrics,
        questions_total=loaded.total,
        questions_used=used,
        skipped=dict(skipped),
        prompt_template=template,
        per_question=rows,
    )
