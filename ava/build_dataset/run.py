"""python -m ava.build_dataset: manifest + verbalized (+ dedup) → samples ({train,val}-NNNNN.jsonl.zst shards, or
{train,val}.jsonl with samples.format=jsonl; ava.sample_files) + build_summary.json.

``build_dataset(cfg) -> summary`` is the typed entry the command and the tests call. Passes: (1) stream the
manifest (line offsets, ids, dedup clusters; malformed lines reported with their numbers) and the verbalizer's
rows (into SQLite on disk); (2) counting pass: build every item once, count behaviour issues, keep a slim
PoolEntry; split; (3) generation: per split and advertiser, rebuild the group's items and write samples.
Memory holds one slim record per item (a few hundred bytes), never the ads' text or distributions.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from ava.build_dataset.behaviour import BehaviourConfig, Issues
from ava.build_dataset.items import (
    Manifest,
    MediaStore,
    group_ads,
    index_manifest,
    load_dedup,
    load_item,
    shared_clusters,
)
from ava.build_dataset.regions import RegionRanker
from ava.build_dataset.split import assign_splits
from ava.build_dataset.stats import write_outputs
from ava.build_dataset.tasks.base import Context, Generator, ItemFacts, PoolEntry, item_facts, unit_hash
from ava.lock import output_lock
from ava.manifest import Limits
from ava.populations import COUNTRY_TABLE, US_TABLE, load_codes, load_population
from ava.runtime import (
    DiskFullError,
    check_output_dir,
    disk_full_error,
    is_disk_full,
    loud_warning,
    peak_rss_mb,
    scratch_dir,
    terminate_as_exit,
)
from ava.sample import target_label
from ava.sample_files import JsonlWriter, ShardWriter, open_writer, publish_together

log = logging.getLogger(__name__)
SPLITS = ("train", "val")
WORK_PREFIX = ".work-"  # the scratch folder in output_dir (SQLite of the verbalizer's rows)


class EmptyDatasetError(RuntimeError):
    """A build that wrote no sample at all (the summary, with every reason, is still written)."""


def _why_empty(summary: dict[str, Any]) -> str:
    """The reasons a build wrote nothing, for the error message: input errors first, then the largest counts."""
    first = [f"malformed manifest lines: {len(summary['manifest_errors'])}"] if summary["manifest_errors"] else []
    first += [f"{k}: {v}" for k, v in summary["counts"].items() if k.startswith("skipped_items.")]
    reasons = Counter({f"behaviour issue {k}": v for k, v in summary["behaviour_issues"].items()})
    reasons.update({f"skipped {k}": v for k, v in summary["skipped_samples"].items()})
    listed = "; ".join(first + [f"{k}: {v}" for k, v in reasons.most_common(10)]) or "the manifest has no ads"
    return (f"no samples written ({summary['counts'].get('ads_read', 0)} ads read, {summary['items']} items). "
            f"Reasons: {listed}. Details in {summary['inputs']['output_dir']}/build_summary.json")


@contextmanager
def _disk_full_named(out: Path) -> Iterator[None]:
    """A full disk met while building (SQLite scratch rows, samples, summary) is reported as a full disk, naming
    it, never as a bad input."""
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        if is_disk_full(exc) and not isinstance(exc, DiskFullError):
            raise disk_full_error(exc, out, f"building the dataset in {out}; its previous train/val files are "
                                            "kept") from exc
        raise


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


class _Items:
    """Builds an item's entry from its manifest lines on demand (the streaming core of the run)."""

    def __init__(self, cfg: DictConfig, work: Path, counts: Counter, errors: list[dict]) -> None:
        pcfg = cfg.population
        self.bcfg = replace(BehaviourConfig.from_cfg(cfg.behaviour),
                            country_names=load_codes(pcfg.countries_path, COUNTRY_TABLE))
        self.category_field = cfg.category_field
        self.ranker = RegionRanker(
            tables={"region": load_population(pcfg.path, US_TABLE),
                    "country": load_population(pcfg.countries_path, COUNTRY_TABLE)},
            per_head=bool(pcfg.per_head), min_coverage=float(pcfg.min_coverage),
            unnamed=frozenset(pcfg.unnamed_regions))
        if cfg.verbalized is None:
            loud_warning("verbalized=null: samples use the ad copy only, without the verbalized creatives")
        self.media = MediaStore(cfg.verbalized, work)
        counts.update({f"media_status.{k}": v for k, v in self.media.status.items()})
        dedup = load_dedup(cfg.dedup)
        self.manifest = Manifest(cfg.manifest, Limits(int(cfg.limits.max_line_bytes), int(cfg.limits.max_field_chars)))
        self.refs = index_manifest(self.manifest, dedup, counts, errors)
        counts["ads_read"] = len(self.refs)
        ids = [r.id for r in self.refs]
        counts["verbalized_ads_not_in_manifest"] = self.media.ads_not_in(ids)
        counts["dedup_ads_not_in_manifest"] = len(set(dedup) - set(ids))
        self.groups = group_ads(self.refs)
        self.shared = shared_clusters(self.refs)
        counts["clusters_across_advertisers"] = len(self.shared)

    def entry(self, group: int, issues: Issues, counts: Counter, unknown_regions: Counter) -> ItemFacts | None:
        item = load_item(self.manifest, [self.refs[i] for i in self.groups[group]], self.media, self.bcfg,
                         self.category_field, issues, counts, self.shared)
        if not (item.title or item.body or item.creative):
            counts["skipped_items.no_content"] += 1
            return None
        return item_facts(item, self.ranker, self.bcfg.best_gender_from, self.bcfg.range_point, issues,
                          unknown_regions)


def _generate(cfg: DictConfig, items: _Items, pool: list[PoolEntry], out: Path, counts: Counter
              ) -> tuple[dict[str, Counter], dict[str, Counter], Counter, dict[str, Any]]:
    """Generation pass: per split, per advertiser, rebuild the group's entries and write their samples."""
    gens = _generators(cfg)
    tasks_cfg = cfg.dataset_tasks
    ctx = Context(system=tasks_cfg.system, ad_fields=dict(tasks_cfg.ad_fields),
                  gender_names=dict(tasks_cfg.gender_names), place_names=dict(tasks_cfg.place_names),
                  audience=dict(tasks_cfg.audience),
                  seed=int(cfg.seed), embedder_factory=lambda: instantiate(cfg.text_embedder))
    # plain ints: no OmegaConf lookup per sample on the generation loop
    seed, max_item = int(cfg.seed), int(cfg.limits.max_samples_per_item)
    max_task = int(cfg.limits.max_samples_per_task_per_item)
    fmt = cfg.samples  # a failed build leaves train/val as they were and no temp file behind (the writers)
    files = {s: open_writer(out, s, str(fmt.format), int(fmt.shard_samples), int(fmt.zstd_level)) for s in SPLITS}
    per_task, targets = _write_samples(gens, ctx, items, pool, files, counts, seed, max_item, max_task)
    try:  # both splits reach the disk before either replaces its earlier files: a full disk changes neither
        for s in SPLITS:
            files[s].finish()
    except BaseException:
        for s in SPLITS:
            files[s].abort()
        raise
    written = publish_together(files)  # a kill between the splits leaves the later one refused, not stale
    return per_task, targets, ctx.skipped, _files_summary(str(fmt.format), written, files)


def _files_summary(fmt: str, written: dict[str, list[Path]], files: dict[str, JsonlWriter | ShardWriter]
                   ) -> dict[str, Any]:
    """The summary's ``sample_files``: per split its files (names), their bytes on disk and as plain JSONL."""
    return {"format": fmt, **{s: {"files": [p.name for p in written[s]],
                                  "bytes": sum(p.stat().st_size for p in written[s]),
                                  "bytes_as_jsonl": files[s].bytes_in} for s in SPLITS}}


def _write_samples(gens: list[Generator], ctx: Context, items: _Items, pool: list[PoolEntry],
                   files: dict[str, JsonlWriter | ShardWriter], counts: Counter, seed: int, max_item: int,
                   max_task: int) -> tuple[dict[str, Counter], dict[str, Counter]]:
    per_task: dict[str, Counter] = defaultdict(Counter)
    targets: dict[str, Counter] = defaultdict(Counter)
    with files["train"], files["val"]:  # an exception aborts both: their temp files go, nothing is published
        for split in SPLITS:
            split_pool = [p for p in pool if p.split == split]
            by_adv: dict[str, list[PoolEntry]] = defaultdict(list)
            for p in split_pool:
                by_adv[p.advertiser_key].append(p)
            for adv in tqdm(sorted(by_adv), desc=f"{split} advertisers", disable=None):
                group = []
                for p in by_adv[adv]:  # issues were counted in the counting pass: not again here
                    e = items.entry(p.group, Issues(), Counter(), Counter())
                    e.split = split
                    group.append(e)
                # every sample's items belong to this advertiser group: counts and ids reset per group
                per_item: Counter = Counter()
                seen_ids: set[str] = set()
                for gen in gens:
                    for s in gen.generate(group, split_pool, ctx):
                        src = s["meta"]["source"]["items"][0]
                        if gen.weight < 1.0 and unit_hash(seed, "keep", s["id"]) >= gen.weight:
                            counts["samples_dropped_by_weight"] += 1
                            continue
                        if per_item[src] >= max_item or per_item[(src, s["task"])] >= max_task:
                            counts["samples_dropped_by_limit"] += 1
                            continue
                        if s["id"] in seen_ids:
                            raise RuntimeError(f"sample id {s['id']} ({s['task']}) produced twice; a bug")
                        try:  # strict JSON: ava.train refuses NaN/Infinity, so none is written
                            line = json.dumps(s, ensure_ascii=False, allow_nan=False)
                        except ValueError:
                            log.warning("sample %s (%s) holds a non-finite number; left out", s["id"], s["task"])
                            counts["samples_dropped_non_finite"] += 1
                            continue
                        seen_ids.add(s["id"])
                        per_item[src] += 1
                        per_item[(src, s["task"])] += 1
                        files[split].write(line)
                        per_task[s["task"]][split] += 1
                        targets[s["task"]][target_label(s)] += 1
    return per_task, targets


@terminate_as_exit()  # a SIGTERM ends the run through its finally blocks: no scratch folder or temp file left
def build_dataset(cfg: DictConfig) -> dict[str, Any]:
    """Build the instruction dataset; return the summary also written to ``output_dir/build_summary.json``."""
    t0 = time.perf_counter()
    out = Path(cfg.output_dir)
    check_output_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    issues, counts, errors, unknown_regions = Issues(), Counter(), [], Counter()
    # the verbalizer's rows go to SQLite in a scratch folder: removed on exit, on SIGTERM and (when the run was
    # killed) by the next start; a full disk is reported as such (not as a bad input)
    # one build an output_dir at a time: two would interleave their shards' renames
    with output_lock(out, "python -m ava.build_dataset"), _disk_full_named(out), scratch_dir(out, WORK_PREFIX) as work:
        items = _Items(cfg, work, counts, errors)
        try:
            # counting pass: every item built once; its behaviour issues and facts are recorded here only
            pool = []
            for g in tqdm(range(len(items.groups)), desc="items", disable=None):
                e = items.entry(g, issues, counts, unknown_regions)
                if e is not None:
                    pool.append(PoolEntry.of(e, g))
            pool.sort(key=lambda p: p.key)
            units = assign_splits(pool, cfg.split.by, cfg.split.val_fraction, cfg.seed, cfg.split.val_after)
            per_task, targets, skipped, sample_files = _generate(cfg, items, pool, out, counts)
        finally:
            items.media.close()
    summary = {
        "inputs": {"manifest": str(cfg.manifest), "verbalized": cfg.verbalized, "dedup": cfg.dedup,
                   "output_dir": str(out)},
        "seed": int(cfg.seed),
        "items": len(pool),
        "items_per_split": {s: sum(p.split == s for p in pool) for s in SPLITS},
        "split_units": units,
        "samples": {s: sum(c[s] for c in per_task.values()) for s in SPLITS},
        "samples_per_task": {t: dict(c) for t, c in sorted(per_task.items())},
        "sample_files": sample_files,
        "target_distribution": {t: dict(c.most_common()) for t, c in sorted(targets.items())},
        "behaviour_issues": dict(sorted(issues.items())),
        "regions_without_population": dict(unknown_regions.most_common()),
        "counts": dict(sorted(counts.items())),
        "skipped_samples": dict(sorted(skipped.items())),
        "manifest_errors": errors,
        "config": OmegaConf.to_container(cfg, resolve=True),
        "seconds": round(time.perf_counter() - t0, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    with _disk_full_named(out):
        write_outputs(out, summary, parquet=bool(cfg.parquet))
    if not sum(summary["samples"].values()):
        raise EmptyDatasetError(_why_empty(summary))
    if cfg.split.val_fraction > 0 and not summary["samples"]["val"]:
        if units["train"] + units["val"] >= 2:
            why = (f"although {units['val']} unit(s) went to validation: their items gave no sample with the "
                   "enabled tasks (see skipped_samples in build_summary.json)")
        else:
            why = (f"only {units['train'] + units['val']} split unit can give samples (units without behaviour "
                   f"go to train: {units['without_samples']}), and it went to train")
        loud_warning(f"the val split ({', '.join(sample_files['val']['files'])}) has no samples {why}; "
                     "python -m ava.train needs a validation split")
    n = sum(summary["samples"].values())
    size, plain = (sum(sample_files[s][k] for s in SPLITS) for k in ("bytes", "bytes_as_jsonl"))
    log.info("wrote %d samples (train %d, val %d) to %s as %s: %d bytes, %.0f a sample (%.0f as plain JSONL)", n,
             summary["samples"]["train"], summary["samples"]["val"], out, sample_files["format"], size, size / n,
             plain / n)
    return summary
