"""python -m ava.evaluate benchmark=global_opinionqa data=FILE_OR_DIR: GlobalOpinionQA (Durmus et al. 2023).

``global_opinions.csv`` (the Anthropic/llm_global_opinions release): ``question``, ``selections`` (a string
such as ``defaultdict(<class 'list'>, {'Belgium': [0.2, 0.8], ...})``: each country's answer shares),
``options`` (a Python list literal), ``source``. Both literals are read with ``ast.literal_eval``, never
``eval``. The question id is the 0-based data row. Similarity per country = mean over its questions of
``1 - JS distance`` (base 2) between the model's and the country's distributions; headline = mean over
countries. The paper does not state the base; base 2 keeps the distance in [0, 1]. In nats the distance is
sqrt(ln 2) times the base-2 one, so a mean similarity of 0.480 in base 2 reads 0.567 with natural logs.
Shares are renormalised (many released ones do not sum to 1). A row without a usable country distribution
(9 released rows have all shares 0) stays a known id: its predictions are accepted, counted, and the row is
counted as skipped. By default each country is asked with the paper's cross-national prompt ("How would
someone from {country} answer ..."); ``steer_country=false`` asks once and compares that answer with every
country.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ava.evaluate.metrics import js_similarity
from ava.evaluate.suites.base import (
    LETTERS,
    MAX_LITERAL_CHARS,
    DistKey,
    Loaded,
    Question,
    Request,
    SuiteDataError,
    SuiteResult,
    format_options,
    mean_or_none,
    parse_list,
    parse_literal,
    question_row,
    require_columns,
    require_file,
)

NAME = "global_opinionqa"
FILE = "global_opinions.csv"
_DEFAULTDICT = re.compile(r"^\s*defaultdict\(\s*<class '\w+'>\s*,\s*(\{.*\})\s*\)\s*$", re.DOTALL)


def parse_selections(text: str) -> dict[str, list[float]]:
    """``defaultdict(<class 'list'>, {...})`` or a plain dict literal -> ``{country: [shares]}``."""
    text = str(text)
    m = _DEFAULTDICT.match(text) if len(text) <= MAX_LITERAL_CHARS else None
    value = parse_literal(m.group(1) if m else text, "selections")
    if not isinstance(value, dict):
        raise ValueError(f"selections is not a dict: {str(text)[:80]!r}")
    out = {}
    for country, shares in value.items():
        if not isinstance(shares, (list, tuple)) or not all(isinstance(s, (int, float)) for s in shares):
            raise ValueError(f"selections[{country!r}] is not a list of numbers")
        out[str(country)] = [float(s) for s in shares]
    return out


def load(path: Path, cfg: Any) -> Loaded:
    path = Path(path)
    file = require_file(path / FILE if path.is_dir() else path, "GlobalOpinionQA global_opinions.csv")
    df = pd.read_csv(file)
    require_columns(df.columns, ["question", "selections", "options"], file)
    questions, skipped, dropped = [], Counter(), Counter()
    for i, row in enumerate(df.to_dict("records")):
        try:
            options = tuple(str(o) for o in parse_list(row["options"], "options"))
            selections = parse_selections(row["selections"])
        except ValueError as exc:
            skipped[f"unreadable row ({type(exc).__name__})"] += 1
            continue
        countries = {}
        for country, shares in selections.items():
            arr = np.asarray(shares, dtype=np.float64)
            if arr.size != len(options):
                dropped["shares/options length mismatch"] += 1
            elif not np.all(np.isfinite(arr)) or np.any(arr < 0) or arr.sum() <= 0:
                dropped["shares not a distribution"] += 1
            else:
                countries[country] = arr / arr.sum()
        meta: dict[str, Any] = {"countries": countries, "source": row.get("source")}
        if not countries or len(options) < 2:  # e.g. all shares 0: a known id, scored as skipped
            meta["unscorable"] = "no usable country distribution"
        questions.append(Question(str(i), str(row["question"]), options, meta))
    if not questions and not skipped:
        raise SuiteDataError(f"{file}: no rows")
    return Loaded(questions, len(df), skipped, {"dropped_country_distributions": dict(dropped)})


def requests(loaded: Loaded, cfg: Any) -> list[Request]:
    out = []
    for q in loaded.questions:
        if q.meta.get("unscorable"):
            continue
        letters = tuple(LETTERS[: len(q.options)])
        opts = format_options(q.options, cfg.option_format)
        if cfg.steer_country:
            out.extend(
                Request(
                    q.id,
                    c,
                    None,
                    cfg.country_template.format(country=c, question=q.text, options=opts),
                    letters,
                )
                for c in q.meta["countries"]
            )
        else:
            out.append(Request(q.id, None, None, cfg.template.format(question=q.text, options=opts), letters))
    return out


def score(loaded: Loaded, dists: dict[DistKey, np.ndarray], cfg: Any) -> SuiteResult:
    per_country: dict[str, list[float]] = defaultdict(list)
    skipped, used, unscorable_predictions = Counter(loaded.skipped), 0, 0
    predicted = {qid for qid, _, _ in dists}
    rows = []
    for q in loaded.questions:
        if q.meta.get("unscorable"):
            skipped[q.meta["unscorable"]] += 1
            unscorable_predictions += q.id in predicted
            rows.append(question_row(q.id, None, None, q.options, None, q.meta["unscorable"]))
            continue
        hit = False
        for country, human in q.meta["countries"].items():
            d = dists.get((q.id, country, None))
            if d is None:
                d = dists.get((q.id, None, None))
            if d is not None:
                per_country[country].append(js_similarity(d, human))
                rows.append(question_row(q.id, country, per_country[country][-1], q.options, None))
                hit = True
        if hit:
            used += 1
        else:
            skipped["no model distribution"] += 1
            rows.append(question_row(q.id, None, None, q.options, None, "no model distribution"))
    groups = {c: float(np.mean(v)) for c, v in sorted(per_country.items())}
    return SuiteResult(
        benchmark=NAME,
        headline_metric="similarity 1 - JSD (mean over countries)",
        headline=mean_or_none(list(groups.values())),
        per_group=groups,
        group_questions={c: len(v) for c, v in sorted(per_country.items())},
        metrics={
            "steer_country": bool(cfg.steer_country),
            "dropped_country_distributions": loaded.extra["dropped_country_distributions"],
            "jsd_log_base": 2,
            "predictions_for_skipped_questions": unscorable_predictions,
        },
        questions_total=loaded.total,
        questions_used=used,
        skipped=dict(skipped),
        prompt_template=cfg.country_template if cfg.steer_country else cfg.template,
        per_question=rows,
    )
