"""python -m ava.evaluate benchmark=NAME|all data=PATH model=NAME adapter=PATH|null output_dir=OUT.

Reads each benchmark's official files, gets answer distributions (from a local model, or from a
``model=precomputed model.predictions=FILE.jsonl`` file), scores them with the official metrics and writes
``OUT/results.json``, ``OUT/report.md`` and ``OUT/plots/``. ``benchmark=all``: ``data`` is a folder with one
entry per benchmark named after it (``opinionqa/``, ``oqa_xl/``, ``global_opinionqa/``, ``culturenli/``,
``culturebank/``, ``gss/``); every benchmark present is run, and precomputed ``predictions`` is then a folder of
``<benchmark>.jsonl`` files. ``benchmark=behaviour data=DATASET_DIR`` scores the behaviour tasks of a
``python -m ava.build_dataset`` output instead (``ava.evaluate.behaviour``).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ava.evaluate import suites
from ava.evaluate.predictions import ReadLog, not_scored, read_predictions
from ava.evaluate.report import write_report
from ava.evaluate.suites.base import Loaded, SuiteResult
from ava.runtime import peak_rss_mb, pick_device

log = logging.getLogger(__name__)


def plan(cfg: DictConfig) -> list[tuple[str, Path, Path | None]]:
    """``[(benchmark, data path, predictions file or None)]`` to run."""
    if cfg.data is None:
        raise ValueError(
            "data=PATH is required (a benchmark's files, or with benchmark=all a folder of them)"
        )
    data = Path(cfg.data)
    if not data.exists():
        raise FileNotFoundError(f"data={data} does not exist")
    precomputed = bool(cfg.model.get("precomputed", False))
    if precomputed and cfg.model.predictions is None:
        raise ValueError(
            "model=precomputed needs model.predictions=FILE.jsonl (or a folder of <benchmark>.jsonl with "
            "benchmark=all)"
        )
    if cfg.benchmark != "all":
        suites.get(cfg.benchmark)
        return [(cfg.benchmark, data, Path(cfg.model.predictions) if precomputed else None)]
    if not data.is_dir():
        raise NotADirectoryError(f"benchmark=all needs data=DIR holding {', '.join(suites.SUITES)}")
    present = [name for name in suites.SUITES if (data / name).exists()]
    if not present:
        raise FileNotFoundError(f"benchmark=all found none of {list(suites.SUITES)} under {data}")
    out = []
    for name in present:
        preds = None
        if precomputed:
            preds = Path(cfg.model.predictions) / f"{name}.jsonl"
            if not preds.is_file():
                raise FileNotFoundError(f"data for {name} is given but its predictions {preds} are missing")
        out.append((name, data / name, preds))
    return out


def _model_distributions(cfg: DictConfig, work: dict[str, Loaded]) -> tuple[dict, dict[str, Any]]:
    from ava.evaluate.scoring import letter_distributions, use_chat_template
    from ava.models.load import load_with_adapter

    device = pick_device(cfg.device)
    model, tokenizer = load_with_adapter(cfg.model, cfg.adapter, device)
    chat = use_chat_template(tokenizer, cfg.prompt.chat_template)
    max_tokens = getattr(model.config, "max_position_embeddings", None)
    dists, info = {}, {"device": device, "chat_template": chat, "prompts_too_long": {}}
    for name, loaded in work.items():
        reqs = suites.get(name).requests(loaded, cfg.suites[name])
        log.info("%s: %d prompts", name, len(reqs))
        dists[name], info["prompts_too_long"][name] = letter_distributions(
            model, tokenizer, reqs, int(cfg.batch_size), chat, cfg.prompt.system_prompt, max_tokens
        )
    return dists, info


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Run the benchmarks ``cfg`` names and write the reports; returns the ``results.json`` document."""
    if cfg.benchmark == "behaviour":
        from ava.evaluate.behaviour.tasks import evaluate_behaviour

        return evaluate_behaviour(cfg)
    steps = plan(cfg)
    work = {name: suites.get(name).load(path, cfg.suites[name]) for name, path, _ in steps}
    fixes: dict[str, Counter] = {}
    unused: dict[str, dict[str, Any]] = {}
    if cfg.model.get("precomputed", False):
        dists = {}
        for name, _, preds in steps:
            dists[name], fixes[name] = read_predictions(
                preds,
                work[name].by_id(),
                float(cfg.model.sum_tolerance),
                str(cfg.model.on_bad_sum),
            )
            dists[name] = ReadLog(dists[name])
        info: dict[str, Any] = {"predictions": {name: str(p) for name, _, p in steps}}
    else:
        dists, info = _model_distributions(cfg, work)
    results: dict[str, SuiteResult] = {
        name: suites.get(name).score(work[name], dists[name], cfg.suites[name]) for name in work
    }
    for name, preds in dists.items():
        if isinstance(preds, ReadLog):
            unused[name] = not_scored(preds)
            if unused[name]["predictions_not_scored"]:
                log.warning("%s: %d prediction line(s) name a group the data does not hold for their question "
                            "(not scored): %s", name, unused[name]["predictions_not_scored"],
                            unused[name]["predictions_not_scored_by_group"])
    doc: dict[str, Any] = {
        "model": str(cfg.model.get("name_or_path")),
        "adapter": None if cfg.adapter is None else str(cfg.adapter),
        "mode": "precomputed" if cfg.model.get("precomputed", False) else "model",
        **info,
        "config": OmegaConf.to_container(cfg.suites, resolve=True),
        "benchmarks": {},
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    for name, r in results.items():
        entry = r.as_dict()
        if name in fixes:
            entry["counts"]["predictions_renormalized"] = fixes[name].get("renormalized", 0)
            entry["counts"].update(unused[name])
        doc["benchmarks"][name] = entry
        log.info(
            "%s: %s = %s (%d/%d questions)",
            name,
            r.headline_metric,
            r.headline,
            r.questions_used,
            r.questions_total,
        )
    write_report(Path(cfg.output_dir), doc, {name: r.per_question for name, r in results.items()})
    return doc
