"""python -m ava.fetch stage=media output_dir=OUT: save each ad's images and videos from its snapshot page.

For every ad of ``OUT/ads.jsonl`` with an ``ad_snapshot_url`` (the token added back only for the browser), the
page is rendered (:mod:`ava.fetch.browser`), its creatives downloaded: streamed to a temporary file in
``OUT/media/`` (made exclusively: :func:`ava.runtime.temp_beside`) while hashed, cut off past
``media.max_image_bytes`` / ``max_video_bytes``, then renamed to ``OUT/media/<sha256>.<ext>``. Each ad gets a
status:

- ``ok``: media saved; ``text-only``: the page rendered and shows no creative;
- ``removed`` / ``age-restricted`` / ``not found``: the page says so (HTTP 404, or ``media.page_text``);
- ``expired link``: a creative's signed link answered 403/410, or the page itself did (410, or 400/401/403:
  the token was refused); done again on a rerun (``media.retry``) since a fresh page has fresh links;
- ``blocked``: HTTP 429 or a login/checkpoint wall: the run pauses ``media.blocked_pause_s`` and tries the same
  ad again, and stops (progress kept) after ``media.max_blocked`` pauses in a row;
- ``too large``: every creative was over its size cap (nothing saved);
- ``error``: the browser failed on the page (always done again on a rerun).

Progress is ``OUT/media_status.jsonl`` (a line per ad, appended and flushed as each ad ends). A rerun skips the
ads done, after checking every file they saved against its SHA-256 (a missing or altered file redoes its ad:
resume by hash, never by "file exists"). At the end ``OUT/ads.jsonl`` is rewritten (atomically) with each
ad's ``media`` (paths relative to it, as ``ava.verbalize`` reads them) and ``media_status``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlencode, urlsplit, urlunsplit

import requests
from omegaconf import DictConfig
from tqdm import tqdm

from ava.fetch.browser import Browser, Candidate, Rendered
from ava.fetch.store import ADS_FILE, ad_key, repair_tail
from ava.fetch.token import install_redaction, read_token, redact, remove_redaction
from ava.jsonl import LineError, iter_jsonl
from ava.lock import output_lock
from ava.runtime import atomic_open, check_output_dir, open_nofollow, sha256_file, temp_beside, write_json

log = logging.getLogger(__name__)

STATUS_FILE = "media_status.jsonl"
SUMMARY_FILE = "media_summary.json"
MEDIA_DIR = "media"
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif",
              "image/avif": "avif", "video/mp4": "mp4", "video/webm": "webm", "video/quicktime": "mov"}
KNOWN_SUFFIXES = frozenset(EXTENSIONS.values()) | {"jpeg"}
EXPIRED_HTTP = frozenset({403, 410})
CHUNK = 1 << 16


@dataclass
class Item:
    kind: str
    status: str  # ok | too_large | http <code> | error
    path: str | None = None  # relative to OUT
    sha256: str | None = None
    bytes: int = 0
    reused: bool = False
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "", False)}


def extension(content_type: str, url: str) -> str:
    ext = EXTENSIONS.get(content_type.split(";")[0].strip().lower())
    if ext:
        return ext
    suffix = Path(urlsplit(url).path).suffix.lower().lstrip(".")
    return ("jpg" if suffix == "jpeg" else suffix) if suffix in KNOWN_SUFFIXES else "bin"


def _store(out: Path, tmp: Path, digest: str, ext: str, size: int, kind: str, note: str) -> Item:
    """Rename a finished temporary file to ``media/<sha256>.<ext>`` (or drop it for an identical file there)."""
    rel = f"{MEDIA_DIR}/{digest}.{ext}"
    final = out / rel
    if final.exists() and sha256_file(final) == digest:
        tmp.unlink()
        return Item(kind, "ok", rel, digest, size, reused=True, note=note)
    os.replace(tmp, final)
    return Item(kind, "ok", rel, digest, size, note=note)


def download(session: requests.Session, cand: Candidate, out: Path, max_bytes: int, timeout_s: float) -> Item:
    """Stream one creative into ``OUT/media/`` (see the module docstring); never raises for a bad link."""
    fd, tmp = temp_beside(out / MEDIA_DIR / "part")  # made exclusively: a link planted there is never written
    fh = os.fdopen(fd, "wb")
    h = hashlib.sha256()
    size = 0
    try:
        if cand.url.startswith("data:"):
            header, _, payload = cand.url[5:].partition(",")
            try:
                data = (base64.b64decode(payload, validate=False) if header.endswith(";base64")
                        else unquote_to_bytes(payload))
            except (binascii.Error, ValueError) as exc:
                return Item(cand.kind, "error", note=f"data: URL not decodable ({exc})")
            if len(data) > max_bytes:
                return Item(cand.kind, "too_large", bytes=len(data), note=f"over {max_bytes} bytes")
            fh.write(data)
            fh.close()
            return _store(out, tmp, hashlib.sha256(data).hexdigest(), extension(header.split(";")[0], ""),
                          len(data), cand.kind, cand.note)
        with session.get(cand.url, stream=True, timeout=timeout_s) as resp:
            if resp.status_code != 200:
                return Item(cand.kind, f"http {resp.status_code}", note=cand.note)
            declared = int(resp.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                return Item(cand.kind, "too_large", bytes=declared, note=f"over {max_bytes} bytes (Content-Length)")
            for chunk in resp.iter_content(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    return Item(cand.kind, "too_large", bytes=size, note=f"over {max_bytes} bytes")
                h.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
            if size == 0:
                return Item(cand.kind, "error", note="empty body")
            return _store(out, tmp, h.hexdigest(), extension(resp.headers.get("Content-Type", ""), cand.url), size,
                          cand.kind, cand.note)
    except requests.RequestException as exc:
        return Item(cand.kind, "error", note=f"{type(exc).__name__}")
    finally:
        fh.close()
        tmp.unlink(missing_ok=True)  # gone already when renamed into place


def page_status(page: Rendered, page_text: dict[str, list[str]]) -> str | None:
    """What the page itself says (HTTP status, then its wording), or None for a page showing an ad."""
    code = page.http_status
    if code == 429:
        return "blocked"
    if code == 404:
        return "not found"
    if code in (400, 401, 403, 410):
        return "expired link"
    text = page.text.lower()
    for status in ("blocked", "removed", "age-restricted", "not found"):
        if any(p.lower() in text for p in page_text.get(status, [])):
            return status
    return None


def ad_status(page: Rendered, items: list[Item], page_text: dict[str, list[str]]) -> str:
    said = page_status(page, page_text)
    if said in ("blocked", "not found") or (said and not items):
        return said
    if any(i.status == "http 429" for i in items):
        return "blocked"
    if any(i.status in {f"http {c}" for c in EXPIRED_HTTP} for i in items):
        return "expired link"
    if any(i.status == "ok" for i in items):
        return "ok"
    if any(i.status == "too_large" for i in items):
        return "too large"
    return said or "text-only"


def with_token(url: str, token: str) -> str:
    """``url`` with ``access_token`` added to its query, URL-encoded (an app token ``APPID|SECRET`` holds ``|``
    and may hold ``+/=``); the rest of the URL byte for byte as it was."""
    parts = urlsplit(url)
    param = urlencode({"access_token": token})
    return urlunsplit(parts._replace(query=f"{parts.query}&{param}" if parts.query else param))


def load_done(out: Path, retry: set[str]) -> tuple[dict[str, dict], int]:
    """The last status line of every ad, checked by hash; ads to redo are left out. (done, redone by hash)."""
    path = out / STATUS_FILE
    repair_tail(path)
    last: dict[str, dict] = {}
    if path.exists():
        for _, entry in iter_jsonl(path):
            if isinstance(entry, dict) and "id" in entry:
                last[str(entry["id"])] = entry
    done, bad = {}, 0
    for key, entry in last.items():
        if entry.get("status") in retry or entry.get("status") == "error":
            continue
        files = [i for i in entry.get("items", []) if i.get("status") == "ok"]
        if all((out / i["path"]).is_file() and sha256_file(out / i["path"]) == i["sha256"] for i in files):
            done[key] = entry
        else:
            bad += 1
    return done, bad


def fetch_media(cfg: DictConfig, browser: Browser | None = None) -> dict[str, Any]:
    """Save the media of every ad in ``cfg.output_dir``/ads.jsonl; return (and write) the summary."""
    out = Path(cfg.output_dir)
    check_output_dir(out)
    ads_path = out / ADS_FILE
    if not ads_path.is_file():
        raise SystemExit(f"{ads_path} not found: run python -m ava.fetch output_dir={out} (stage=ads) first")
    token = read_token(cfg.api.token_file)
    with output_lock(out, "python -m ava.fetch"):  # the crawl and the media step take the same lock
        filt = install_redaction(token)
        try:
            return _media(cfg, out, ads_path, token, browser or Browser(cfg.media))
        finally:
            remove_redaction(filt)


def _media(cfg: DictConfig, out: Path, ads_path: Path, token: str, browser: Browser) -> dict[str, Any]:
    mcfg = cfg.media
    retry = set(mcfg.retry)
    page_text = {k: list(v) for k, v in mcfg.page_text.items()}
    done, redone_by_hash = load_done(out, retry)
    if redone_by_hash:
        log.warning("%d ads had a media file missing or altered (SHA-256 differs): they are done again",
                    redone_by_hash)
    session = requests.Session()
    session.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) ava-fetch/0.1"
    counts: Counter[str] = Counter()
    files = Counter()
    started = time.time()
    blocked_in_a_row = 0
    stopped = None
    finished = False
    todo = []
    for line, rec in iter_jsonl(ads_path):
        if isinstance(rec, LineError) or not isinstance(rec, dict):
            log.warning("%s line %d: not a JSON object; skipped", ads_path, line)
            continue
        key = ad_key(rec)
        if key not in done:
            todo.append((key, rec.get("ad_snapshot_url")))
    status_fh = os.fdopen(open_nofollow(out / STATUS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "ab")
    try:
        for key, url in tqdm(todo, desc="media", unit="ad", disable=not cfg.progress):
            while True:
                entry = _one_ad(key, url, token, browser, session, out, mcfg, page_text)
                if entry["status"] != "blocked":
                    blocked_in_a_row = 0
                    break
                blocked_in_a_row += 1
                if blocked_in_a_row > int(mcfg.max_blocked):
                    stopped = (f"blocked {blocked_in_a_row} times in a row (last: ad {key}, {entry.get('detail')}); "
                               "everything so far is kept: rerun later to continue")
                    break
                counts["blocked pauses"] += 1
                log.warning("blocked at ad %s (%s); pausing %.0f s", key, entry.get("detail"),
                            float(mcfg.blocked_pause_s))
                time.sleep(float(mcfg.blocked_pause_s))
            if stopped:
                break
            counts[entry["status"]] += 1
            for item in entry["items"]:
                files[item["status"] if not item.get("reused") else "ok (already saved)"] += 1
            status_fh.write((json.dumps(entry, ensure_ascii=False) + "\n").encode())
            status_fh.flush()
            os.fsync(status_fh.fileno())
            done[key] = entry
        finished = not stopped
    finally:
        status_fh.close()
        browser.close()
        session.close()
        merged = _merge_into_manifest(ads_path, done)
        summary = {"status": "complete" if finished else "stopped",
                   "message": "every ad done" if finished else stopped or "stopped by an exception or a signal",
                   "ads_with_status": len(done), "merged_into_manifest": merged, "this_run": dict(counts),
                   "files_this_run": dict(files), "redone_by_hash": redone_by_hash,
                   "statuses": dict(Counter(e["status"] for e in done.values())),
                   "seconds": round(time.time() - started, 3)}
        write_json(out / SUMMARY_FILE, summary)
    if stopped:
        raise SystemExit(stopped)
    log.info("media: %s", summary["statuses"])
    return summary


def _one_ad(key: str, url: Any, token: str, browser: Browser, session: requests.Session, out: Path,
            mcfg: Any, page_text: dict[str, list[str]]) -> dict[str, Any]:
    """Render one ad's page and save its creatives: its status line."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return {"id": key, "status": "not found", "media": [], "items": [], "detail": "no ad_snapshot_url"}
    try:  # BrowserMissing (a SystemExit) passes: no browser stops the run
        page = browser.render(with_token(url, token))
    except Exception as exc:  # a browser failure is this ad's error, never the run's (retried on a rerun)
        return {"id": key, "status": "error", "media": [], "items": [],
                "detail": redact(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", token)}
    items = []
    for cand in page.candidates:
        cap = int(mcfg.max_video_bytes if cand.kind == "video" else mcfg.max_image_bytes)
        item = download(session, cand, out, cap, float(mcfg.download_timeout_s))
        if not cand.loaded and item.status == "ok" and _too_small(out / item.path, int(mcfg.min_side)):
            if not item.reused:
                (out / item.path).unlink()
            continue  # an image that failed in the page but downloads: kept only at creative size
        items.append(item)
    status = ad_status(page, items, page_text)
    media = list(dict.fromkeys(i.path for i in items if i.status == "ok"))
    detail = f"page HTTP {page.http_status}" + ("" if page.settled else ", still changing at page_timeout_s")
    return {"id": key, "status": status, "media": media, "items": [i.as_dict() for i in items], "detail": detail}


def _too_small(path: Path, min_side: int) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return min(im.size) < min_side
    except (UnidentifiedImageError, OSError):
        return False


def _merge_into_manifest(ads_path: Path, done: dict[str, dict]) -> int:
    """Rewrite ``ads.jsonl`` (streamed, atomically) with ``media`` and ``media_status`` of every ad done."""
    merged = 0
    with atomic_open(ads_path) as dst, ads_path.open("rb") as src:
        for raw in src:
            try:
                rec = json.loads(raw)
            except ValueError:
                dst.write(raw)
                continue
            entry = done.get(ad_key(rec)) if isinstance(rec, dict) else None
            if entry is None:
                dst.write(raw)
                continue
            rec["media"], rec["media_status"] = entry["media"], entry["status"]
            dst.write((json.dumps(rec, ensure_ascii=False) + "\n").encode())
            merged += 1
    return merged
