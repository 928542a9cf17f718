"""python -m ava.evaluate benchmark=gss data=DIR: the General Social Survey, ALPHA's temporal benchmark.

``DIR`` holds the authors' question file ``questions_final.json`` (or ``.json.gz``; 3,982 entries ``{VAR:
{"Question", "Options"}}``, options in the order answers first appear in the 1972-2018 data, not code order)
and GSS respondent files with value labels: NORC's cumulative file (Stata ``.dta`` / SPSS ``.sav``), gssr's
``gss_sub.rda`` style extracts, and panel files (``gss_panel20.rda``: ``<var>_1a/_1b/_2`` with
``year_<wave>`` and ``<weight>_<wave>``, read as one cross-section per wave). Every ``.dta``/``.sav``/``.rda``
in ``DIR`` is read (``suites.gss.data_files`` to name them); a (variable, year) held by two files is taken
from the first, cross-section files before panels (gss_sub's 2016/2018 before gss_panel20's same respondents).

Questions (every filter counted): the entry's variable must be in the data; ``"Not available"`` and option-
less or one-option entries are not questions; the authors' ``infer-steer.py`` also drops questions of
``min_words - 1`` words or fewer; entries whose options are non-integer numbers (OVERSAMP's weights) are
not questions either. The file also holds codebook notes in place of question texts (SEX, RACE, VPSU);
these pass the authors' filter and are kept, as the authors prompted them. Each option is mapped to its
code by the variable's value labels (after :func:`~ava.evaluate.suites.pew.normalise_option`; a numeric
option such as ``3.0`` is the code of that value); the file's abbreviated old labels ("ALMST ALWAYS WRG",
"SAME ST,DIF CITY") are matched to the one remaining label they abbreviate (counted;
:func:`~.gss_options.option_codes`); a question with an option that maps to no code, or to several, is
skipped. Options naming a missing category (``REFUSED``, ``DONT KNOW``, ``IAP``) are shown in the prompt and
treated as refusals: dropped from the model's distribution, the rest renormalised.

Prompts as ``infer-steer.py`` builds them (``template``; options lettered in the file's order), once per
configured year (``Answer the following question as a person living in the year {year}.``) and once without
the year line; only the years in which the variable was asked are prompted. The model's distribution is
read over the letters in *code order* (``Request.letters``), so precomputed lines ``{"id": VAR, "year": Y,
"probs": [...]}`` (no ``year``: the no-year prompt) list probabilities in code order too, refusal-like
options last in the file's order.

Metrics, per (question, year) where the variable was asked: the humans' answers over the valid codes in code
order (missing, IAP, DK, NA dropped), weighted by the first ``weights`` column the file has (``wtssps``, the
2021+ releases' weight, then ``wtssall``, the older one; a respondent without one is left out and counted);
representativeness ``1 - W1 / (K - 1)`` with the K valid codes at positions 1..K (OpinionQA's definition on
the code order; the GSS codes of an item are ordered scales or 2-3 category items, so code order is the
ordinal order). Reported: the mean per year and over all pairs (the headline); the temporal fit per question
(Pearson correlation across years of the model's and the humans' mean position, rescaled to [0, 1]; and
the share of adjacent-year human changes of at least ``change_threshold`` in mean position whose direction
the model's mean position follows), because a model can match each year's level and still miss the trend
the benchmark is about; ΔRep = year prompt - no-year prompt on the same pairs (does naming the year help);
and three baselines on the same pairs: uniform, the humans pooled over all years (a model that ignores
time) and the humans of the previous wave the variable was asked (persistence).
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import pearsonr

from ava.evaluate.metrics import drop_refusal, ordinal_alignment
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
)
from ava.evaluate.suites.gss_options import option_codes
from ava.evaluate.suites.labelled import LabelledFrame, read_labelled

NAME = "gss"
QUESTION_FILES = ("questions_final.json", "questions_final.json.gz")
DATA_SUFFIXES = (".dta", ".sav", ".rda", ".rdata")
_PANEL_YEAR = re.compile(r"^year_(1a|1b|2)$")
_PANEL_SUFFIX = re.compile(r"_(1a|1b|2)$")


@dataclass
class Wave:
    """One cross-section of a data file: each row's year and weight, the variables' codes and labels."""

    year: np.ndarray
    weight: np.ndarray
    codes: dict[str, np.ndarray]
    labels: dict[str, dict[float, str]]


def _read_question_file(path: Path) -> dict[str, Any]:
    files = [path / n for n in QUESTION_FILES if (path / n).is_file()]
    if not files:
        raise SuiteDataError(f"GSS needs {path}/questions_final.json (or .json.gz), the ALPHA question file")
    opener = gzip.open if files[0].suffix == ".gz" else open
    try:
        with opener(files[0], "rt", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError, RecursionError) as exc:
        raise SuiteDataError(f"{files[0]}: malformed JSON ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(data, dict):
        raise SuiteDataError(f"{files[0]}: expected {{VAR: {{Question, Options}}}}")
    for key, item in data.items():
        if not isinstance(item, dict) or not isinstance(item.get("Question"), str) or not isinstance(
            item.get("Options"), list
        ):
            raise SuiteDataError(f"{files[0]}: {key} needs 'Question' (str) and 'Options' (list)")
    return data


def _data_files(path: Path, cfg: Any) -> list[Path]:
    names = cfg.get("data_files")
    if names:
        files = [path / n for n in names]
        for f in files:
            if not f.is_file():
                raise SuiteDataError(f"suites.gss.data_files: {f} not found")
        return files
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in DATA_SUFFIXES and p.is_file())
    if not files:
        raise SuiteDataError(f"no GSS respondent file (.dta, .sav, .rda) in {path}")
    return files


def _waves(frame: LabelledFrame, variables: set[str], weights: list[str]) -> tuple[list[Wave], int]:
    """The file's cross-sections (one, or one per panel wave) and respondents left out for no weight."""
    cols = set(frame.data.columns)
    suffixes = [m.group(1) for c in frame.columns if (m := _PANEL_YEAR.match(c))]
    plans = [(f"_{s}", f"year_{s}") for s in suffixes] if suffixes else [("", "year")]
    out, no_weight = [], 0
    for suffix, ycol in plans:
        if ycol not in cols:
            raise SuiteDataError(f"{frame.path}: no '{ycol}' column (the survey year)")
        wcol = next((w + suffix for w in weights if w + suffix in cols), None)
        if wcol is None:
            raise SuiteDataError(
                f"{frame.path}: none of the weight columns {[w + suffix for w in weights]} "
                "(suites.gss.weights lists them, first found wins)"
            )
        year = frame.data[ycol].to_numpy()
        weight = frame.data[wcol].to_numpy()
        if np.any(weight < 0):
            raise SuiteDataError(f"{frame.path}: {wcol} has negative weights")
        asked = ~np.isnan(year)
        keep = asked & ~np.isnan(weight)
        no_weight += int((asked & np.isnan(weight)).sum())
        codes = {v: frame.data[v + suffix].to_numpy()[keep] for v in variables if v + suffix in cols}
        labels = {v: frame.labels.get(v + suffix, {}) for v in codes}
        out.append(Wave(year[keep].astype(int), weight[keep], codes, labels))
    return out, no_weight


def _picker(variables: set[str], weights: list[str]) -> Any:
    """The columns to read: the question variables, the year and the weights, with or without a panel suffix."""
    wanted = variables | {"year"} | set(weights)
    return lambda cols: [c for c in cols if _PANEL_SUFFIX.sub("", c) in wanted]


def load(path: Path, cfg: Any) -> Loaded:
    path = Path(path)
    entries = _read_question_file(path)
    variables = {k.lower() for k in entries}
    weights = list(cfg.weights)
    read: list[tuple[bool, list[Wave]]] = []
    no_weight = 0
    for f in _data_files(path, cfg):
        frame = read_labelled(f, _picker(variables, weights))
        w, n = _waves(frame, variables, weights)
        read.append((any(_PANEL_YEAR.match(c) for c in frame.columns), w))
        no_weight += n
    waves = [w for _, ws in sorted(read, key=lambda r: r[0]) for w in ws]  # cross-sections before panels
    skipped: Counter = Counter()
    questions: list[Question] = []
    human: dict[str, dict[int, np.ndarray]] = {}
    stats: Counter = Counter()
    min_words = int(cfg.min_words)
    for key, item in entries.items():
        var = key.lower()
        holding = [wv for wv in waves if var in wv.codes]
        text, raw = item["Question"], list(item["Options"])
        shown = [o for o in raw if o != "Refused"]  # infer-steer.py skips an option exactly "Refused"
        reason = None
        if not holding:
            reason = "variable not in the data files"
        elif text.strip() == "Not available":
            reason = "question text 'Not available'"
        elif len(shown) < 2:
            reason = "fewer than two options"
        elif len(text.split(" ")) < min_words:
            reason = f"question of fewer than {min_words} words (infer-steer.py's filter)"
        elif any(isinstance(o, float) and not o.is_integer() for o in shown):
            reason = "non-integer numeric options (a weight or measure, not answer codes)"
        if reason:
            skipped[reason] += 1
            continue
        labels: dict[float, str] = {}
        present: set[float] = set()
        for wv in holding:
            for c, t in wv.labels[var].items():
                labels.setdefault(c, t)
            col = wv.codes[var]
            present |= set(np.unique(col[~np.isnan(col)]).tolist())
        codes, abbreviated = option_codes(shown, labels, present)
        stats["options_matched_as_abbreviations"] += abbreviated if codes else 0
        valid = [c for c in (codes or []) if c is not None]
        if codes is None or len(set(valid)) != len(valid):
            skipped["option text matches no value label or code"] += 1
            continue
        if len(valid) < 2:
            skipped["fewer than two valid codes"] += 1
            continue
        order = sorted((i for i, c in enumerate(codes) if c is not None), key=lambda i: codes[i])
        order += [i for i, c in enumerate(codes) if c is None]
        per_year: dict[int, np.ndarray] = {}
        valid_sorted = np.array(sorted(valid))
        for wv in holding:
            col = wv.codes[var]
            idx = np.searchsorted(valid_sorted, col)
            ok = (idx < len(valid_sorted)) & (valid_sorted[np.minimum(idx, len(valid_sorted) - 1)] == col)
            for y in np.unique(wv.year[ok]):
                sel = ok & (wv.year == y)
                sums = np.bincount(idx[sel], wv.weight[sel], len(valid_sorted))
                if int(y) in per_year:
                    stats["variable-year also in a later file or wave (first kept)"] += 1
                elif sums.sum() > 0:
                    per_year[int(y)] = sums
        if not per_year:
            skipped["no weighted answers on the valid codes"] += 1
            continue
        meta = {
            "prompt_options": [str(o) for o in shown],
            "letters": tuple(LETTERS[i] for i in order),
            "refusal": [codes[i] is None for i in order],
            "codes": [codes[i] for i in order],
        }
        questions.append(Question(key, text, tuple(str(shown[i]) for i in order), meta))
        human[key] = per_year
    extra = {"human": human, "no_weight": no_weight, "stats": dict(stats)}
    return Loaded(questions, len(entries), skipped, extra)


def prompt(q: Question, cfg: Any, year: int | None) -> str:
    opts = q.meta["prompt_options"]
    letters = LETTERS[: len(opts)]
    return cfg.template.format(
        year_line="" if year is None else cfg.year_line.format(year=year),
        question=q.text,
        options="\n".join(cfg.option_format.format(letter=L, option=o) for L, o in zip(letters, opts, strict=True)),
        letters=",".join(letters[:-1]),
        last=letters[-1],
    )


def _years(cfg: Any) -> list[int]:
    return [int(y) for y in cfg.years]


def requests(loaded: Loaded, cfg: Any) -> list[Request]:
    """Per question: the no-year prompt, and one prompt per configured year the variable was asked."""
    out = []
    for q in loaded.questions:
        asked = loaded.extra["human"][q.id]
        if cfg.no_year:
            out.append(Request(q.id, None, None, prompt(q, cfg, None), q.meta["letters"]))
        out.extend(
            Request(q.id, None, str(y), prompt(q, cfg, y), q.meta["letters"]) for y in _years(cfg) if y in asked
        )
    return out


def _mean_position(p: np.ndarray) -> float:
    """Expected code position rescaled to [0, 1] (0: the first code, 1: the last)."""
    k = len(p)
    return float(np.dot(p / p.sum(), np.arange(k)) / (k - 1))


def _model(q: Question, d: np.ndarray | None) -> np.ndarray | None:
    if d is None or all(d[i] <= 0 for i, r in enumerate(q.meta["refusal"]) if not r):
        return None
    return drop_refusal(d, q.meta["refusal"])[0]


def score(loaded: Loaded, dists: dict[DistKey, np.ndarray], cfg: Any) -> SuiteResult:
    years = _years(cfg)
    threshold = float(cfg.change_threshold)
    skipped = Counter(loaded.skipped)
    pair_skips: Counter = Counter()
    per_year: dict[str, list[float]] = defaultdict(list)
    series: dict[str, dict[str, list[float]]] = {k: defaultdict(list) for k in ("no_year", "delta", "uniform",
                                                                                 "pooled", "previous_wave")}
    pearsons: list[float] = []
    right = counted = 0
    rows: list[dict[str, Any]] = []
    used = 0
    for q in loaded.questions:
        hum = loaded.extra["human"][q.id]
        k = len(hum[next(iter(hum))])
        pos = list(range(1, k + 1))
        shown = [o for o, r in zip(q.options, q.meta["refusal"], strict=True) if not r]
        pooled = np.sum(list(hum.values()), axis=0)
        asked = sorted(hum)
        no_year = _model(q, dists.get((q.id, None, None)))
        fit_h, fit_m = [], []
        scored_any = False
        for y in years:
            if y not in hum:
                pair_skips["variable not asked in the year"] += 1
                continue
            h = hum[y]
            m = _model(q, dists.get((q.id, None, str(y))))
            if m is None:
                pair_skips["no model distribution (or all its mass on refusal options)"] += 1
                rows.append(question_row(q.id, "year prompt", None, shown, pos, "no model distribution", y))
                continue
            rep = ordinal_alignment(pos, m, h)
            per_year[str(y)].append(rep)
            rows.append(question_row(q.id, "year prompt", rep, shown, pos, None, y))
            scored_any = True
            series["uniform"][str(y)].append(ordinal_alignment(pos, np.ones(k), h))
            series["pooled"][str(y)].append(ordinal_alignment(pos, pooled, h))
            prev = [a for a in asked if a < y]
            if prev:
                series["previous_wave"][str(y)].append(ordinal_alignment(pos, hum[prev[-1]], h))
            if no_year is not None:
                rep0 = ordinal_alignment(pos, no_year, h)
                series["no_year"][str(y)].append(rep0)
                series["delta"][str(y)].append(rep - rep0)
                rows.append(question_row(q.id, "no-year prompt", rep0, shown, pos, None, y))
            fit_h.append(_mean_position(h))
            fit_m.append(_mean_position(m))
        used += scored_any
        if not scored_any:
            skipped["no (question, year) pair scored"] += 1
        r = None
        if len(fit_h) >= 3 and np.ptp(fit_h) > 0 and np.ptp(fit_m) > 0:
            r = float(pearsonr(fit_m, fit_h).statistic)
            pearsons.append(r)
        changes = [(fit_h[i + 1] - fit_h[i], fit_m[i + 1] - fit_m[i]) for i in range(len(fit_h) - 1)]
        big = [(dh, dm) for dh, dm in changes if abs(dh) >= threshold]
        hits = sum(np.sign(dh) == np.sign(dm) for dh, dm in big)
        right += hits
        counted += len(big)
        if scored_any:
            rows.append(question_row(q.id, "temporal fit: pearson", r, shown, pos,
                                     None if r is not None else "fewer than 3 years or a constant series"))
            rows.append(question_row(q.id, "temporal fit: direction share", hits / len(big) if big else None,
                                     shown, pos, None if big else f"no human change >= {threshold}"))
    all_reps = [v for vs in per_year.values() for v in vs]

    def summary(name: str) -> dict[str, Any]:
        vals = [v for vs in series[name].values() for v in vs]
        return {"overall": mean_or_none(vals), "pairs": len(vals),
                "per_year": {y: float(np.mean(v)) for y, v in sorted(series[name].items())}}

    metrics: dict[str, Any] = {
        "representativeness_overall": mean_or_none(all_reps),
        "pairs_scored": len(all_reps),
        "pairs_skipped": dict(pair_skips),
        "no_year_prompt": summary("no_year"),
        "delta_rep_year_minus_no_year": summary("delta"),
        "baselines": {b: summary(b) for b in ("uniform", "pooled", "previous_wave")},
        "temporal_pearson_mean": mean_or_none(pearsons),
        "temporal_pearson_questions": len(pearsons),
        "temporal_direction_share": right / counted if counted else None,
        "temporal_direction_changes": counted,
        "change_threshold": threshold,
        "respondents_without_weight": loaded.extra["no_weight"],
        **loaded.extra["stats"],
    }
    return SuiteResult(
        benchmark=NAME,
        headline_metric="representativeness 1 - W1/(K-1) over codes (mean over question-year pairs)",
        headline=mean_or_none(all_reps),
        per_group={y: float(np.mean(v)) for y, v in sorted(per_year.items())},
        group_questions={y: len(v) for y, v in sorted(per_year.items())},
        metrics=metrics,
        questions_total=loaded.total,
        questions_used=used,
        skipped=dict(skipped),
        prompt_template=cfg.template,
        per_question=rows,
    )
