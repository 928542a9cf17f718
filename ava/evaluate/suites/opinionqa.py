"""python -m ava.evaluate benchmark=opinionqa data=DIR: OpinionQA (Santurkar et al. 2023), CodaLab layout.

``DIR/model_input/*.csv`` (tab- or comma-separated: ``question, options`` and usually ``key``; the HELM
copies are named ``Pew_American_Trends_Panel_W<wave>.csv``) list the questions and their options in prompt
order; ``steer-qa.csv`` / ``steer-bio.csv`` / ``steer-portray.csv`` hold the steering contexts (``md`` the
attribute, ``subgroup`` the group) and ``Pew_American_Trends_Panel_disagreement_500.csv`` the steerability
subset. ``DIR/human_resp/<survey>/`` holds the human responses (see :mod:`ava.evaluate.suites.pew`);
the released ``human_resp/Pew_American_Trends_Panel_disagreement_500/`` (info.csv + metadata.csv, no
responses) is read as the steerability subset when model_input has none, never as a survey.
Question id = the ``key`` (``CAREREL_W27``); a key that info.csv gives to several texts (W43's IDIMPORT_W43,
RACESURV36_W43, RACESURV37_W43: five each, piped by the respondent's race, one answer column) is five
questions ``KEY:1`` ... ``KEY:5`` in info.csv order, all compared with the key's answers. A model_input row
is matched by its key (and text, for such keys), else as helpers.py does by question text and set of
options. Without ``model_input`` every info.csv question is used.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ava.evaluate.suites.base import (
    LETTERS,
    DistKey,
    Loaded,
    Question,
    Request,
    SuiteDataError,
    SuiteResult,
    format_options,
    parse_list,
    require_columns,
)
from ava.evaluate.suites.pew import (
    InfoRow,
    group_name,
    ordinal_question,
    question_ids,
    read_human,
    read_info,
    read_text_csv,
    score_survey,
)

NAME = "opinionqa"
STEER_FILES = {"qa": "steer-qa.csv", "bio": "steer-bio.csv", "portray": "steer-portray.csv"}
DISAGREEMENT = "Pew_American_Trends_Panel_disagreement_500.csv"


def read_table(path: Path) -> pd.DataFrame:
    """The CodaLab model_input files are tab-separated (HELM reads them with sep='\\t'); accept commas too."""
    with path.open(encoding="utf-8") as fh:
        header = fh.readline()
    return read_text_csv(path, sep="\t" if "\t" in header else ",")


def _model_input_rows(dir_: Path) -> list[tuple[Path, int, dict[str, Any]]]:
    rows = []
    for path in sorted(dir_.glob("*.csv")):
        if path.name in STEER_FILES.values() or path.name == DISAGREEMENT:
            continue
        df = read_table(path)
        require_columns(df.columns, ["question", "options"], path)
        rows.extend((path, i, r) for i, r in enumerate(df.to_dict("records")))
    return rows


def survey_folders(human_root: Path) -> tuple[list[Path], Path | None]:
    """Survey folders, and the released ``Pew_American_Trends_Panel_disagreement_500/`` folder (info.csv +
    metadata.csv only, keys repeating the waves' keys): the steering subset, not a survey."""
    folders = sorted(p for p in human_root.iterdir() if p.is_dir() and (p / "info.csv").is_file())
    subset = [p for p in folders if p.name == Path(DISAGREEMENT).stem]
    return [p for p in folders if p not in subset], (subset[0] if subset else None)


def load(path: Path, cfg: Any) -> Loaded:
    path = Path(path)
    human_root = path / "human_resp"
    if not human_root.is_dir():
        raise SuiteDataError(f"OpinionQA needs {human_root}/<survey>/info.csv,responses.csv,metadata.csv")
    surveys, subset_dir = survey_folders(human_root)
    rows: list[InfoRow] = []
    survey_of: dict[str, Path] = {}
    for survey in surveys:
        for row in read_info(survey):
            if survey_of.setdefault(row.key, survey) != survey:
                raise SuiteDataError(f"key {row.key} is in both {survey_of[row.key]} and {survey}")
            rows.append(row)
    if not rows:
        raise SuiteDataError(f"no survey folders with info.csv under {human_root}")
    ids = question_ids(rows)
    by_key: dict[str, list[InfoRow]] = {}
    for r in rows:
        by_key.setdefault(r.key, []).append(r)
    # helpers.extract_model_opinions finds a prompt's info.csv row by question text and set of references
    index: dict[tuple[str, frozenset], list[InfoRow]] = {}
    for r in rows:
        index.setdefault((r.question, frozenset(r.references)), []).append(r)
    skipped: Counter = Counter()
    questions: list[Question] = []
    model_input = path / "model_input"
    if model_input.is_dir():
        source = []
        for file, i, row in _model_input_rows(model_input):
            try:
                options = tuple(str(o) for o in parse_list(row["options"], "options"))
            except ValueError as exc:
                raise SuiteDataError(f"{file} row {i}: {exc}") from None
            source.append((row.get("key"), str(row["question"]), options))
    else:
        source = [(r.key, r.question, r.references) for r in rows]
    for key, text, options in source:
        info = _info_row(key, text, options, by_key, index)
        if isinstance(info, str):
            skipped[info] += 1
            continue
        q = ordinal_question(ids[(info.key, info.question)], text, options, info)
        if isinstance(q, str):
            skipped[q] += 1
        else:
            questions.append(q)
    human: dict[str, dict] = {}
    no_weight = 0
    for survey in sorted({survey_of[q.meta["key"]] for q in questions}):
        keys = sorted({q.meta["key"] for q in questions if survey_of[q.meta["key"]] == survey})
        h = read_human(survey, keys, list(cfg.attributes))
        human.update(h.weights)
        no_weight += h.no_weight
    # the steerability subset: model_input's disagreement file, else the released human_resp folder
    subset_file = model_input / DISAGREEMENT
    if not subset_file.is_file() and subset_dir is not None:
        subset_file = subset_dir / "info.csv"
    extra = {
        "human": human,
        "no_weight": no_weight,
        "steer": _read_steering(model_input, list(cfg.steering)),
        "steer_subset": _read_subset(subset_file, questions) if subset_file.is_file() else None,
    }
    return Loaded(questions, len(source), skipped, extra)


def _info_row(
    key: Any,
    text: str,
    options: tuple[str, ...],
    by_key: dict[str, list[InfoRow]],
    index: dict[tuple[str, frozenset], list[InfoRow]],
) -> InfoRow | str:
    """The info.csv row a model_input row asks: by its key (and its text where the key has several), else
    by question text and the set of options; a skip reason when there is none."""
    if isinstance(key, str):
        candidates = by_key.get(key)
        if not candidates:
            return "no matching info.csv row"
        if len(candidates) == 1:
            return candidates[0]
        same = [r for r in candidates if r.question == text]
        return same[0] if same else "question text not among the key's info.csv texts"
    found = index.get((text, frozenset(options)), [])
    return found[0] if len(found) == 1 else "no matching info.csv row"


def _read_steering(
    model_input: Path, contexts: list[str]
) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    """``{context: [(group, context name, fields)]}`` for each steering context asked for. A group's second
    row in one file becomes context ``<ctx>:2`` and so on; steerability takes the best context anyway."""
    out: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for ctx in contexts:
        if ctx not in STEER_FILES:
            raise ValueError(f"unknown OpinionQA steering context {ctx!r}; choose from {sorted(STEER_FILES)}")
        path = model_input / STEER_FILES[ctx]
        if not path.is_file():
            raise SuiteDataError(f"steering={ctx} needs {path} (from the OpinionQA model_input release)")
        df = read_table(path)
        require_columns(
            df.columns, ["question", "md", "subgroup"] + (["options", "correct"] if ctx == "qa" else []), path
        )
        items, seen = [], Counter()
        for i, r in enumerate(df.to_dict("records")):
            if ctx == "qa":
                opts = [str(o) for o in parse_list(r["options"], f"{path} options")]
                if str(r["correct"]) not in opts:
                    raise SuiteDataError(
                        f"{path} row {i}: correct={r['correct']!r} is not among its options"
                    )
                text = {
                    "question": str(r["question"]),
                    "options": opts,
                    "answer": LETTERS[opts.index(str(r["correct"]))],
                }
            else:
                text = {"text": str(r["question"])}
            group = group_name(str(r["md"]), str(r["subgroup"]))
            seen[group] += 1
            items.append((group, ctx if seen[group] == 1 else f"{ctx}:{seen[group]}", text))
        out[ctx] = items
    return out


def _read_subset(path: Path, questions: list[Question]) -> set[str]:
    """The question ids of the steerability subset: rows matched by ``key`` (and by ``question`` where the
    key has several texts), or by question text and set of options when the file has no key column."""
    df = read_table(path)
    has_key = "key" in df.columns
    require_columns(df.columns, ["question"] + ([] if has_key else ["options"]), path)
    records = df.to_dict("records")
    if not has_key:
        wanted = {
            (str(r["question"]), frozenset(str(o) for o in parse_list(r["options"], f"{path} options")))
            for r in records
        }
        return {q.id for q in questions if (q.text, frozenset(q.options)) in wanted}
    pairs = {(str(r["key"]), str(r["question"])) for r in records}
    keys = {k for k, _ in pairs}
    texts = Counter(q.meta["key"] for q in questions)
    return {
        q.id
        for q in questions
        if (q.meta["key"], q.text) in pairs or (q.meta["key"] in keys and texts[q.meta["key"]] == 1)
    }


def prompt(q: Question, cfg: Any, context: str = "") -> str:
    return cfg.template.format(
        context=context, question=q.text, options=format_options(q.options, cfg.option_format)
    )


def requests(loaded: Loaded, cfg: Any) -> list[Request]:
    """Every question unsteered (equal-ordinal ones too: they count in the refusal rate); the steering
    contexts only for the scorable questions (of the disagreement subset when there is one)."""
    letters = {q.id: tuple(LETTERS[: len(q.options)]) for q in loaded.questions}
    out = [Request(q.id, None, None, prompt(q, cfg), letters[q.id]) for q in loaded.questions]
    subset = loaded.extra["steer_subset"]
    steered = [q for q in loaded.questions if not q.meta.get("unscorable") and (subset is None or q.id in subset)]
    for ctx, items in loaded.extra["steer"].items():
        for group, name, item in items:
            if ctx == "qa":
                opts = format_options(tuple(item["options"]), cfg.option_format)
                text = cfg.steer_formats.qa.format(
                    question=item["question"], options=opts, answer=item["answer"]
                )
            else:
                text = cfg.steer_formats[ctx].format(text=item["text"])
            out.extend(
                Request(q.id, group, name, prompt(q, cfg, text), letters[q.id]) for q in steered
            )
    return out


def score(loaded: Loaded, dists: dict[DistKey, np.ndarray], cfg: Any) -> SuiteResult:
    return score_survey(NAME, loaded, dists, cfg.template, loaded.extra["steer_subset"])
