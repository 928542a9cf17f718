"""python -m ava.fetch stage=media: render one snapshot page in headless Chromium and list its media.

Debian's ``chromium`` driven through its own ``chromedriver`` by Selenium (both paths from the config;
Selenium Manager, which would download a driver, is never reached). The creatives are found generically, by
element and size, never by a page-specific path: every ``<img>`` whose natural size is at least
``media.min_side`` on both sides (icons and avatars are smaller), every ``<img>`` that failed to load (its
link may have expired: the download says), and every ``<video>`` (its ``src``; its poster when the stream is a
``blob:``). Lazy images are switched to eager loading, so carousel cards out of view load too. Media arrive
by JavaScript after the page loads: the list is read again until it has not changed for ``media.settle_s``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Runs in the page: the navigation's HTTP status, the visible text, and every image and video.
_SCAN = """
const out = {status: null, ready: document.readyState, text: '', items: []};
const nav = performance.getEntriesByType('navigation')[0];
if (nav && nav.responseStatus) out.status = nav.responseStatus;
out.text = document.body ? document.body.innerText.slice(0, 20000) : '';
for (const img of document.querySelectorAll('img')) {
  if (img.loading === 'lazy') img.loading = 'eager';
  const src = img.currentSrc || img.src || '';
  out.items.push({kind: 'image', src: src, w: img.naturalWidth, h: img.naturalHeight, done: img.complete});
}
for (const v of document.querySelectorAll('video')) {
  const source = v.querySelector('source[src]');
  const src = v.currentSrc || v.src || (source ? source.src : '');
  out.items.push({kind: 'video', src: src, poster: v.poster || '', w: v.videoWidth, h: v.videoHeight,
                  done: true});
}
return out;
"""


class BrowserMissing(SystemExit):
    """Chromium or chromedriver is not installed where the config says, or does not start (the run stops)."""


@dataclass
class Candidate:
    kind: str  # image | video
    url: str
    loaded: bool  # False: an <img> that failed to load (size unknown until downloaded)
    note: str = ""


@dataclass
class Rendered:
    http_status: int | None
    text: str
    candidates: list[Candidate] = field(default_factory=list)
    settled: bool = True  # False: still changing at page_timeout_s


def pick(items: list[dict[str, Any]], min_side: int) -> list[Candidate]:
    """The creatives among a scan's elements (see the module docstring), each URL once, in page order."""
    found: dict[str, Candidate] = {}
    for it in items:
        src = it.get("src") or ""
        if it["kind"] == "video":
            if src.startswith(("http://", "https://", "data:")):
                found.setdefault(src, Candidate("video", src, True))
            elif it.get("poster"):
                found.setdefault(it["poster"], Candidate("image", it["poster"], True,
                                                         "poster of a video streamed as blob: (not downloadable)"))
            continue
        if not src.startswith(("http://", "https://", "data:")) or not it.get("done"):
            continue
        w, h = int(it.get("w") or 0), int(it.get("h") or 0)
        if w == 0 and h == 0:
            found.setdefault(src, Candidate("image", src, False))
        elif min(w, h) >= min_side:
            found.setdefault(src, Candidate("image", src, True))
    return list(found.values())


class Browser:
    """One headless Chromium for a run (started on first use, its profile in a temporary folder)."""

    def __init__(self, media_cfg: Any) -> None:
        self.cfg = media_cfg
        self.driver = None
        self.profile: str | None = None

    def start(self) -> None:
        chromium, driver = str(self.cfg.chromium), str(self.cfg.chromedriver)
        for path, package in ((chromium, "chromium"), (driver, "chromium-driver")):
            if not Path(path).is_file():
                raise BrowserMissing(f"{path} not found: install Debian's {package} (tools/install_system_deps.sh "
                                     "does) or set media.chromium / media.chromedriver")
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="ava-fetch-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--incognito",
                    "--mute-audio", "--no-first-run", "--window-size=1280,2000",
                    f"--user-data-dir={self.profile}"):
            opts.add_argument(arg)
        from selenium.common.exceptions import WebDriverException

        try:
            self.driver = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
        except WebDriverException as exc:
            raise BrowserMissing(f"{chromium} did not start through {driver}: {exc.msg}") from None
        self.driver.set_page_load_timeout(float(self.cfg.page_timeout_s))

    def render(self, url: str) -> Rendered:
        """Load ``url``, wait until its media list settles, and return what it shows."""
        if self.driver is None:
            self.start()
        self.driver.get(url)
        settle, poll = float(self.cfg.settle_s), 0.25
        end = time.monotonic() + float(self.cfg.page_timeout_s)
        last_sig, stable_since = None, time.monotonic()
        while True:
            scan = self.driver.execute_script(_SCAN)
            sig = (scan["ready"], tuple((i["kind"], i["src"], i["w"], i["h"], i["done"]) for i in scan["items"]))
            now = time.monotonic()
            if sig != last_sig:
                last_sig, stable_since = sig, now
            pending = any(not i["done"] for i in scan["items"])
            if scan["ready"] == "complete" and not pending and now - stable_since >= settle:
                settled = True
                break
            if now >= end:
                settled = False
                break
            time.sleep(poll)
        status = int(scan["status"]) if scan.get("status") else None
        return Rendered(status, scan.get("text") or "", pick(scan["items"], int(self.cfg.min_side)), settled)

    def close(self) -> None:
        if self.driver is not None:
            try:
                self.driver.quit()
            finally:
                self.driver = None
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)
            self.profile = None
