"""python -m ava.evaluate benchmark=opinionqa data=DIR: OpinionQA (Santurkar et al. 2023), CodaLab layout.

``DIR/model_input/*.csv`` (tab- or comma-separated: ``question, options`` and usually ``key``; the HELM
copies are named ``Pew_American_Trends_Panel_W<wave>.csv``) list the questions and their options in prompt
order; ``steer-qa.csv`` / ``steer-bio.csv`` / ``steer-portray.csv`` hold the steering contexts (``md`` the
attribute, ``subgroup`` the group) and ``Pew_American_Trends_Panel_disagreement_500.csv`` the steerability
subset. ``DIR/human_resp/<survey>/`` holds the human responses (see :mod:`ava.evaluate.benchmarks.pew`).
Question id = the ``key`` (``CAREREL_W27``). Without ``model_input`` every info.csv question is used.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ava.evaluate.benchmarks.base import (
    LETTERS,
    BenchmarkDataError,
    BenchmarkResult,
    DistKey,
    Loaded,
    Question,
    Request,
    format_options,
    parse_list,
    require_columns,
)
from ava.evaluate.benchmarks.pew import (
    InfoRow,
    group_name,
    ordinal_question,
    read_human,
    read_info,
    score_survey,
)

NAME = "opinionqa"
STEER_FILES = {"qa": "steer-qa.csv", "bio": "steer-bio.csv", "portray": "steer-portray.csv"}
DISAGREEMENT = "Pew_American_Trends_Panel_disagreement_500.csv"


def read_table(path: Path) -> pd.DataFrame:
    """The CodaLab model_input files are tab-separated (HELM reads them with sep='\\t'); accept commas too."""
    with path.open(encoding="utf-8") as fh:
        header = fh.readline()
    return pd.read_csv(path, sep="\t" if "\t" in header else ",")


def _model_input_rows(dir_: Path) -> list[tuple[Path, int, dict[str, Any]]]:
    rows = []
    for path in sorted(dir_.glob("*.csv")):
        if path.name in STEER_FILES.values() or path.name == DISAGREEMENT:
            continue
        df = read_table(path)
        require_columns(df.columns, ["question", "options"], path)
        rows.extend((path, i, r) for i, r in enumerate(df.to_dict("records")))
    return rows


def _match_key(row: dict[str, Any], options: tuple[str, ...], index: dict[Any, str]) -> str | None:
    if isinstance(row.get("key"), str):
        return row["key"]
    return index.get((str(row["question"]), frozenset(options)))


def load(path: Path, cfg: Any) -> Loaded:
    path = Path(path)
    human_root = path / "human_resp"
    if not human_root.is_dir():
        raise BenchmarkDataError(f"OpinionQA needs {human_root}/<survey>/info.csv,responses.csv,metadata.csv")
    infos: dict[str, InfoRow] = {}
    survey_of: dict[str, Path] = {}
    for survey in sorted(p for p in human_root.iterdir() if p.is_dir()):
        for key, row in read_info(survey).items():
            infos[key], survey_of[key] = row, survey
    if not infos:
        raise BenchmarkDataError(f"no survey folders with info.csv under {human_root}")
    skipped: Counter = Counter()
    questions: list[Question] = []
    model_input = path / "model_input"
    if model_input.is_dir():
        index = {(r.question, frozenset(r.references)): k for k, r in infos.items()}
        source = []
        for file, i, row in _model_input_rows(model_input):
            try:
                options = tuple(str(o) for o in parse_list(row["options"], "options"))
            except ValueError as exc:
                raise BenchmarkDataError(f"{file} row {i}: {exc}") from None
            source.append((_match_key(row, options, index), str(row["question"]), options))
    else:
        source = [(k, r.question, r.references) for k, r in infos.items()]
    for key, text, options in source:
        if key is None or key not in infos:
            skipped["no matching info.csv row"] += 1
            continue
        q = ordinal_question(key, text, options, infos[key])
        if isinstance(q, str):
            skipped[q] += 1
        else:
            questions.append(q)
    human: dict[str, dict] = {}
    for survey in sorted({survey_of[q.id] for q in questions}):
        keys = [q.id for q in questions if survey_of[q.id] == survey]
        human.update(read_human(survey, keys, list(cfg.attributes)))
    extra = {
        "human": human,
        "steer": _read_steering(model_input, list(cfg.steering)),
        "steer_subset": _read_subset(model_input / DISAGREEMENT, index if model_input.is_dir() else {}),
    }
    return Loaded(questions, len(source), skipped, extra)


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
            raise BenchmarkDataError(f"steering={ctx} needs {path} (from the OpinionQA model_input release)")
        df = read_table(path)
        require_columns(
            df.columns, ["question", "md", "subgroup"] + (["options", "correct"] if ctx == "qa" else []), path
        )
        items, seen = [], Counter()
        for i, r in enumerate(df.to_dict("records")):
            if ctx == "qa":
                opts = [str(o) for o in parse_list(r["options"], f"{path} options")]
                if str(r["correct"]) not in opts:
                    raise BenchmarkDataError(
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


def _read_subset(path: Path, index: dict[Any, str]) -> set[str] | None:
    if not path.is_file():
        return None
    df = read_table(path)
    if "key" in df.columns:
        return {str(k) for k in df["key"]}
    require_columns(df.columns, ["question", "options"], path)
    keys = {
        index.get((str(q), frozenset(str(o) for o in parse_list(op, "options"))))
        for q, op in zip(df["question"], df["options"], strict=True)
    }
    return {k for k in keys if k is not None}


def prompt(q: Question, cfg: Any, context: str = "") -> str:
    return cfg.template.format(
        context=context, question=q.text, options=format_options(q.options, cfg.option_format)
    )


def requests(loaded: Loaded, cfg: Any) -> list[Request]:
    letters = {q.id: tuple(LETTERS[: len(q.options)]) for q in loaded.questions}
    out = [Request(q.id, None, None, prompt(q, cfg), letters[q.id]) for q in loaded.questions]
    subset = loaded.extra["steer_subset"]
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
                Request(q.id, group, name, prompt(q, cfg, text), letters[q.id])
                for q in loaded.questions
                if subset is None or q.id in subset
            )
    return out


def score(loaded: Loaded, dists: dict[DistKey, np.ndarray], cfg: Any) -> BenchmarkResult:
    return score_survey(NAME, loaded, dists, cfg.template, loaded.extra["steer_subset"])
