"""python -m ava.evaluate benchmark=behaviour data=DATASET_DIR model=NAME [adapter=DIR] output_dir=OUT.

Scores a model on the behaviour tasks of ``python -m ava.build_dataset`` (``DATASET_DIR/val.jsonl`` or its
``val-NNNNN.jsonl.zst`` shards, ``ava.sample_files``): each sample's answer is generated greedily with the chat
template used in training, parsed into the sample's ``target`` schema (``parse``) and scored per task
(``grading``), next to the random and majority baselines (``baselines``, from the train split). With
``adapter=`` the base model (adapter disabled) is scored in the same run too (``behaviour.compare_base``), so one
report compares them. TAG / TS / TC also get the perplexity of the real reply, and TS / TC ΔPPL = PPL(target
ad) − PPL(source ad), both as the reply to the same prompt (the AVA paper's ΔPPL; negative: the model prefers
the better ad). ``model=precomputed model.predictions=FILE`` scores ``{"id", "output"}`` lines without a model
(no perplexities then).

Writes ``OUT/results.json``, ``OUT/report.md``, ``OUT/plots/behaviour_tasks.png`` and per scored system
``OUT/outputs_<system>.jsonl`` (id, task, output, parsed prediction: readable as ``model.predictions=`` again).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from ava import sample
from ava.evaluate.behaviour import baselines, grading, parse
from ava.evaluate.behaviour.outputs import read_outputs
from ava.evaluate.behaviour.task_report import write_behaviour_report
from ava.runtime import peak_rss_mb, pick_device, write_jsonl
from ava.sample import read_samples, reply, require_split, source_ad
from ava.sample_files import missing_split, split_files, split_label

log = logging.getLogger(__name__)
NAME = "behaviour"


def read_split(path: Path) -> list[dict[str, Any]]:
    """The samples of a split, each with its target (a line without one raises ``ava.sample.DatasetError``)."""
    return read_samples(path, need_target=True)


def select(samples: list[dict[str, Any]], tasks: list[str] | None, per_task: int | None) -> dict[str, list[dict]]:
    by_task: dict[str, list[dict]] = defaultdict(list)
    for s in samples:
        if tasks is None or s["task"] in tasks:
            by_task[s["task"]].append(s)
    if tasks is not None and (absent := sorted(set(tasks) - set(by_task))):
        log.warning("behaviour.tasks names %s, which the split does not hold", absent)
    return {t: (v[:per_task] if per_task else v) for t, v in sorted(by_task.items())}


def region_lookup(cfg: DictConfig, samples: list[dict[str, Any]]) -> tuple[dict[str, list[str]], tuple]:
    """The region tables by kind (the ones build_dataset ranked with: ``population.*``) and the names the parser
    knows: every table's, plus any region in the samples' targets."""
    from ava.populations import COUNTRY_TABLE, US_TABLE, load_population

    tables = {"region": list(load_population(cfg.population.path, US_TABLE)),
              "country": list(load_population(cfg.population.countries_path, COUNTRY_TABLE))}
    ranked = [(s["target"], a.key) for s in samples if (a := grading.tap_attribute(s["task"])) and a.kind == "ranking"]
    extra = {r for t, key in ranked for r in [*t[key], *(t.get("distribution") or {})]}
    names = sorted({n for t in tables.values() for n in t} | extra)
    return tables, (parse.region_pattern(names), {n.lower(): n for n in names})


def answer_budgets(cfg_b: DictConfig, train: dict[str, list[dict]], tokenizer) -> dict[str, int]:
    """New-token budget per family: ``max_new_tokens`` capped at ``budget_slack`` × the longest training reply of
    the family (+ its end token); the cap alone where the baseline split has none of the family."""
    budgets = {fam: int(cap) for fam, cap in cfg_b.max_new_tokens.items()}
    longest: dict[str, int] = {}
    for task, samples in train.items():
        fam = sample.family(task)
        for s in samples:
            longest[fam] = max(longest.get(fam, 0), len(tokenizer.encode(reply(s), add_special_tokens=False)))
    for fam, n in longest.items():
        if fam in budgets:
            budgets[fam] = min(budgets[fam], math.ceil(float(cfg_b.budget_slack) * n) + 1)
    return budgets


def _model_outputs(cfg: DictConfig, work: dict[str, list[dict]], train: dict[str, list[dict]]
                   ) -> tuple[dict[str, dict], dict[str, Any]]:
    """Generate every sample's answer (and reply perplexities) for each system: base, adapter or both."""
    from contextlib import nullcontext

    from ava.evaluate.behaviour.generate import generate_counted, prompt_text, reply_perplexities
    from ava.models.load import load_with_adapter

    cfg_b = cfg.behaviour
    device = pick_device(cfg.device)
    model, tokenizer = load_with_adapter(cfg.model, cfg.adapter, device, require_chat_template=True)
    if cfg.adapter is None:
        systems: dict[str, Any] = {"base": nullcontext}
    else:  # PeftModel.disable_adapter(): the same weights without the LoRA update
        systems = {"base": model.disable_adapter} if cfg_b.compare_base else {}
        systems["adapter"] = nullcontext
    bs = int(cfg_b.batch_size)
    families: dict[str, list[dict]] = defaultdict(list)
    for task, samples in work.items():
        families[sample.family(task)].extend(samples)
    budgets = answer_budgets(cfg_b, train, tokenizer)
    out: dict[str, dict] = {}
    for name, ctx in systems.items():
        outputs: dict[str, str] = {}
        tokens: dict[str, int] = {}
        ppl: dict[str, dict[str, float]] = defaultdict(dict)
        with ctx():
            # one generate call per task family (same answer budget), so the batches mix its tasks' samples
            for fam, samples in families.items():
                prompts = [prompt_text(tokenizer, s["messages"]) for s in samples]
                texts, counts = generate_counted(model, tokenizer, prompts, budgets[fam], bs, desc=f"{name} {fam}",
                                                 one_line=fam not in sample.GENERATIVE_FAMILIES)
                outputs.update({s["id"]: t for s, t in zip(samples, texts, strict=True)})
                tokens.update({s["id"]: n for s, n in zip(samples, counts, strict=True)})
                if fam in sample.GENERATIVE_FAMILIES and cfg_b.perplexity:
                    scored = [(s, pr, reply(s), "target") for s, pr in zip(samples, prompts, strict=True)]
                    scored += [(s, pr, src, "source") for s, pr in zip(samples, prompts, strict=True)
                               if fam in ("TS", "TC") and (src := source_ad(s))]
                    got = reply_perplexities(model, tokenizer, [x[1] for x in scored], [x[2] for x in scored], bs)
                    for (s, _, _, which), value in zip(scored, got, strict=True):
                        ppl[s["id"]][which] = value
                log.info("%s %s: %d answers", name, fam, len(samples))
        out[name] = {"outputs": outputs, "ppl": dict(ppl), "tokens": tokens}
    info = {"device": device, "chat_template": True, "max_new_tokens": budgets,
            "systems": {n: ("base model, adapter disabled" if n == "base" and cfg.adapter else n) for n in out}}
    return out, info


def score_system(task: str, samples: list[dict], outputs: dict[str, str], ppl: dict[str, dict[str, float]],
                 regions: tuple, tokens: dict[str, int] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    preds, rows = [], []
    missing = unparseable = 0
    for s in samples:
        text = outputs.get(s["id"])
        pred = None if text is None else parse.parse(task, text, s["target"], regions)
        missing += text is None
        unparseable += text is not None and pred is None
        preds.append(pred)
        rows.append({"id": s["id"], "task": task, "output": text, "parsed": pred,
                     **({"tokens": tokens[s["id"]]} if tokens and s["id"] in tokens else {})})
    entry: dict[str, Any] = {"missing": missing, "unparseable": unparseable}
    if tokens:  # generated by a model here: the answer's tokens through its stop token, per sample
        entry["tokens_per_sample"] = float(np.mean([tokens[s["id"]] for s in samples])) if samples else None
    if sample.is_generative(task):
        entry["metrics"] = grading.score_generative([p and p["text"] for p in preds], [reply(s) for s in samples])
        tgt = [ppl[s["id"]]["target"] for s in samples if "target" in ppl.get(s["id"], {})]
        deltas = [ppl[s["id"]]["target"] - ppl[s["id"]]["source"] for s in samples
                  if "source" in ppl.get(s["id"], {})]
        entry["metrics"]["ppl_target"] = float(np.mean(tgt)) if tgt else None
        if sample.family(task) != "TAG":
            entry["metrics"]["delta_ppl"] = float(np.mean(deltas)) if deltas else None
            entry["delta_ppl_samples"] = len(deltas)
    else:
        entry["metrics"] = grading.score_classification(task, [s["target"] for s in samples], preds)
    return entry, rows


def evaluate_behaviour(cfg: DictConfig) -> dict[str, Any]:
    cfg_b = cfg.behaviour
    if cfg.data is None:
        raise ValueError("benchmark=behaviour needs data=DATASET_DIR (a python -m ava.build_dataset output_dir)")
    data = Path(cfg.data)
    split_path = data / f"{cfg_b.split}.jsonl"
    require_split(split_path)  # SPLIT.jsonl or its shards (ava.sample_files), before a model is loaded
    precomputed = bool(cfg.model.get("precomputed", False))
    if precomputed and cfg.model.predictions is None:
        raise ValueError("model=precomputed needs model.predictions=FILE.jsonl ({\"id\", \"output\"} lines)")
    tasks = None if cfg_b.tasks is None else list(cfg_b.tasks)
    samples = read_split(split_path)
    work = select(samples, tasks, cfg_b.max_samples_per_task)
    train_path = data / f"{cfg_b.baseline_split}.jsonl"
    found = bool(split_files(train_path))
    train = select(read_split(train_path), tasks, None) if found else {}
    if not train:
        log.warning("%s: majority and range baselines are left out",
                    f"{train_path} has none of the scored tasks" if found else missing_split(train_path))
    tables, regions = region_lookup(cfg, samples)

    if precomputed:
        systems = {"precomputed": {"outputs": read_outputs(cfg.model.predictions, [s["id"] for s in samples]),
                                   "ppl": {}}}
        info: dict[str, Any] = {"predictions": str(cfg.model.predictions)}
    else:
        systems, info = _model_outputs(cfg, work, train)

    out_dir = Path(cfg.output_dir)
    task_docs: dict[str, Any] = {}
    for task, ss in work.items():
        targets = [s["target"] for s in ss]
        tdoc: dict[str, Any] = {"family": sample.family(task), "samples": len(ss),
                                "headline_metric": grading.headline(task), "systems": {}, "baselines": {}}
        for name, sys in systems.items():
            entry, rows = score_system(task, ss, sys["outputs"], sys["ppl"], regions, sys.get("tokens"))
            tdoc["systems"][name] = entry
            sys.setdefault("rows", []).extend(rows)
        if not sample.is_generative(task):
            tr = [s["target"] for s in train.get(task, [])]
            tdoc["baselines"]["random"] = baselines.random_baseline(task, targets, tr, cfg_b.classes, tables)
            tdoc["baselines"]["majority"], tdoc["majority_answer"] = baselines.majority_baseline(task, targets, tr)
            tdoc["train_samples"] = len(tr)
        task_docs[task] = tdoc

    scored = "adapter" if "adapter" in systems else next(iter(systems))
    heads = [d["systems"][scored]["metrics"][d["headline_metric"]] for d in task_docs.values()
             if d["family"] not in sample.GENERATIVE_FAMILIES]
    doc: dict[str, Any] = {
        "model": str(cfg.model.get("name_or_path")),
        "adapter": None if cfg.adapter is None else str(cfg.adapter),
        "mode": "precomputed" if precomputed else "model",
        **info,
        "data": split_label(split_path),  # the file, or the shards, read
        "baseline_data": split_label(train_path) if train else None,
        "config": OmegaConf.to_container(cfg_b, resolve=True),
        "benchmarks": {NAME: {
            "benchmark": NAME,
            "headline": {"metric": f"mean headline metric over classification tasks ({scored})",
                         "value": float(np.mean(heads)) if heads else None},
            "systems": list(systems),
            "tasks": task_docs,
            "counts": {"samples": sum(len(v) for v in work.values()), "tasks": len(work)},
        }},
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, sys in systems.items():
        path = out_dir / f"outputs_{name}.jsonl"
        write_jsonl(path, sys.get("rows", []))
    write_behaviour_report(out_dir, doc)
    for task, d in task_docs.items():
        vals = {n: d["systems"][n]["metrics"][d["headline_metric"]] for n in systems}
        log.info("%s: %s %s", task, d["headline_metric"], {n: _round(v) for n, v in vals.items()})
    return doc


def _round(v: Any) -> Any:
    return round(v, 4) if isinstance(v, float) and math.isfinite(v) else v
