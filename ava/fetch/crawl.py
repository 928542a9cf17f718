"""python -m ava.fetch output_dir=OUT query.ad_delivery_date_min=... query.ad_delivery_date_max=...: crawl ads_archive.

Shard by shard (:mod:`ava.fetch.shards`), page by page: each page's new ads are appended to ``OUT/ads.jsonl``
(records as served, the token taken out of ``ad_snapshot_url``), then the shard's ``after`` cursor is
checkpointed. Code 1 halves the page size down to ``api.min_page_size``, then splits the shard's dates. A rerun
continues every unfinished shard from its cursor. ``OUT/fetch_summary.json`` says what happened.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from ava.fetch.api import Client, Counters, ParameterError, ReduceData, Stop
from ava.fetch.shards import Shard, ShardState
from ava.fetch.store import AdStore
from ava.fetch.token import install_redaction, read_token, remove_redaction, strip_token
from ava.lock import output_lock
from ava.runtime import check_output_dir, write_json

log = logging.getLogger(__name__)

SUMMARY_FILE = "fetch_summary.json"
LIST_PARAMS = ("ad_reached_countries", "search_page_ids", "languages", "publisher_platforms", "bylines",
               "delivery_by_region")


def query_of(cfg: DictConfig) -> dict[str, Any]:
    """The query as configured (``query.*``, nulls dropped): what the state file is keyed by."""
    query = OmegaConf.to_container(cfg.query, resolve=True)
    missing = [k for k in ("ad_reached_countries", "ad_delivery_date_min", "ad_delivery_date_max")
               if query.get(k) in (None, "", [])]
    if missing:
        raise SystemExit(f"set {', '.join('query.' + k for k in missing)} (see README 'Fetch')")
    return {k: v for k, v in query.items() if v is not None}


def request_params(query: dict[str, Any], shard: Shard, limit: int) -> dict[str, str]:
    """The ``ads_archive`` parameters of one page: lists as JSON arrays, fields comma-separated."""
    params: dict[str, str] = {}
    for key, value in query.items():
        if key == "fields":
            params[key] = ",".join(value)
        elif isinstance(value, list) or key in LIST_PARAMS:
            params[key] = json.dumps(value if isinstance(value, list) else [value])
        elif isinstance(value, bool):
            params[key] = str(value).lower()
        else:
            params[key] = str(value)
    params["ad_delivery_date_min"], params["ad_delivery_date_max"] = shard.since, shard.until
    params["limit"] = str(limit)
    if shard.after:
        params["after"] = shard.after
    return params


def fetch_ads(cfg: DictConfig, client: Client | None = None) -> dict[str, Any]:
    """Crawl the configured query into ``cfg.output_dir``; return (and write) the summary."""
    out = Path(cfg.output_dir)
    check_output_dir(out)
    query = query_of(cfg)
    token = read_token(cfg.api.token_file)
    with output_lock(out, "python -m ava.fetch"):  # one run a folder: a second stops here, naming this one's PID
        filt = install_redaction(token)
        try:
            return _crawl(cfg, out, query, token, client or Client(cfg.api, token, Counters()))
        finally:
            remove_redaction(filt)


def _crawl(cfg: DictConfig, out: Path, query: dict[str, Any], token: str, client: Client) -> dict[str, Any]:
    counters = client.counters
    state = ShardState(out, query)
    store = AdStore(out)
    started = time.time()
    run = {"new_ads": 0, "pages": 0, "duplicates_dropped": 0, "token_stripped": 0, "page_size_halved": 0,
           "shards_split": 0}
    status, message = "interrupted", "stopped by an exception or a signal (see the log); rerun to continue"
    try:
        if state.resumed:
            log.info("resuming %s: %s, %d ads already in %s", state.path, state.counts(), store.existing,
                     store.path.name)
        state.save()
        while (shard := state.pending()) is not None:
            _crawl_shard(cfg, client, state, store, shard, token, run)
        status, message = "complete", "every shard done"
        truncated = state.counts().get("truncated", 0)
        if truncated:
            status, message = "complete", (f"{truncated} one-day shards still hit code 1 at the smallest page "
                                           "size and were cut short (shards.status=truncated in fetch_state.json)")
            log.warning(message)
    except Stop as stop:
        status, message = stop.reason, str(stop)
        log.warning("stopped: %s", message)
    except ParameterError as exc:
        status, message = "bad_parameter", str(exc)
        raise
    finally:
        summary = {
            "status": status, "message": message,
            "ads": len(store.keys), "new_ads": run["new_ads"], "pages": run["pages"],
            "requests": counters.requests, "retries": counters.retries,
            "throttle_waits": counters.throttle_waits, "throttle_wait_s": round(counters.throttle_wait_s, 3),
            "slowdown_s": round(counters.slowdown_s, 3), "last_usage_pct": counters.last_usage_pct,
            "errors": counters.errors, "duplicates_dropped": run["duplicates_dropped"],
            "token_stripped": run["token_stripped"], "page_size_halved": run["page_size_halved"],
            "shards": state.counts(), "shards_split": run["shards_split"], "resumed": state.resumed,
            "query": query, "seconds": round(time.time() - started, 3),
        }
        write_json(out / SUMMARY_FILE, summary)
        store.close()
        client.close()
    if status in ("token_expired", "transient", "api_error"):
        raise SystemExit(message)  # exit status 1, the message on stderr; a rerun continues
    if status != "complete":
        log.warning("%s: %d ads so far; rerun the same command to continue", status, summary["ads"])
    else:
        log.info("done: %d ads (%d new), %d pages, %d requests", summary["ads"], run["new_ads"], run["pages"],
                 counters.requests)
    return summary


def _crawl_shard(cfg: DictConfig, client: Client, state: ShardState, store: AdStore, shard: Shard, token: str,
                 run: dict[str, int]) -> None:
    """Page through one shard until its end, a split, or a :class:`Stop` (checkpointed after every page)."""
    min_limit = int(cfg.api.min_page_size)
    bar = tqdm(desc=shard.name, unit="ad", initial=shard.ads, disable=not cfg.progress, leave=False)
    try:
        while True:
            limit = shard.limit or int(cfg.api.page_size)
            try:
                records, after = client.page(request_params(state.query, shard, limit))
            except ReduceData as exc:
                if limit > min_limit:
                    shard.limit = max(min_limit, limit // 2)
                    run["page_size_halved"] += 1
                    log.warning("%s: code 1 at limit=%d (%s); retrying the page with limit=%d", shard.name, limit,
                                exc, shard.limit)
                elif shard.days > 1:
                    halves = state.split(shard)
                    run["shards_split"] += 1
                    log.warning("%s: code 1 at the smallest page size (%s); split into %s and %s", shard.name, exc,
                                halves[0].name, halves[1].name)
                else:
                    shard.status = "truncated"
                    log.warning("%s: code 1 at the smallest page size on a one-day shard (%s); %d ads kept, the "
                                "rest of this day cannot be reached with this query", shard.name, exc, shard.ads)
                state.save()
                if shard.status != "pending":
                    return
                continue
            clean = []
            for rec in records:
                rec, changed = strip_token(rec, token)
                run["token_stripped"] += changed
                clean.append(rec)
            added, dups = store.add(clean)
            run["new_ads"] += added
            run["duplicates_dropped"] += dups
            run["pages"] += 1
            shard.pages += 1
            shard.ads += len(records)
            bar.update(len(records))
            if not records or not after:
                shard.status, shard.after = "done", None
            else:
                shard.after = after
                if shard.ads > int(cfg.shards.max_ads) and shard.days > 1:
                    halves = state.split(shard)
                    run["shards_split"] += 1
                    log.info("%s passed shards.max_ads=%d; split into %s and %s (their pages repeat its ads, "
                             "dropped as duplicates)", shard.name, cfg.shards.max_ads, halves[0].name,
                             halves[1].name)
            state.save()
            if shard.status != "pending":
                return
    finally:
        bar.close()
