"""python -m ava.fetch stage=ads against the loopback stand-in: paging, duplicates, errors, rate control, resume."""

from __future__ import annotations

import json
import os
import re

import pytest

from ava.fetch.api import Client, ParameterError
from ava.fetch.crawl import fetch_ads
from ava.fetch.store import ad_key
from ava.lock import OutputInUse, output_lock
from ava.runtime import LinkRefused
from tests.fetch.helpers import TOKEN, compose_fetch, make_ads, read_ads, real_ads

from .standin import Fault


def served_without_token(standin, records):
    """What the stored records must be: as served, ``ad_snapshot_url`` without its access_token."""
    out = []
    for r in records:
        r = standin.served(r, TOKEN)
        if "ad_snapshot_url" in r:
            r["ad_snapshot_url"] = re.sub(r"&access_token=[^&#]*", "", r["ad_snapshot_url"])
        out.append(r)
    return out


@pytest.mark.slow  # ~250 pages over 63 months (the undated real records are served in every month): 9-14 s
def test_crawl_keeps_every_ad_once_exactly_as_served(tmp_path, standin, token_env):
    ads = make_ads(130) + real_ads()
    standin.records = ads
    # the real records (when present) are of 2019-2023: the window takes them in, month by month
    summary = fetch_ads(compose_fetch(tmp_path, standin.base_url, "query.ad_delivery_date_min=2019-01-01"))
    stored = read_ads(tmp_path / "ads.jsonl")
    keys = [ad_key(r) for r in stored]
    assert len(keys) == len(set(keys))
    expected = {ad_key(r): r for r in served_without_token(standin, ads)}
    assert {ad_key(r): r for r in stored} == expected  # nothing invented, nothing lost, unknown fields kept
    opened = next(r for r in stored if r.get("id") == "700000000000")
    assert opened["impressions"] == {"lower_bound": "1000000"}  # the open top bucket stays open
    assert f"/render_ad/?id={opened['id']}" in opened["ad_snapshot_url"]
    assert summary["status"] == "complete" and summary["ads"] == len(expected)
    assert summary["duplicates_dropped"] > 0  # the repeated ad at each page top, undated ads in every month
    assert summary["shards"] == {"total": 63, "done": 63}  # 2019-01 .. 2024-03
    assert summary["token_stripped"] >= len(make_ads(130))  # every served snapshot URL, repeats included
    assert not any("access_token=" in r.get("ad_snapshot_url", "") for r in stored)
    # every shard's last request is answered by an empty page; each month asked separately
    months = {(r["ad_delivery_date_min"], r["ad_delivery_date_max"]) for r in standin.requests}
    assert len(months) == 63
    assert {("2024-01-01", "2024-01-31"), ("2024-02-01", "2024-02-29"), ("2024-03-01", "2024-03-31")} <= months
    assert all(a[:7] == b[:7] and a.endswith("-01") for a, b in months)
    assert json.loads(standin.requests[0]["ad_reached_countries"]) == ["US"]
    assert "ad_snapshot_url" in standin.requests[0]["fields"].split(",")
    on_disk = json.loads((tmp_path / "fetch_summary.json").read_text())
    assert on_disk["pages"] == summary["pages"] == len(standin.requests)


def test_code_1_halves_the_page_then_the_dates(tmp_path, standin, token_env):
    standin.records = make_ads(150, days=31)
    standin.reduce_depth, standin.reduce_limit = 40, 10   # large pages fail past 40 ads
    standin.hard_depth = 90                               # any page fails past 90: the month must be split
    summary = fetch_ads(compose_fetch(tmp_path, standin.base_url, "query.ad_delivery_date_max=2024-01-31"))
    # 20 -> 10 at 40 ads, 10 -> 5 at 90, then the month in halves (each under 90 ads, pages of 5 inherited)
    assert summary["page_size_halved"] == 2
    assert summary["shards_split"] == 1 and summary["status"] == "complete"
    assert summary["shards"].get("truncated", 0) == 0
    ids = [r["id"] for r in read_ads(tmp_path / "ads.jsonl")]
    assert sorted(ids) == sorted(a["id"] for a in standin.records)
    assert any(r["limit"] == "10" for r in standin.requests)


def test_code_1_on_a_single_day_is_truncated_and_said(tmp_path, standin, token_env):
    standin.records = make_ads(60, days=1)
    standin.hard_depth = 30
    summary = fetch_ads(compose_fetch(tmp_path, standin.base_url, "query.ad_delivery_date_max=2024-01-01"))
    assert summary["shards"] == {"total": 1, "truncated": 1}
    assert "cut short" in summary["message"]
    assert 30 <= summary["ads"] < 60


def test_shard_past_max_ads_is_split(tmp_path, standin, token_env):
    standin.records = make_ads(100, days=31)
    summary = fetch_ads(compose_fetch(tmp_path, standin.base_url, "query.ad_delivery_date_max=2024-01-31",
                                      "shards.max_ads=50"))
    assert summary["shards_split"] >= 1 and summary["ads"] == 100
    assert summary["shards"]["split"] == summary["shards_split"]


@pytest.mark.parametrize("fault", [Fault(code=4), Fault(code=17), Fault(code=32), Fault(code=613),
                                   Fault(status=429, code=None, message="Too many calls")])
def test_throttling_waits_then_succeeds(tmp_path, standin, token_env, fault):
    standin.records = make_ads(30)
    standin.faults = {2: fault, 3: fault}
    summary = fetch_ads(compose_fetch(tmp_path, standin.base_url))
    assert summary["throttle_waits"] == 2 and summary["status"] == "complete" and summary["ads"] == 30


def test_throttle_waits_the_time_the_header_gives(tmp_path, standin, token_env):
    standin.records = make_ads(10)
    regain = json.dumps({"1234": [{"type": "ads_archive", "call_count": 100, "total_cputime": 40,
                                   "total_time": 60, "estimated_time_to_regain_access": 2}]})
    standin.faults = {1: Fault(code=613, headers={"x-business-use-case-usage": regain})}
    waits: list[float] = []
    cfg = compose_fetch(tmp_path, standin.base_url)
    summary = fetch_ads(cfg, client=Client(cfg.api, TOKEN, sleep=waits.append))
    assert waits[0] == 120.0  # 2 minutes, as the header says; then usage 100% paces the next request
    assert summary["throttle_wait_s"] == 120.0 and summary["ads"] == 10


def test_usage_headers_slow_requests_down(tmp_path, standin, token_env):
    standin.records = make_ads(10, days=20)
    standin.headers = {"x-app-usage": json.dumps({"call_count": 90, "total_cputime": 10, "total_time": 20})}
    waits: list[float] = []
    cfg = compose_fetch(tmp_path, standin.base_url, "api.slowdown_from_pct=80", "api.slowdown_max_s=10",
                        "query.ad_delivery_date_max=2024-01-31")
    summary = fetch_ads(cfg, client=Client(cfg.api, TOKEN, sleep=waits.append))
    # (90-80)/(100-80) = 0.5 -> 10 s * 0.25 before every request after the first
    assert waits == [pytest.approx(2.5)] * (len(standin.requests) - 1)
    assert summary["last_usage_pct"] == 90


def test_transient_errors_are_retried_then_stop(tmp_path, standin, token_env):
    standin.records = make_ads(30)
    standin.faults = {1: Fault(status=500, code=2, message="An unexpected error has occurred"),
                      2: Fault(status=503, code=None)}
    summary = fetch_ads(compose_fetch(tmp_path, standin.base_url))
    assert summary["retries"] == 2 and summary["ads"] == 30
    assert summary["errors"] == {"code 2": 1, "HTTP 503": 1}
    standin.faults = {n: Fault(status=500, code=2) for n in range(len(standin.requests) + 1, 200)}
    with pytest.raises(SystemExit, match="3 transient failures in a row"):
        fetch_ads(compose_fetch(tmp_path / "again", standin.base_url, "api.max_retries=2"))


def test_throttle_waits_do_not_count_as_transient_failures(tmp_path, standin, token_env):
    standin.records = make_ads(10)
    # 8 throttle waits on the first page, then one HTTP 503: a single transient failure, retried
    standin.faults = {**{n: Fault(code=4) for n in range(1, 9)}, 9: Fault(status=503, code=None)}
    cfg = compose_fetch(tmp_path, standin.base_url)
    assert cfg.api.max_retries == 8
    summary = fetch_ads(cfg, client=Client(cfg.api, TOKEN, sleep=lambda s: None))
    assert summary["status"] == "complete" and summary["ads"] == 10
    assert summary["throttle_waits"] == 8 and summary["retries"] == 9


def test_a_throttle_wait_starts_the_transient_count_again(tmp_path, standin, token_env):
    standin.records = make_ads(10)
    # max_retries=2: two 5xx, a throttle wait, two 5xx again: never three transient failures in a row
    standin.faults = {1: Fault(status=500, code=2), 2: Fault(status=503, code=None), 3: Fault(code=613),
                      4: Fault(status=502, code=None), 5: Fault(status=500, code=2)}
    cfg = compose_fetch(tmp_path, standin.base_url, "api.max_retries=2")
    summary = fetch_ads(cfg, client=Client(cfg.api, TOKEN, sleep=lambda s: None))
    assert summary["status"] == "complete" and summary["retries"] == 5 and summary["ads"] == 10


def test_code_100_fails_naming_the_parameter(tmp_path, standin, token_env):
    standin.faults = {1: Fault(code=100, message="(#100) Param ad_reached_countries must be a list of ISO codes")}
    with pytest.raises(ParameterError, match=r"query\.ad_reached_countries"):
        fetch_ads(compose_fetch(tmp_path, standin.base_url))
    assert len(standin.requests) == 1
    assert json.loads((tmp_path / "fetch_summary.json").read_text())["status"] == "bad_parameter"


def test_token_expiry_stops_cleanly_and_a_new_token_completes(tmp_path, standin, monkeypatch):
    standin.records = make_ads(120)
    standin.tokens = {"tok-A"}
    standin.expire_after = 2  # the third request, in January's second page, meets an expired token
    monkeypatch.setenv("AVA_META_TOKEN", "tok-A")
    cfg = compose_fetch(tmp_path, standin.base_url)
    with pytest.raises(SystemExit, match="renew it"):
        fetch_ads(cfg)
    summary = json.loads((tmp_path / "fetch_summary.json").read_text())
    assert summary["status"] == "token_expired" and 0 < summary["ads"] < 120
    state = json.loads((tmp_path / "fetch_state.json").read_text())
    cursor = state["shards"][0]["after"]
    assert cursor  # the cursor is kept
    standin.tokens.add("tok-B")
    standin.expire_after = None
    token_file = tmp_path / "token.txt"
    token_file.write_text("tok-B\n")
    summary = fetch_ads(compose_fetch(tmp_path, standin.base_url, f"api.token_file={token_file}"))
    assert summary["status"] == "complete" and summary["resumed"]
    ids = [r["id"] for r in read_ads(tmp_path / "ads.jsonl")]
    assert sorted(ids) == sorted(a["id"] for a in standin.records)
    assert standin.requests[3].get("after") == cursor  # the rerun went on from the cursor, not from the start


def test_budget_stops_and_a_rerun_continues(tmp_path, standin, token_env):
    standin.records = make_ads(100)
    summary = fetch_ads(compose_fetch(tmp_path, standin.base_url, "api.max_requests=3"))
    assert summary["status"] == "budget" and summary["requests"] == 3
    summary = fetch_ads(compose_fetch(tmp_path, standin.base_url))
    assert summary["status"] == "complete" and summary["ads"] == 100


def test_deadline_stops_before_a_wait_past_it(tmp_path, standin, token_env):
    standin.records = make_ads(10)
    standin.faults = {1: Fault(code=4)}
    cfg = compose_fetch(tmp_path, standin.base_url, "api.deadline_s=5", "api.backoff_s=60", "api.max_backoff_s=60")
    summary = fetch_ads(cfg)
    assert summary["status"] == "deadline" and summary["requests"] == 1


def test_a_torn_last_line_is_cut_and_its_ads_fetched_again(tmp_path, standin, token_env):
    standin.records = make_ads(30)
    cfg = compose_fetch(tmp_path, standin.base_url)
    fetch_ads(cfg)
    text = (tmp_path / "ads.jsonl").read_text()
    lines = text.splitlines(keepends=True)
    (tmp_path / "ads.jsonl").write_text("".join(lines[:-1]) + lines[-1][:25])  # a kill in the middle of a write
    state = json.loads((tmp_path / "fetch_state.json").read_text())
    for s in state["shards"]:
        s.update(status="pending", after=None)  # as if no page had been checkpointed
    (tmp_path / "fetch_state.json").write_text(json.dumps(state))
    summary = fetch_ads(cfg)
    ids = [r["id"] for r in read_ads(tmp_path / "ads.jsonl")]
    assert sorted(ids) == sorted(a["id"] for a in standin.records)
    assert summary["new_ads"] == 1


def test_another_query_in_the_same_folder_is_refused(tmp_path, standin, token_env):
    standin.records = make_ads(5)
    fetch_ads(compose_fetch(tmp_path, standin.base_url))
    with pytest.raises(SystemExit, match="differs in: search_terms"):
        fetch_ads(compose_fetch(tmp_path, standin.base_url, "query.search_terms=water"))


def test_no_token_is_a_clear_error(tmp_path, standin, monkeypatch):
    monkeypatch.delenv("AVA_META_TOKEN", raising=False)
    with pytest.raises(SystemExit, match="AVA_META_TOKEN"):
        fetch_ads(compose_fetch(tmp_path, standin.base_url))


def test_an_interrupt_is_never_summarised_as_complete(tmp_path, standin, token_env):
    standin.records = make_ads(30)
    standin.faults = {3: Fault(code=4)}

    def ctrl_c(seconds: float) -> None:
        raise KeyboardInterrupt

    cfg = compose_fetch(tmp_path, standin.base_url)
    with pytest.raises(KeyboardInterrupt):
        fetch_ads(cfg, client=Client(cfg.api, TOKEN, sleep=ctrl_c))
    summary = json.loads((tmp_path / "fetch_summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["pages"] == 2
    assert fetch_ads(cfg)["status"] == "complete"  # the lock was released; the rerun finishes
    assert sorted(r["id"] for r in read_ads(tmp_path / "ads.jsonl")) == sorted(a["id"] for a in standin.records)


def test_a_second_run_on_the_folder_stops_naming_the_holder(tmp_path, standin, token_env):
    standin.records = make_ads(5)
    with output_lock(tmp_path, "ava.verbalize"), pytest.raises(OutputInUse, match=f"in use by PID {os.getpid()} "):
        fetch_ads(compose_fetch(tmp_path, standin.base_url))
    assert standin.requests == [] and not (tmp_path / "ads.jsonl").exists()


@pytest.mark.parametrize("cut", [False, True])
def test_an_ads_file_planted_as_a_symlink_is_refused_not_appended_through(tmp_path, standin, token_env, cut):
    """ads.jsonl as a link to someone's file: neither appended to nor cut (a last line without a newline is
    what a rerun cuts from its own file)."""
    standin.records = make_ads(5)
    out, victim = tmp_path / "out", tmp_path / "victim.jsonl"
    out.mkdir()
    victim.write_bytes(b'{"id": "theirs"}\n' + (b'{"id": "half' if cut else b""))
    before = victim.read_bytes()
    (out / "ads.jsonl").symlink_to(victim)
    with pytest.raises(LinkRefused, match=r"ads\.jsonl is a symbolic link \(to .*victim\.jsonl\)"):
        fetch_ads(compose_fetch(out, standin.base_url))
    assert victim.read_bytes() == before and standin.requests == []


def test_a_lock_file_planted_as_a_symlink_is_refused_not_followed(tmp_path, standin, token_env):
    standin.records = make_ads(5)
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    for name in (".lock", ".fetch.lock"):  # the library's lock file, and the one fetch used to take
        (out / name).symlink_to(elsewhere / name)
    with pytest.raises(SystemExit, match=r"\.lock is a symbolic link"):
        fetch_ads(compose_fetch(out, standin.base_url))
    assert list(elsewhere.iterdir()) == [] and standin.requests == []
