"""python -m ava.evaluate benchmark=oqa_xl data=DIR: OpinionQA-XL (the AVA authors' 117-survey expansion).

``DIR/opinionqa-xl.json`` is ``{wave: {qcode: {question, options}}}`` (options in prompt order, refusal
included); the human distributions come in the same per-group form as OpinionQA, one folder per wave:
``DIR/human_resp/<wave>/info.csv, responses.csv, metadata.csv`` with question keys ``<qcode>_<wave>``
(``SPORTPOL_W54``), which is also the question id (``KEY:n`` for a key info.csv gives to several texts, the
entry's text picking the row). Metrics and real-file handling are OpinionQA's (:mod:`.pew`).

Differences from the authors' ``eval_oqaxl_representativeness.py``, on purpose: that script passes the two
probability vectors to ``scipy.stats.wasserstein_distance`` as *sample values* (so it measures how similar
the sets of probabilities are, not where the mass sits), divides by ``n_options - 1`` instead of the ordinal
span, counts raw rather than survey-weighted answers, and divides the sum by a fixed 6188. Here W1 is taken
over the ``option_ordinal`` positions with the distributions as weights, as OpinionQA defines it.

What the release lacks: it ships ``opinionqa-xl.json`` (94 waves, 5753 questions) and the raw ATP ``.sav``
files, but no ``info.csv``, ``metadata.csv`` or ``option_ordinal``. Only its 12 waves that OpinionQA also
covers (808 questions) can be scored, with OpinionQA's ``human_resp/<wave>/`` folder renamed to the wave.
Each of the other 82 waves needs an ``info.csv`` (which options are ordinal, their positions, which are
refusals), a ``metadata.csv`` of the attribute groups and a ``responses.csv`` recoded from its ``.sav`` with
the answer texts of the JSON; the ordinals are not published anywhere. The JSON's option texts differ from
OpinionQA's references by case and curly quotes in 23 questions of the 5 waves tested here (21 of 298 in
W26/W41/W42/W92): they are matched after :func:`~ava.evaluate.suites.pew.normalise_option` and counted
(``metrics.options_matched_after_normalisation``); options the JSON cut at 120 characters (ALLIES_W92,
RACESURV50_W43) still skip their question.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ava.evaluate.suites import opinionqa
from ava.evaluate.suites.base import (
    DistKey,
    Loaded,
    Request,
    SuiteDataError,
    SuiteResult,
    require_file,
)
from ava.evaluate.suites.pew import (
    InfoRow,
    normalise_option,
    ordinal_question,
    question_ids,
    read_human,
    read_info,
    score_survey,
)

NAME = "oqa_xl"
QUESTIONS_FILE = "opinionqa-xl.json"


def load(path: Path, cfg: Any) -> Loaded:
    path = Path(path)
    qpath = require_file(path / QUESTIONS_FILE, "OpinionQA-XL questions")
    try:
        waves = json.loads(qpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise SuiteDataError(f"{qpath}: malformed JSON ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(waves, dict):
        raise SuiteDataError(f"{qpath}: expected {{wave: {{qcode: {{question, options}}}}}}")
    skipped: Counter = Counter()
    questions, human, no_weight = [], {}, 0
    for wave, items in waves.items():
        survey = path / "human_resp" / wave
        if not survey.is_dir():
            skipped["no human_resp folder for the wave"] += len(items)
            continue
        rows = read_info(survey)
        ids = question_ids(rows)
        by_key: dict[str, list[InfoRow]] = {}
        for r in rows:
            by_key.setdefault(r.key, []).append(r)
        wave_qs = []
        for qcode, item in items.items():
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("question"), str)
                or not isinstance(item.get("options"), list)
            ):
                raise SuiteDataError(
                    f"{qpath}: {wave}/{qcode} needs 'question' (str) and 'options' (list)"
                )
            candidates = by_key.get(f"{qcode}_{wave}", [])
            if len(candidates) > 1:  # a key with several texts (W43): the one this entry asks
                text = normalise_option(item["question"])
                candidates = [r for r in candidates if normalise_option(r.question) == text]
            if len(candidates) != 1:
                skipped["no matching info.csv row"] += 1
                continue
            info = candidates[0]
            options = tuple(str(o) for o in item["options"])
            q = ordinal_question(ids[(info.key, info.question)], item["question"], options, info)
            if isinstance(q, str):
                skipped[q] += 1
            else:
                wave_qs.append(q)
        h = read_human(survey, sorted({q.meta["key"] for q in wave_qs}), list(cfg.attributes))
        human.update(h.weights)
        no_weight += h.no_weight
        questions.extend(wave_qs)
    total = sum(len(items) for items in waves.values())
    extra = {"human": human, "no_weight": no_weight, "steer": {}, "steer_subset": None}
    return Loaded(questions, total, skipped, extra)


def requests(loaded: Loaded, cfg: Any) -> list[Request]:
    return opinionqa.requests(loaded, cfg)


def score(loaded: Loaded, dists: dict[DistKey, np.ndarray], cfg: Any) -> SuiteResult:
    return score_survey(NAME, loaded, dists, cfg.template, None)
