"""python -m ava.fetch as a real process: kill -9 and rerun, and the token in no file and no output line."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

from tests.fetch.helpers import make_ads, read_ads

from .standin import Fault

ROOT = Path(__file__).resolve().parents[2]


def command(out: Path, base_url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ava.fetch", f"output_dir={out}", f"api.base_url={base_url}",
            "query.ad_delivery_date_min=2024-01-01", "query.ad_delivery_date_max=2024-01-31", "api.page_size=10",
            "api.backoff_s=0.001", "api.max_backoff_s=0.01", *extra]


def env_with(token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AVA_META_TOKEN"}
    if token:
        env["AVA_META_TOKEN"] = token
    return env


def pages_checkpointed(out: Path) -> int:
    try:
        return sum(s["pages"] for s in json.loads((out / "fetch_state.json").read_text())["shards"])
    except (OSError, ValueError, KeyError):
        return 0


def test_kill_9_mid_crawl_then_rerun_gives_every_ad_once(tmp_path, standin):
    standin.records = make_ads(400, days=31)
    standin.delay_s = 0.03
    out = tmp_path / "out"
    proc = subprocess.Popen(command(out, standin.base_url), env=env_with("tok-A"), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while pages_checkpointed(out) < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the crawl ended before it could be killed"
    proc.kill()  # SIGKILL: no cleanup, no summary
    proc.wait()
    served_before = len(standin.requests)
    assert not (out / "fetch_summary.json").exists()
    partial = [r["id"] for r in read_ads(out / "ads.jsonl")] if (out / "ads.jsonl").exists() else []
    assert 0 < len(partial) < 400 and len(partial) == len(set(partial))
    standin.delay_s = 0
    rerun = subprocess.run(command(out, standin.base_url, "progress=false"), env=env_with("tok-A"), cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    ids = [r["id"] for r in read_ads(out / "ads.jsonl")]
    assert len(ids) == len(set(ids)) and set(ids) == {a["id"] for a in standin.records}
    summary = json.loads((out / "fetch_summary.json").read_text())
    assert summary["resumed"] and summary["status"] == "complete"
    assert standin.requests[served_before].get("after")  # continued from the checkpointed cursor
    assert len(standin.requests) - served_before < 45  # not from the start (400 ads / 10 a page = 41 pages)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_token_is_in_no_file_and_no_output_line(tmp_path, standin):
    token = "EAAtestSECRET0123456789abcdefTOKEN"
    standin.tokens = {token}
    standin.records = make_ads(40, days=31)
    # an error message that quotes the request (with the token), as a proxy or a bug might
    standin.faults = {2: Fault(status=500, code=2, message=f"Unexpected error for access_token={token}")}
    out = tmp_path / "out"
    runs = [subprocess.run(command(out, standin.base_url), env=env_with(token), cwd=ROOT, capture_output=True,
                           text=True, timeout=300)]
    assert runs[0].returncode == 0, runs[0].stderr[-3000:]
    assert len(read_ads(out / "ads.jsonl")) == 40
    # a connection error: requests' message holds the full URL, token included
    dead = tmp_path / "dead"
    runs.append(subprocess.run(command(dead, f"http://127.0.0.1:{_closed_port()}", "api.max_retries=1"),
                               env=env_with(token), cwd=ROOT, capture_output=True, text=True, timeout=300))
    assert runs[1].returncode == 1 and "ConnectionError" in runs[1].stderr
    # the token given on the command line is refused before anything is written, without echoing it
    cli = tmp_path / "cli"
    runs.append(subprocess.run(command(cli, standin.base_url, f"+api.token={token}"), env=env_with(None),
                               cwd=ROOT, capture_output=True, text=True, timeout=300))
    assert runs[2].returncode == 1 and "api.token=... on the command line" in runs[2].stderr
    assert not cli.exists()
    for run in runs:
        assert token not in run.stdout and token not in run.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "fetch.log" for p in files) and any(p.name == "config.yaml" for p in files)
    for path in files:
        assert token.encode() not in path.read_bytes(), path
    log = next(p for p in files if p.name == "fetch.log" and out in p.parents).read_text()
    assert "access_token=[token]" in log  # the error was logged, redacted


def test_an_app_token_is_redacted_percent_encoded_too(tmp_path, standin):
    token = "1234567890|abSECRET+c/=xyz"  # APPID|SECRET: requests sends it as 1234567890%7CabSECRET%2Bc%2F%3Dxyz
    forms = {token, quote(token, safe=""), quote_plus(token)}
    assert len(forms) == 2
    standin.tokens = {token}
    standin.records = make_ads(20, days=31)
    # an error message quoting the request as it was sent (the token URL-encoded)
    standin.faults = {2: Fault(status=500, code=2, message=f"Unexpected error for ads_archive?access_token="
                                                           f"{quote_plus(token)}&limit=10")}
    out = tmp_path / "out"
    runs = [subprocess.run(command(out, standin.base_url, "hydra.verbose=urllib3"), env=env_with(token), cwd=ROOT,
                           capture_output=True, text=True, timeout=300)]
    assert runs[0].returncode == 0, runs[0].stderr[-3000:]
    assert len(read_ads(out / "ads.jsonl")) == 20
    dead = tmp_path / "dead"  # requests' ConnectionError quotes the URL it was sent, token URL-encoded
    runs.append(subprocess.run(command(dead, f"http://127.0.0.1:{_closed_port()}", "api.max_retries=0"),
                               env=env_with(token), cwd=ROOT, capture_output=True, text=True, timeout=300))
    assert runs[1].returncode == 1 and "ConnectionError" in runs[1].stderr
    assert "access_token=[token]" in json.loads((dead / "fetch_summary.json").read_text())["message"]
    for run in runs:
        for form in forms:
            assert form not in run.stdout and form not in run.stderr, form
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    for path in files:
        for form in forms:
            assert form.encode() not in path.read_bytes(), (path, form)
    log = next(p for p in files if p.name == "fetch.log" and out in p.parents).read_text()
    assert "Unexpected error for ads_archive?access_token=[token]&limit=10" in log
    assert re.search(r'"GET /v[\d.]+/ads_archive\?.*access_token=\[token\]', log)  # urllib3's DEBUG line
