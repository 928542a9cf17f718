"""python -m ava.evaluate benchmark=oqa_xl data=DIR: OpinionQA-XL (the ALPHA authors' 94-wave expansion of
OpinionQA), read from the release as published: ``DIR/opinionqa-xl.json`` (``{wave: {qcode: {question,
options}}}``) and the Pew ATP respondent files ``DIR/**/ATP W<n>.sav`` (:mod:`.atp_release`).

Every question of every wave whose ``.sav`` is present is loaded (id ``<QCODE>_W<n>``, its ``.sav`` column):

* options: the JSON's, in the JSON's order (the order answers first appear in the data, not code order),
  minus literal ``"nan"`` entries (counted: ``metrics.nan_options_dropped``); precomputed predictions are over
  these options in this order. Each option is matched to the column's SPSS value label, exactly or after
  :func:`~ava.evaluate.suites.pew.normalise_option` (counted: ``options_matched_after_normalisation``); an
  option written as a number ("0.0") is the column's unlabelled code of that value (counted:
  ``options_matched_as_unlabelled_codes``). A question with an option matching neither, or with no column,
  stays loaded (predictions for it are accepted) and is skipped when scored, with that reason; one with more
  options than letters (26: W82's feeling thermometers list up to 45 observed values) is skipped at loading.
* refusal: the option coded 99 or labelled "Refused" (the release also codes it 999).
* ordinal positions: OpinionQA's hand-curated ``option_ordinal`` where an OpinionQA ``info.csv`` has the
  question (``suites.oqa_xl.opinionqa_info``, default ``DIR/human_resp``), else the SPSS codes with one rule
  (:func:`spss_positions`): when a question has 3+ options and its highest-coded option is a middle /
  no-difference answer (:data:`MIDDLE`), that option sits halfway between the other codes' extremes (W26
  ``WORLDDANGER``: safer 1, more dangerous 2, neither 3 -> 1.5). On the 686 questions of the 808 overlap
  entries that OpinionQA's info.csv covers, the rule reproduces OpinionQA's ordinals exactly for 665 (96.9%);
  the rest are 12 nominal questions (all-equal ordinals, which no label rule tells apart from scales) and 9
  "not applicable" answers OpinionQA also put in the middle ("I am already doing this", "Offline").
* humans: the answers weighted by ``WEIGHT_W<n>`` (respondents without a weight left out and counted), per
  OpinionQA group from the ``F_*`` columns (:mod:`.atp_release`); scoring is OpinionQA's (:mod:`.pew`).

``suites.oqa_xl.metric=authors`` scores instead as the authors' ``OQA-XL/eval_oqaxl_representativeness.py``
(behavior-in-the-wild/AlignViaActions50M) computes, labelled so everywhere: per question, unweighted counts of
the answers whose label equals an option text exactly (refusals and missing not counted), the model's
probabilities normalised, ``v = 1 - scipy.stats.wasserstein_distance(audience, model) / (n - 1)`` with the two
*probability vectors passed as sample values* (so it compares the sets of probabilities, not where the mass
sits on the scale), questions with a NaN ``v`` left out, and the sum divided by the fixed 6188. Here ``n`` is
the number of options asked (the JSON's minus "nan"); the script reads the same ``.sav`` files.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from ava.evaluate.suites import atp_release, opinionqa
from ava.evaluate.suites.base import (
    LETTERS,
    DistKey,
    Loaded,
    Question,
    Request,
    SuiteDataError,
    SuiteResult,
    mean_or_none,
    question_row,
    require_file,
)
from ava.evaluate.suites.labelled import LabelledFrame, read_labelled
from ava.evaluate.suites.pew import (
    NORMALISED,
    OVERALL,
    InfoRow,
    group_totals,
    match_options,
    normalise_option,
    ordinal_question,
    read_info,
    score_survey,
)

log = logging.getLogger(__name__)
NAME = "oqa_xl"
QUESTIONS_FILE = "opinionqa-xl.json"
# A middle / no-difference answer (matched on normalise_option's text): derived from OpinionQA's info.csv, where
# every option placed between the poles is one of these (tests/evaluate/test_oqa_xl_release.py measures it).
MIDDLE = re.compile(
    r"neither|same|difference|no more or less|equal|right amount|about right|no impact on|not sure|mix"
    r"|about as|where i expected|one way or the other|doesn't matter|^both\b"
)
AUTHORS_DENOMINATOR = 6188  # eval_oqaxl_representativeness.py: print('Alignment= ', sum / 6188)
AUTHORS_LABEL = "authors' eval_oqaxl_representativeness.py"
NO_COLUMN = "no column for the question in the .sav"


def spss_positions(labels: list[str], codes: list[float]) -> list[float]:
    """Ordinal positions of non-refusal options from their SPSS codes (the rule in the module docstring)."""
    positions = [float(c) for c in codes]
    if len(codes) >= 3:
        top = int(np.argmax(codes))
        if MIDDLE.search(normalise_option(labels[top])):
            others = [c for i, c in enumerate(positions) if i != top]
            positions[top] = (min(others) + max(others)) / 2
    return positions


def _read_questions(qpath: Path) -> dict[str, dict[str, Any]]:
    try:
        waves = json.loads(qpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise SuiteDataError(f"{qpath}: malformed JSON ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(waves, dict) or not all(isinstance(v, dict) for v in waves.values()):
        raise SuiteDataError(f"{qpath}: expected {{wave: {{qcode: {{question, options}}}}}}")
    for wave, items in waves.items():
        for qcode, item in items.items():
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("question"), str)
                or not isinstance(item.get("options"), list)
            ):
                raise SuiteDataError(f"{qpath}: {wave}/{qcode} needs 'question' (str) and 'options' (list)")
    return waves


def _opinionqa_info(path: Path, cfg: Any) -> dict[str, list[InfoRow]]:
    """OpinionQA's info.csv rows by key, from every ``<folder>/info.csv`` under the configured folder."""
    setting = cfg.get("opinionqa_info")
    root = Path(setting) if setting else path / "human_resp"
    if setting and not root.is_dir():
        raise SuiteDataError(f"suites.oqa_xl.opinionqa_info={root} is not a folder of OpinionQA survey folders")
    by_key: dict[str, list[InfoRow]] = {}
    if root.is_dir():
        for survey in opinionqa.survey_folders(root)[0]:  # not the disagreement_500 subset (repeats wave keys)
            for row in read_info(survey):
                by_key.setdefault(row.key, []).append(row)
    return by_key


def _question(
    wave: str, qcode: str, item: dict[str, Any], frame: LabelledFrame, info: dict[str, list[InfoRow]],
    stats: Counter,
) -> Question | None:  # fmt: skip
    qid = f"{qcode}_{wave}"
    raw = [str(o) for o in item["options"]]
    options = tuple(o for o in raw if o.strip().casefold() != "nan")
    stats["nan_options_dropped"] += len(raw) - len(options)
    if not options:
        return None
    n = len(options)
    meta: dict[str, Any] = {"key": qid, "positions": [None] * n, "refusal": [False] * n, "answers": [None] * n}

    def unscorable(reason: str) -> Question:
        return Question(qid, item["question"], options, {**meta, "unscorable": reason})

    if qid not in frame.data:
        return unscorable(NO_COLUMN)
    labels = frame.labels.get(qid) or {}
    index, normalised = match_options(options, tuple(labels.values()))
    col = frame.data[qid].to_numpy()
    unlabelled = set(np.unique(col[~np.isnan(col)]).tolist()) - set(labels)
    codes = [list(labels)[i] if i is not None else _number(o, unlabelled) for o, i in zip(options, index, strict=True)]
    if any(c is None for c in codes) or len(set(codes)) < n:
        return unscorable("option text not among the .sav value labels or unlabelled codes")
    stats["options_matched_as_unlabelled_codes"] += sum(i is None for i in index)
    texts = [labels.get(c, o) for c, o in zip(codes, options, strict=True)]
    refusal = [c == 99 or normalise_option(t) == "refused" for c, t in zip(codes, texts, strict=True)]
    meta.update(answers=codes, refusal=refusal, normalised=normalised, labels=texts)
    rows = info.get(qid, [])
    if len(rows) > 1:  # a key with several texts (W43): the one this entry asks
        rows = [r for r in rows if normalise_option(r.question) == normalise_option(item["question"])]
    curated = ordinal_question(qid, item["question"], options, rows[0]) if len(rows) == 1 else None
    if isinstance(curated, Question):
        meta.update(positions=curated.meta["positions"], refusal=curated.meta["refusal"], source="opinionqa")
        meta["normalised"] = normalised or curated.meta["normalised"]
        if curated.meta.get("unscorable"):
            meta["unscorable"] = curated.meta["unscorable"]
        return Question(qid, item["question"], options, meta)
    if isinstance(curated, str):
        stats["opinionqa_info_rows_not_matched_spss_rule_used"] += 1
    kept = [i for i in range(n) if not refusal[i]]
    pos = spss_positions([texts[i] for i in kept], [codes[i] for i in kept])
    positions: list[float | None] = [None] * n
    for i, p in zip(kept, pos, strict=True):
        positions[i] = p
    meta.update(positions=positions, source="spss")
    if len(kept) < 2 or max(pos) == min(pos):
        meta["unscorable"] = "fewer than two distinct ordinal positions"
    return Question(qid, item["question"], options, meta)


def _number(option: str, codes: set[float]) -> float | None:
    """An option written as a number ("0.0": how the release lists unlabelled answers) that is one of the
    column's unlabelled codes."""
    try:
        value = float(option)
    except ValueError:
        return None
    return value if value in codes else None


def _wanted(items: dict[str, Any], wave: str, weight: str) -> Any:
    keys = {f"{q}_{wave}" for q in items} | {weight}
    return lambda cols: [c for c in cols if c in keys] + atp_release.needed_columns(cols)


def load(path: Path, cfg: Any) -> Loaded:
    path = Path(path)
    waves = _read_questions(require_file(path / QUESTIONS_FILE, "OpinionQA-XL questions"))
    sav, ignored = atp_release.find_sav_files(path)
    info = _opinionqa_info(path, cfg)
    attributes = list(cfg.attributes)
    skipped: Counter = Counter()
    stats: Counter = Counter()
    questions: list[Question] = []
    human: dict[str, dict[str, dict[Any, float]]] = {}
    authors: dict[str, dict[str, int]] = {}
    no_weight = 0
    missing_attrs: dict[str, list[str]] = {}
    for wave, items in waves.items():
        m = re.fullmatch(r"W(\d+)", wave)
        if wave not in sav or not m:
            skipped["no .sav file for the wave"] += len(items)
            continue
        wcol = f"WEIGHT_W{int(m.group(1))}"
        frame = read_labelled(sav[wave], _wanted(items, wave, wcol))
        if wcol not in frame.data:
            log.warning("%s: no %s column; its %d questions are skipped", sav[wave], wcol, len(items))
            skipped["no WEIGHT_W<n> column in the wave's .sav"] += len(items)
            continue
        weight = frame.data[wcol].to_numpy()
        if np.any(weight < 0):
            rows = [int(i) + 1 for i in np.flatnonzero(weight < 0)[:5]]
            raise SuiteDataError(f"{sav[wave]}: {wcol} is negative in data row(s) {rows}")
        weighted = ~np.isnan(weight)
        no_weight += int((~weighted).sum())
        member, missing = atp_release.respondent_groups(frame, attributes)
        if missing:
            missing_attrs[wave] = missing
        member = {a: idx[weighted] for a, idx in member.items()}
        for qcode, item in items.items():
            q = _question(wave, qcode, item, frame, info, stats)
            if q is None:
                skipped["every option is 'nan'"] += 1
                continue
            if len(q.options) > len(LETTERS):
                skipped[f"more than {len(LETTERS)} options (one letter each)"] += 1
                continue
            questions.append(q)
            if q.id not in frame.data:
                continue
            col = frame.data[q.id].to_numpy()
            labels = frame.labels.get(q.id, {})
            texts = [labels.get(c) for c in col[~np.isnan(col)]]
            authors[q.id] = dict(Counter(t for t in texts if t is not None and t.casefold() != "refused"))
            if not q.meta.get("answers") or q.meta["answers"][0] is None:
                continue
            human[q.id] = group_totals(col[weighted].astype(object), weight[weighted], member,
                                       atp_release.GROUPS, float)  # fmt: skip
    total = sum(len(items) for items in waves.values())
    extra = {
        "human": human,
        "no_weight": no_weight,
        "steer": {},
        "steer_subset": None,
        "authors_counts": authors,
        "stats": {**dict(stats), "sav_files": len(sav), "sav_files_ignored": dict(ignored),
                  "attributes_not_in_sav": missing_attrs},
    }  # fmt: skip
    return Loaded(questions, total, skipped, extra)


def requests(loaded: Loaded, cfg: Any) -> list[Request]:
    return opinionqa.requests(loaded, cfg)


def score(loaded: Loaded, dists: dict[DistKey, np.ndarray], cfg: Any) -> SuiteResult:
    metric = cfg.get("metric", "official")
    if metric == "authors":
        return score_authors(loaded, dists, cfg.template)
    if metric != "official":
        raise ValueError(f"suites.oqa_xl.metric={metric!r}: choose official or authors")
    result = score_survey(NAME, loaded, dists, cfg.template, None)
    stats = dict(loaded.extra["stats"])
    result.metrics.update(metric="official (OpinionQA's representativeness, survey-weighted)", **stats)
    result.metrics["ordinal_source"] = dict(Counter(q.meta.get("source", "none") for q in loaded.questions))
    return result


def score_authors(loaded: Loaded, dists: dict[DistKey, np.ndarray], template: str) -> SuiteResult:
    """The authors' script's number on the same predictions (module docstring)."""
    counts = loaded.extra["authors_counts"]
    skipped = Counter(loaded.skipped)
    values: list[float] = []
    rows = []
    group = f"{OVERALL} ({AUTHORS_LABEL})"
    for q in loaded.questions:
        d = dists.get((q.id, None, None))
        audience = counts.get(q.id)
        value, reason = None, None
        if audience is None:
            reason = NO_COLUMN
        elif d is None:
            reason = "no model distribution"
        else:
            a = np.array([audience.get(o, 0) for o in q.options], dtype=np.float64)
            if a.sum() <= 0:
                reason = "no answer label equals an option text (the script's v is NaN, not summed)"
            elif len(q.options) < 2:
                reason = "one option (the script's v is 0/0, not summed)"
            else:
                w = wasserstein_distance(a / a.sum(), np.asarray(d, dtype=np.float64) / d.sum())
                value = 1.0 - w / (len(q.options) - 1)
        if reason:
            skipped[reason] += 1
        else:
            values.append(value)
        rows.append(question_row(q.id, group, value, q.options, None, reason))
    summed = float(np.sum(values)) if values else 0.0
    metrics = {
        "metric": f"authors ({AUTHORS_LABEL}: sum of 1 - W1(probabilities as sample values)/(n-1) over "
        f"questions, / {AUTHORS_DENOMINATOR}; unweighted answers; NOT OpinionQA's representativeness)",
        "authors_sum": summed,
        "authors_denominator": AUTHORS_DENOMINATOR,
        "authors_mean_over_scored_questions": mean_or_none(values),
        NORMALISED: sum(bool(q.meta.get("normalised")) for q in loaded.questions),
        **loaded.extra["stats"],
    }
    return SuiteResult(
        benchmark=NAME,
        headline_metric=f"{AUTHORS_LABEL} score (sum / {AUTHORS_DENOMINATOR}; not OpinionQA's definition)",
        headline=summed / AUTHORS_DENOMINATOR,
        per_group={group: mean_or_none(values)} if values else {},
        group_questions={group: len(values)} if values else {},
        metrics=metrics,
        questions_total=loaded.total,
        questions_used=len(values),
        skipped=dict(skipped),
        prompt_template=template,
        per_question=rows,
    )
