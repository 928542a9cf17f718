"""python -m ava.fetch stage=media against snapshot pages the stand-in serves, media inserted by JavaScript.

The page-rendering tests need Debian's chromium and chromium-driver (tools/install_system_deps.sh installs
them) and are skipped with that reason where they are absent; the download and status rules are tested without.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import time
from pathlib import Path

import pytest
import requests
from PIL import Image

from ava.fetch.browser import Candidate, Rendered, pick
from ava.fetch.media import download, fetch_media, page_status
from ava.lock import OutputInUse, output_lock
from ava.runtime import LinkRefused
from tests.fetch.helpers import SAMPLES, compose_fetch, needs_chromium, page, read_ads


def png(side: int, colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(buf, "PNG")
    return buf.getvalue()


LOGO = "const l = document.createElement('img'); l.src = '/m/logo.png'; document.body.prepend(l);"
CAROUSEL = LOGO + """
const strip = document.createElement('div');
strip.style = 'display:flex; width:320px; overflow:hidden';
for (const name of ['card1', 'card2', 'card3', 'card1', 'card1copy']) {
  const img = document.createElement('img'); img.loading = 'lazy'; img.src = '/m/' + name + '.png';
  img.style = 'flex:none; width:300px'; strip.appendChild(img);
}
document.getElementById('ad').appendChild(strip);"""
VIDEO = LOGO + """
const v = document.createElement('video'); v.src = '/m/clip.mp4'; v.width = 640; v.muted = true;
document.getElementById('ad').appendChild(v);"""
EXPIRED = LOGO + """
const i = document.createElement('img'); i.src = '/m/expired.jpg'; i.width = 500; i.height = 500;
document.getElementById('ad').appendChild(i);"""
SAYS = "document.getElementById('ad').textContent = {text!r};"


@pytest.fixture
def media_site(standin):
    """Snapshot pages of seven ads and their media files on the stand-in."""
    card1 = png(320, (200, 30, 30))
    standin.files = {
        "/m/logo.png": (200, "image/png", png(40, (10, 10, 200))),
        "/m/card1.png": (200, "image/png", card1),
        "/m/card1copy.png": (200, "image/png", card1),  # same bytes under another URL: one file
        "/m/card2.png": (200, "image/png", png(320, (30, 200, 30))),
        "/m/card3.png": (200, "image/png", png(320, (30, 30, 200))),
        "/m/clip.mp4": (200, "video/mp4", (SAMPLES / "measure5.mp4").read_bytes()),
        "/m/expired.jpg": (410, "text/plain", b"URL signature expired"),
    }
    standin.pages = {
        "1": page(CAROUSEL), "2": page(VIDEO), "3": page(LOGO),
        "4": page(SAYS.format(text="This ad was removed because it goes against our Advertising Standards.")),
        "5": page(EXPIRED), "6": page(SAYS.format(text="This ad is age-restricted.")),
        "8": page(CAROUSEL.replace("card2", "card3")),
    }
    standin.page_faults = {"8": [429]}  # blocked once: the run pauses, then the page renders
    ads = [{"id": i, "ad_delivery_start_time": "2024-01-05", "page_id": "1", "page_name": "P",
            "ad_snapshot_url": f"{standin.base_url}/render_ad/?id={i}"} for i in "12345678"]
    ads.append({"id": "9", "ad_delivery_start_time": "2024-01-05"})  # no snapshot URL at all
    return standin, ads


def media_cfg(out: Path, base_url: str, *extra: str):
    return compose_fetch(out, base_url, "stage=media", "media.settle_s=0.6", "media.page_timeout_s=20",
                         "media.blocked_pause_s=0.01", *extra)


@needs_chromium
@pytest.mark.slow  # one Chromium, nine ads, each page waited on until its media settle: ~15 s
def test_media_step_saves_creatives_and_says_what_each_page_is(tmp_path, media_site, token_env):
    standin, ads = media_site
    (tmp_path / "ads.jsonl").write_text("".join(json.dumps(a) + "\n" for a in ads))
    summary = fetch_media(media_cfg(tmp_path, standin.base_url))
    stored = {r["id"]: r for r in read_ads(tmp_path / "ads.jsonl")}
    status = {k: r["media_status"] for k, r in stored.items()}
    assert status == {"1": "ok", "2": "ok", "3": "text-only", "4": "removed", "5": "expired link",
                      "6": "age-restricted", "7": "not found", "8": "ok", "9": "not found"}
    files = standin.files

    def digest(name: str) -> str:
        return hashlib.sha256(files[f"/m/{name}"][2]).hexdigest()  # name with its extension

    # the carousel: every card (the hidden lazy ones too), each once; no logo; the duplicate bytes once
    assert stored["1"]["media"] == [f"media/{digest(n)}.png" for n in ("card1.png", "card2.png", "card3.png")]
    assert stored["2"]["media"] == [f"media/{digest('clip.mp4')}.mp4"]
    assert stored["3"]["media"] == stored["4"]["media"] == stored["5"]["media"] == []
    for rel in stored["1"]["media"] + stored["2"]["media"]:
        path = tmp_path / rel
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.stem
    assert sorted(p.name for p in (tmp_path / "media").iterdir()) == sorted(
        Path(r).name for r in {*stored["1"]["media"], *stored["2"]["media"]})  # no temp files left
    assert summary["this_run"]["blocked pauses"] == 1 and summary["statuses"]["ok"] == 3
    assert all("access_token" not in r.get("ad_snapshot_url", "") for r in stored.values())
    for path in tmp_path.rglob("*"):
        assert not path.is_file() or b"tok-A" not in path.read_bytes(), path

    # rerun: nothing rendered again but the expired link; a file altered on disk redoes its ad (by hash)
    rendered = len(standin.snapshot_requests)
    card2 = tmp_path / stored["1"]["media"][1]
    card2.write_bytes(b"not the card")
    summary = fetch_media(media_cfg(tmp_path, standin.base_url))
    again = standin.snapshot_requests[rendered:]
    assert sorted(again) == ["1", "5"] and summary["redone_by_hash"] == 1
    assert hashlib.sha256(card2.read_bytes()).hexdigest() == card2.stem
    assert [r["id"] for r in read_ads(tmp_path / "ads.jsonl")] == list("123456789")


def test_pick_keeps_creatives_not_icons():
    items = [{"kind": "image", "src": "https://cdn/x/logo.png", "w": 60, "h": 60, "done": True},
             {"kind": "image", "src": "https://cdn/x/a.jpg", "w": 600, "h": 315, "done": True},
             {"kind": "image", "src": "https://cdn/x/a.jpg", "w": 600, "h": 315, "done": True},
             {"kind": "image", "src": "https://cdn/x/broken.jpg", "w": 0, "h": 0, "done": True},
             {"kind": "image", "src": "https://cdn/x/loading.jpg", "w": 0, "h": 0, "done": False},
             {"kind": "video", "src": "blob:https://www.facebook.com/1", "poster": "https://cdn/p.jpg"},
             {"kind": "video", "src": "https://cdn/v.mp4", "poster": "https://cdn/p2.jpg"}]
    got = [(c.kind, c.url, c.loaded) for c in pick(items, 100)]
    assert got == [("image", "https://cdn/x/a.jpg", True), ("image", "https://cdn/x/broken.jpg", False),
                   ("image", "https://cdn/p.jpg", True), ("video", "https://cdn/v.mp4", True)]


def test_page_status_from_http_and_wording():
    words = {"removed": ["this ad was removed"], "blocked": ["temporarily blocked"], "not found": [],
             "age-restricted": []}
    assert page_status(Rendered(404, ""), words) == "not found"
    assert page_status(Rendered(429, ""), words) == "blocked"
    assert page_status(Rendered(410, ""), words) == "expired link"
    assert page_status(Rendered(200, "Sorry: THIS AD WAS REMOVED."), words) == "removed"
    assert page_status(Rendered(200, "Vote yes"), words) is None


def test_download_streams_caps_and_names_by_hash(tmp_path, standin):
    big = bytes(range(256)) * 400  # 102,400 bytes
    standin.files = {"/big.bin": (200, "video/mp4", big), "/gone.jpg": (410, "text/plain", b"expired")}
    session = requests.Session()
    ok = download(session, Candidate("video", f"{standin.base_url}/big.bin", True), tmp_path, 200_000, 10)
    assert ok.status == "ok" and ok.path == f"media/{hashlib.sha256(big).hexdigest()}.mp4" and ok.bytes == len(big)
    again = download(session, Candidate("video", f"{standin.base_url}/big.bin", True), tmp_path, 200_000, 10)
    assert again.reused and again.path == ok.path
    capped = download(session, Candidate("video", f"{standin.base_url}/big.bin", True), tmp_path, 50_000, 10)
    assert capped.status == "too_large" and capped.path is None
    gone = download(session, Candidate("image", f"{standin.base_url}/gone.jpg", True), tmp_path, 50_000, 10)
    assert gone.status == "http 410"
    inline = download(session, Candidate("image", "data:image/png;base64,aGVsbG8=", True), tmp_path, 100, 10)
    assert inline.path == f"media/{hashlib.sha256(b'hello').hexdigest()}.png"
    assert sorted(p.name for p in (tmp_path / "media").iterdir()) == sorted(
        Path(p).name for p in (ok.path, inline.path))  # no partial files left behind


def test_download_never_writes_through_a_planted_link(tmp_path, standin, monkeypatch):
    """The temporary file is made exclusively: a link at a name the old code would have used is left alone."""
    body = b"\x89PNG real bytes"
    standin.files = {"/a.png": (200, "image/png", body)}
    victim = tmp_path / "victim"
    victim.write_bytes(b"not yours")
    media = tmp_path / "out" / "media"
    media.mkdir(parents=True)
    monkeypatch.setattr(time, "monotonic_ns", lambda: 42)  # the old temp name: .part-PID-<monotonic_ns>
    planted = media / f".part-{os.getpid()}-42"
    planted.symlink_to(victim)
    for url in ("data:image/png;base64," + base64.b64encode(body).decode(), f"{standin.base_url}/a.png"):
        item = download(requests.Session(), Candidate("image", url, True), tmp_path / "out", 1000, 10)
        saved = tmp_path / "out" / item.path
        assert item.status == "ok" and not saved.is_symlink() and saved.read_bytes() == body
        assert victim.read_bytes() == b"not yours" and planted.is_symlink()
    assert sorted(p.name for p in media.iterdir()) == sorted([planted.name, saved.name])  # no temp file left


def test_media_needs_the_manifest(tmp_path, standin, token_env):
    with pytest.raises(SystemExit, match="stage=ads"):
        fetch_media(media_cfg(tmp_path, standin.base_url))


def test_missing_chromium_is_named(tmp_path, standin, token_env):
    (tmp_path / "ads.jsonl").write_text(json.dumps({"id": "1", "ad_snapshot_url": f"{standin.base_url}/x"}) + "\n")
    with pytest.raises(SystemExit, match="chromium-driver"):
        fetch_media(media_cfg(tmp_path, standin.base_url, "media.chromedriver=/nowhere/chromedriver"))
    assert read_ads(tmp_path / "ads.jsonl") == [{"id": "1", "ad_snapshot_url": f"{standin.base_url}/x"}]


class ScriptedBrowser:
    """Stands in for Chromium where only the run's bookkeeping is tested: pages answered from a script."""

    def __init__(self, answers):
        self.answers, self.urls = list(answers), []

    def render(self, url):
        self.urls.append(url)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self):
        pass


def test_blocked_pauses_then_stops_and_a_rerun_goes_on(tmp_path, standin, token_env):
    ads = [{"id": str(i), "ad_snapshot_url": f"{standin.base_url}/render_ad/?id={i}"} for i in range(3)]
    (tmp_path / "ads.jsonl").write_text("".join(json.dumps(a) + "\n" for a in ads))
    cfg = media_cfg(tmp_path, standin.base_url, "media.max_blocked=2")
    text = Rendered(200, "Vote yes")
    wall = Rendered(200, "You're Temporarily Blocked")
    first = ScriptedBrowser([text, Rendered(429, ""), wall, Rendered(429, "")])
    with pytest.raises(SystemExit, match="blocked 3 times in a row"):
        fetch_media(cfg, browser=first)
    assert all(u.endswith("&access_token=tok-A") for u in first.urls)  # the token only in the browser's URL
    status = [json.loads(x) for x in (tmp_path / "media_status.jsonl").read_text().splitlines()]
    assert [(s["id"], s["status"]) for s in status] == [("0", "text-only")]
    summary = json.loads((tmp_path / "media_summary.json").read_text())
    assert summary["status"] == "stopped" and summary["this_run"]["blocked pauses"] == 2
    assert [a.get("media_status") for a in read_ads(tmp_path / "ads.jsonl")] == ["text-only", None, None]
    second = ScriptedBrowser([RuntimeError("tab crashed"), text])
    fetch_media(cfg, browser=second)
    assert len(second.urls) == 2  # ad 0 was not rendered again
    assert [a["media_status"] for a in read_ads(tmp_path / "ads.jsonl")] == ["text-only", "error", "text-only"]
    third = ScriptedBrowser([text])
    fetch_media(cfg, browser=third)  # an error is always done again
    assert third.urls == [f"{standin.base_url}/render_ad/?id=1&access_token=tok-A"]
    assert [a["media_status"] for a in read_ads(tmp_path / "ads.jsonl")] == ["text-only"] * 3


def test_the_media_step_takes_the_folder_lock(tmp_path, standin, token_env):
    ads = [{"id": "1", "ad_snapshot_url": f"{standin.base_url}/render_ad/?id=1"}]
    (tmp_path / "ads.jsonl").write_text(json.dumps(ads[0]) + "\n")
    browser = ScriptedBrowser([Rendered(200, "Vote yes")])
    with output_lock(tmp_path, "python -m ava.fetch"), pytest.raises(OutputInUse, match=f"PID {os.getpid()} "):
        fetch_media(media_cfg(tmp_path, standin.base_url), browser=browser)
    assert browser.urls == [] and read_ads(tmp_path / "ads.jsonl") == ads


def test_a_status_file_planted_as_a_symlink_is_refused_not_appended_through(tmp_path, standin, token_env):
    ads = [{"id": "1", "ad_snapshot_url": f"{standin.base_url}/render_ad/?id=1"}]
    (tmp_path / "ads.jsonl").write_text(json.dumps(ads[0]) + "\n")
    victim = tmp_path.parent / f"{tmp_path.name}-victim.jsonl"
    victim.write_bytes(b'{"id": "theirs"}\n{"id": "cut')
    (tmp_path / "media_status.jsonl").symlink_to(victim)
    browser = ScriptedBrowser([Rendered(200, "Vote yes")])
    with pytest.raises(LinkRefused, match=r"media_status\.jsonl is a symbolic link"):
        fetch_media(media_cfg(tmp_path, standin.base_url), browser=browser)
    assert victim.read_bytes() == b'{"id": "theirs"}\n{"id": "cut' and browser.urls == []
