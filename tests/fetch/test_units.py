"""The small rules of ava.fetch, against hand-computed cases: shards, token stripping, usage headers, backoff."""

from __future__ import annotations

import json
import logging
import random
from urllib.parse import parse_qs, urlsplit

import pytest

from ava.fetch.api import backoff, parameter_of, parse_error, slowdown, usage
from ava.fetch.crawl import fetch_ads, request_params
from ava.fetch.media import with_token
from ava.fetch.shards import Shard, month_shards
from ava.fetch.token import RedactFilter, TokenError, read_token, redact, refuse_token_arguments, strip_token, strip_url
from tests.fetch.helpers import compose_fetch


def test_month_shards_clip_the_window_and_cover_it():
    got = [(s.since, s.until) for s in month_shards("2023-12-15", "2024-03-02")]
    assert got == [("2023-12-15", "2023-12-31"), ("2024-01-01", "2024-01-31"), ("2024-02-01", "2024-02-29"),
                   ("2024-03-01", "2024-03-02")]
    with pytest.raises(ValueError, match="before"):
        month_shards("2024-02-01", "2024-01-01")


def test_halves_split_a_window_without_gap_or_overlap():
    assert [(h.since, h.until) for h in Shard("2024-01-01", "2024-01-31").halves()] == [
        ("2024-01-01", "2024-01-15"), ("2024-01-16", "2024-01-31")]
    assert [(h.since, h.until) for h in Shard("2024-01-01", "2024-01-02").halves()] == [
        ("2024-01-01", "2024-01-01"), ("2024-01-02", "2024-01-02")]


def test_strip_url_removes_only_the_token_parameter():
    base = "https://www.facebook.com/ads/archive/render_ad/"
    assert strip_url(f"{base}?id=1&access_token=EAAB") == f"{base}?id=1"
    assert strip_url(f"{base}?access_token=EAAB&id=1") == f"{base}?id=1"
    assert strip_url(f"{base}?id=1&access_token=EAAB&x=%2C#frag") == f"{base}?id=1&x=%2C#frag"
    assert strip_url(f"{base}?access_token=EAAB") == base
    assert strip_url(f"{base}?id=1") == f"{base}?id=1"


def test_strip_token_walks_the_record_and_counts():
    rec = {"id": "1", "ad_snapshot_url": "https://x/?id=1&access_token=SECRET", "nested": [{"note": "SECRET here"}],
           "n": 3}
    clean, changed = strip_token(rec, "SECRET")
    assert clean == {"id": "1", "ad_snapshot_url": "https://x/?id=1", "nested": [{"note": "[token] here"}], "n": 3}
    assert changed == 2 and rec["ad_snapshot_url"].endswith("SECRET")  # the input is not modified
    same, none = strip_token({"id": "2"}, "SECRET")
    assert none == 0 and same == {"id": "2"}


def test_the_token_is_refused_on_the_command_line_without_echo():
    for arg in ["api.token=abc123", "+api.token=abc123", "++access_token=abc123", "+token=abc123"]:
        with pytest.raises(TokenError) as err:
            refuse_token_arguments(["output_dir=x", arg])
        assert "abc123" not in str(err.value)
    refuse_token_arguments(["api.token_file=/run/secrets/meta", "output_dir=x"])


def test_read_token_from_file_or_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AVA_META_TOKEN", " from-env \n")
    assert read_token(None) == "from-env"
    (tmp_path / "t").write_text("from-file\n")
    assert read_token(str(tmp_path / "t")) == "from-file"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(TokenError, match="empty"):
        read_token(str(tmp_path / "empty"))


def test_redact_filter_rewrites_messages_and_arguments():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "GET %s failed", ("https://h/?access_token=S1",),
                               None)
    assert RedactFilter("S1").filter(record) and record.getMessage() == "GET https://h/?access_token=[token] failed"


APP_TOKEN = "123|ab+c/= d"  # an app token APPID|SECRET, with every character URL encoding changes


def test_redact_takes_out_the_token_raw_and_percent_encoded():
    text = "raw 123|ab+c/= d, form 123%7Cab%2Bc%2F%3D+d, quoted 123%7Cab%2Bc%2F%3D%20d."
    assert redact(text, APP_TOKEN) == "raw [token], form [token], quoted [token]."
    record = logging.LogRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1, '%s "GET %s HTTP/1.1" 200',
                               ("http://h:80", "/v23.0/ads_archive?limit=5&access_token=123%7Cab%2Bc%2F%3D+d"), None)
    assert RedactFilter(APP_TOKEN).filter(record) and "[token]" in record.getMessage()
    assert "%7C" not in record.getMessage()
    url = "https://h/render_ad/?id=9&access_token=123%7Cab%2Bc%2F%3D+d"
    assert strip_token({"ad_snapshot_url": url, "note": "x 123%7Cab%2Bc%2F%3D+d"}, APP_TOKEN) == (
        {"ad_snapshot_url": "https://h/render_ad/?id=9", "note": "x [token]"}, 2)


def test_with_token_url_encodes_it_and_keeps_the_rest():
    url = with_token("https://h/render_ad/?id=9&x=a%20b#frag", APP_TOKEN)
    parts = urlsplit(url)
    assert parse_qs(parts.query)["access_token"] == [APP_TOKEN] and parts.fragment == "frag"
    assert parts.query.startswith("id=9&x=a%20b&")
    assert parse_qs(urlsplit(with_token("https://h/p", APP_TOKEN)).query) == {"access_token": [APP_TOKEN]}


def test_usage_reads_both_headers():
    headers = {"x-app-usage": json.dumps({"call_count": 12, "total_cputime": 40, "total_time": 7}),
               "x-business-use-case-usage": json.dumps({
                   "111": [{"type": "ads_archive", "call_count": 55, "total_cputime": 3, "total_time": 81,
                            "estimated_time_to_regain_access": 0}],
                   "222": [{"type": "ads_management", "call_count": 5, "estimated_time_to_regain_access": 4}]})}
    assert usage(headers) == (81.0, 240.0)
    assert usage({"x-app-usage": "not json"}) == (0.0, 0.0)
    assert usage({}) == (0.0, 0.0)


def test_backoff_is_capped_exponential_with_jitter():
    rng = random.Random(0)
    for attempt, cap in [(0, 2), (1, 4), (2, 8), (3, 10), (9, 10)]:
        waits = [backoff(attempt, 2, 10, rng) for _ in range(200)]
        assert cap / 2 <= min(waits) and max(waits) <= cap and len(set(waits)) > 100


def test_slowdown_is_zero_below_the_threshold_and_max_at_100():
    assert slowdown(74.9, 75, 60) == 0 and slowdown(100, 75, 60) == 60 and slowdown(87.5, 75, 60) == 15


def test_error_envelopes_and_parameters():
    err = parse_error(400, {"error": {"message": "(#100) Param ad_type must be one of {ALL, ...}",
                                      "type": "OAuthException", "code": 100, "error_subcode": 33, "fbtrace_id": "Ab"}})
    assert (err.code, err.subcode, err.fbtrace_id) == (100, 33, "Ab") and parameter_of(err.message) == "ad_type"
    assert parameter_of("(#100) The parameter search_terms is required") == "search_terms"
    assert parse_error(200, {"data": []}) is None
    assert parse_error(502, None).message == "no error envelope in the response"


def test_request_params_send_lists_as_json_and_the_shard_window():
    query = {"ad_reached_countries": ["US"], "ad_type": "POLITICAL_AND_ISSUE_ADS", "search_page_ids": [1, 2],
             "languages": "en", "unmask_removed_content": True, "fields": ["id", "spend"],
             "ad_delivery_date_min": "2024-01-01", "ad_delivery_date_max": "2024-12-31"}
    params = request_params(query, Shard("2024-02-01", "2024-02-29", after="CUR"), 50)
    assert params == {"ad_reached_countries": '["US"]', "ad_type": "POLITICAL_AND_ISSUE_ADS",
                      "search_page_ids": "[1, 2]", "languages": '["en"]', "unmask_removed_content": "true",
                      "fields": "id,spend", "ad_delivery_date_min": "2024-02-01",
                      "ad_delivery_date_max": "2024-02-29", "limit": "50", "after": "CUR"}
    assert "access_token" not in params


def test_the_date_window_is_required(tmp_path, token_env):
    cfg = compose_fetch(tmp_path, "http://127.0.0.1:9", "query.ad_delivery_date_min=null")
    with pytest.raises(SystemExit, match=r"query\.ad_delivery_date_min"):
        fetch_ads(cfg)
