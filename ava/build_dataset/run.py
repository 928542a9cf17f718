"""python -m ava.build_dataset: manifest + verbalized (+ dedup) → {train,val}.jsonl + build_summary.json.

``build_dataset(cfg) -> summary`` is the typed entry the command and the tests call.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from ava.build_dataset.behaviour import BehaviourConfig, Issues, load_population
from ava.build_dataset.items import build_items, load_dedup, load_verbalized, read_ads
from ava.build_dataset.split import assign_splits
from ava.build_dataset.stats import target_label, write_outputs
from ava.build_dataset.tasks.base import Context, Entry, Generator, make_entry, unit_hash
from ava.runtime import loud_warning, peak_rss_mb

log = logging.getLogger(__name__)
SPLITS = ("train", "val")


def _generators(cfg: DictConfig) -> list[Generator]:
    gens = []
    for name, gcfg in cfg.dataset_tasks.generators.items():
        gen = instantiate(gcfg, _convert_="all")
        if not isinstance(gen, Generator):
            raise TypeError(f"dataset_tasks.generators.{name}: _target_ must name a Generator subclass")
        if gen.enabled:
            gens.append(gen)
    if not gens:
        raise ValueError("every task generator is disabled; enable one in dataset_tasks.generators")
    return gens


def _entries(cfg: DictConfig, issues: Issues, counts: Counter, errors: list[dict],
             unknown_regions: Counter) -> list[Entry]:
    bcfg = BehaviourConfig.from_cfg(cfg.behaviour)
    if cfg.verbalized is None:
        loud_warning("verbalized=null: samples use the ad copy only, without the verbalized creatives")
    verbalized, media_status = load_verbalized(cfg.verbalized)
    counts.update({f"media_status.{k}": v for k, v in media_status.items()})
    dedup = load_dedup(cfg.dedup)
    ads = read_ads(cfg.manifest, verbalized, bcfg, cfg.category_field, issues, counts, errors)
    counts["ads_read"] = len(ads)
    ids = {a.id for a in ads}
    counts["verbalized_ads_not_in_manifest"] = len(set(verbalized) - ids)
    counts["dedup_ads_not_in_manifest"] = len(set(dedup) - ids)
    population = load_population(cfg.population.path)
    entries = []
    for item in build_items(ads, dedup, bcfg, cfg.category_field, issues, counts):
        if not (item.title or item.body or item.creative):
            counts["skipped_items.no_content"] += 1
            continue
        entries.append(make_entry(item, population, cfg.population.per_head, bcfg.best_gender_from,
                                  bcfg.range_point, issues, unknown_regions))
    entries.sort(key=lambda e: e.key)
    return entries


def build_dataset(cfg: DictConfig) -> dict[str, Any]:
    """Build the instruction dataset; return the summary also written to ``output_dir/build_summary.json``."""
    t0 = time.perf_counter()
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    issues, counts, errors, unknown_regions = Issues(), Counter(), [], Counter()
    entries = _entries(cfg, issues, counts, errors, unknown_regions)
    units = assign_splits(entries, cfg.split.by, cfg.split.val_fraction, cfg.seed, cfg.split.val_after)
    gens = _generators(cfg)
    tasks_cfg = cfg.dataset_tasks
    ctx = Context(system=tasks_cfg.system, ad_fields=dict(tasks_cfg.ad_fields),
                  gender_names=dict(tasks_cfg.gender_names), audience=dict(tasks_cfg.audience),
                  seed=int(cfg.seed), embedder_factory=lambda: instantiate(cfg.text_embedder))
    per_task: dict[str, Counter] = defaultdict(Counter)
    targets: dict[str, Counter] = defaultdict(Counter)
    limits = cfg.limits
    tmp = {s: out / f".{s}.jsonl.tmp" for s in SPLITS}
    with open(tmp["train"], "w", encoding="utf-8") as ftrain, open(tmp["val"], "w", encoding="utf-8") as fval:
        files = {"train": ftrain, "val": fval}
        for split in SPLITS:
            pool = [e for e in entries if e.split == split]
            groups: dict[str, list[Entry]] = defaultdict(list)
            for e in pool:
                groups[e.advertiser_key].append(e)
            for adv in tqdm(sorted(groups), desc=f"{split} advertisers", disable=None):
                # every sample's items belong to this advertiser group: counts and ids reset per group
                per_item: Counter = Counter()
                seen_ids: set[str] = set()
                for gen in gens:
                    for s in gen.generate(groups[adv], pool, ctx):
                        src = s["meta"]["source"]["items"][0]
                        if unit_hash(cfg.seed, "keep", s["id"]) >= gen.weight:
                            counts["samples_dropped_by_weight"] += 1
                            continue
                        if (per_item[src] >= limits.max_samples_per_item
                                or per_item[(src, s["task"])] >= limits.max_samples_per_task_per_item):
                            counts["samples_dropped_by_limit"] += 1
                            continue
                        if s["id"] in seen_ids:
                            raise RuntimeError(f"sample id {s['id']} ({s['task']}) produced twice; a bug")
                        seen_ids.add(s["id"])
                        per_item[src] += 1
                        per_item[(src, s["task"])] += 1
                        files[split].write(json.dumps(s, ensure_ascii=False) + "\n")
                        per_task[s["task"]][split] += 1
                        targets[s["task"]][target_label(s)] += 1
    for s in SPLITS:
        os.replace(tmp[s], out / f"{s}.jsonl")
    summary = {
        "inputs": {"manifest": str(cfg.manifest), "verbalized": cfg.verbalized, "dedup": cfg.dedup},
        "seed": int(cfg.seed),
        "items": len(entries),
        "items_per_split": {s: sum(e.split == s for e in entries) for s in SPLITS},
        "split_units": units,
        "samples": {s: sum(c[s] for c in per_task.values()) for s in SPLITS},
        "samples_per_task": {t: dict(c) for t, c in sorted(per_task.items())},
        "target_distribution": {t: dict(c.most_common()) for t, c in sorted(targets.items())},
        "behaviour_issues": dict(sorted(issues.items())),
        "regions_without_population": dict(unknown_regions.most_common()),
        "counts": dict(sorted(counts.items())),
        "skipped_samples": dict(sorted(ctx.skipped.items())),
        "manifest_errors": errors,
        "config": OmegaConf.to_container(cfg, resolve=True),
        "seconds": round(time.perf_counter() - t0, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    write_outputs(out, summary, parquet=bool(cfg.parquet))
    log.info("wrote %s samples (train %d, val %d) to %s", sum(summary["samples"].values()),
             summary["samples"]["train"], summary["samples"]["val"], out)
    return summary
