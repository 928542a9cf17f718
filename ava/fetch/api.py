"""python -m ava.fetch: one ``ads_archive`` request at a time, with the API's errors and rate limits handled.

:meth:`Client.page` returns one page (``data``, the ``after`` cursor) or raises what the caller must act on:

- throttling (codes 4, 17, 32, 613, HTTP 429): wait ``estimated_time_to_regain_access`` from
  ``x-business-use-case-usage`` when given, else capped exponential backoff with jitter, then retry;
- transient (HTTP 5xx, code 2, a connection error or timeout, a body that is not a page): backoff and retry,
  up to ``api.max_retries`` in a row, then :class:`Stop` (resume later). "In a row" counts transient failures
  only: a throttle wait between two of them starts the count again (as a success does);
- code 1 ("Please reduce the amount of data"): :class:`ReduceData`, for the crawler to shrink the page or the
  date window;
- code 190 (token expired or invalid): :class:`Stop` with a message saying to renew the token;
- code 100 (bad parameter): :class:`ParameterError` naming the parameter;
- the request budget (``api.max_requests``) or the deadline (``api.deadline_s``) reached: :class:`Stop`.

Between requests it slows down as the usage headers (``x-app-usage``, ``x-business-use-case-usage``,
percentages of the hourly allowance) approach 100. The token travels only as the ``access_token`` parameter;
no message, log line or exception leaving this module holds it.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from ava.fetch.token import redact

log = logging.getLogger(__name__)

THROTTLE_CODES = frozenset({4, 17, 32, 613})
TRANSIENT_CODES = frozenset({2})
_PARAM = re.compile(r"(?:param(?:eter)?s?\s+|\bfor\s+)['\"]?([a-z_][a-z0-9_.]*)", re.IGNORECASE)


class Stop(Exception):
    """The crawl cannot go on now; everything so far is kept and a rerun continues (``reason`` says why)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ParameterError(SystemExit):
    """Code 100: the API refused a query parameter (named in the message)."""


class ReduceData(Exception):
    """Code 1: the API asks for less data per request (a smaller page or a narrower query)."""


@dataclass
class ApiError:
    status: int
    code: int | None
    subcode: int | None
    message: str
    fbtrace_id: str | None = None

    def describe(self) -> str:
        sub = f", subcode {self.subcode}" if self.subcode is not None else ""
        trace = f", fbtrace_id {self.fbtrace_id}" if self.fbtrace_id else ""
        return f"HTTP {self.status}, code {self.code}{sub}: {self.message}{trace}"


@dataclass
class Counters:
    requests: int = 0
    retries: int = 0
    throttle_waits: int = 0
    throttle_wait_s: float = 0.0
    slowdown_s: float = 0.0
    last_usage_pct: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def count_error(self, err: ApiError) -> None:
        key = f"code {err.code}" if err.code is not None else f"HTTP {err.status}"
        self.errors[key] = self.errors.get(key, 0) + 1


def parse_error(status: int, body: Any) -> ApiError | None:
    """The error envelope ``{"error": {...}}`` of a response, or None for a good one."""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        def as_int(v: Any) -> int | None:
            try:
                return int(v)
            except (TypeError, ValueError):
                return None
        return ApiError(status, as_int(err.get("code")), as_int(err.get("error_subcode")),
                        str(err.get("error_user_msg") or err.get("message") or "no message"),
                        err.get("fbtrace_id"))
    if status >= 400 or not isinstance(body, dict):
        return ApiError(status, None, None, "no error envelope in the response")
    return None


def usage(headers: Any) -> tuple[float, float]:
    """(highest usage percentage, ``estimated_time_to_regain_access`` in seconds) from the usage headers.

    ``x-app-usage``: ``{"call_count": %, "total_cputime": %, "total_time": %}``; ``x-business-use-case-usage``:
    ``{business_id: [{"type": "ads_archive", the same %, "estimated_time_to_regain_access": minutes}]}``.
    A header that is absent or not JSON counts as 0.
    """
    pct, regain_min = 0.0, 0.0
    entries: list[dict] = []
    for name in ("x-app-usage", "x-ad-account-usage"):
        parsed = _json_header(headers, name)
        if isinstance(parsed, dict):
            entries.append(parsed)
    buc = _json_header(headers, "x-business-use-case-usage")
    if isinstance(buc, dict):
        for items in buc.values():
            entries.extend(i for i in (items if isinstance(items, list) else [items]) if isinstance(i, dict))
    for entry in entries:
        for key in ("call_count", "total_cputime", "total_time", "acc_id_util_pct"):
            pct = max(pct, _number(entry.get(key)))
        regain_min = max(regain_min, _number(entry.get("estimated_time_to_regain_access")))
    return pct, regain_min * 60.0


def _json_header(headers: Any, name: str) -> Any:
    raw = headers.get(name) if headers is not None else None
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _number(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def backoff(attempt: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Capped exponential backoff with "equal jitter": uniform in [d/2, d], d = min(max_s, base_s * 2**attempt)."""
    d = min(max_s, base_s * (2 ** attempt))
    return rng.uniform(d / 2, d)


def slowdown(pct: float, from_pct: float, max_s: float) -> float:
    """Pause before the next request at usage ``pct``: 0 below ``from_pct``, rising quadratically to ``max_s``
    at 100% (the allowance is a rolling hour, so the pause spreads what is left of it)."""
    if pct <= from_pct or from_pct >= 100:
        return 0.0
    frac = min(1.0, (pct - from_pct) / (100.0 - from_pct))
    return max_s * frac * frac


def parameter_of(message: str) -> str | None:
    """The parameter a code-100 message names ("(#100) Param ad_reached_countries must be ..."), if any."""
    m = _PARAM.search(message)
    return m.group(1) if m else None


class Client:
    """``GET {base_url}/{version}/ads_archive`` with the token as ``access_token``; see the module docstring."""

    def __init__(self, api: Any, token: str, counters: Counters | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 seed: int | None = None) -> None:
        self.url = f"{str(api.base_url).rstrip('/')}/{api.version}/ads_archive"
        self.token = token
        self.timeout_s = float(api.timeout_s)
        self.backoff_s, self.max_backoff_s = float(api.backoff_s), float(api.max_backoff_s)
        self.max_retries = int(api.max_retries)
        self.slow_from_pct, self.slow_max_s = float(api.slowdown_from_pct), float(api.slowdown_max_s)
        self.max_requests = None if api.max_requests is None else int(api.max_requests)
        self.deadline = None if api.deadline_s is None else clock() + float(api.deadline_s)
        self.counters = counters or Counters()
        self.sleep, self.clock = sleep, clock
        self.rng = random.Random(seed)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "ava-fetch/0.1"
        self._pause = 0.0  # the usage-based pause owed before the next request

    def close(self) -> None:
        self.session.close()

    def _wait(self, seconds: float, what: str) -> None:
        if seconds <= 0:
            return
        if self.deadline is not None and self.clock() + seconds > self.deadline:
            raise Stop("deadline", f"api.deadline_s reached: the next request would wait {seconds:.0f} s "
                                   f"({what}) past the deadline; rerun to continue")
        self.sleep(seconds)

    def _check_limits(self) -> None:
        if self.max_requests is not None and self.counters.requests >= self.max_requests:
            raise Stop("budget", f"api.max_requests={self.max_requests} reached; rerun to continue")
        if self.deadline is not None and self.clock() >= self.deadline:
            raise Stop("deadline", "api.deadline_s reached; rerun to continue")

    def page(self, params: dict[str, Any]) -> tuple[list[dict], str | None]:
        """One page for ``params`` (the query, ``limit`` and ``after``): (records, next ``after`` or None)."""
        failures = 0   # transient failures in a row (a throttle wait or a success starts again from 0)
        throttles = 0  # throttle waits for this page (the backoff exponent while throttled)
        while True:
            self._check_limits()
            self._wait(self._pause, "usage slowdown")
            self.counters.slowdown_s += self._pause
            self._pause = 0.0
            self.counters.requests += 1
            try:
                resp = self.session.get(self.url, params={**params, "access_token": self.token},
                                        timeout=self.timeout_s)
                status, headers = resp.status_code, resp.headers
                try:
                    body = resp.json()
                except ValueError:
                    body = None
            except requests.RequestException as exc:
                # requests puts the full URL (with the token) in its messages: only the redacted class+text leave
                err = ApiError(0, None, None, redact(f"{type(exc).__name__}: {exc}", self.token))
                failures = self._retry(err, failures, "transient")
                continue
            pct, regain_s = usage(headers)
            self.counters.last_usage_pct = pct
            self._pause = slowdown(pct, self.slow_from_pct, self.slow_max_s)
            err = parse_error(status, body)
            if err is None:
                data = body.get("data")
                if not isinstance(data, list):
                    err = ApiError(status, None, None, "response without a 'data' list")
                    failures = self._retry(err, failures, "transient")
                    continue
                after = ((body.get("paging") or {}).get("cursors") or {}).get("after")
                return [r for r in data if isinstance(r, dict)], (str(after) if after else None)
            err.message = redact(err.message, self.token)
            self.counters.count_error(err)
            if err.code == 190:
                raise Stop("token_expired", f"the access token was refused ({err.describe()}): renew it (README "
                                            "'Fetch') and rerun with the new one; everything so far is kept")
            if err.code == 100:
                name = parameter_of(err.message)
                where = f"query.{name}" if name else "a query parameter"
                raise ParameterError(f"ads_archive refused {where} ({err.describe()}); fix it and rerun")
            if err.code == 1:
                raise ReduceData(err.describe())
            if err.code in THROTTLE_CODES or status == 429:
                throttles = self._retry(err, throttles, "throttle", regain_s)
                failures = 0
            elif err.code in TRANSIENT_CODES or status >= 500 or (err.code is None and status < 400):
                failures = self._retry(err, failures, "transient")
            else:
                raise Stop("api_error", f"ads_archive answered an error this client does not retry "
                                        f"({err.describe()}); rerun to continue")

    def _retry(self, err: ApiError, attempt: int, kind: str, regain_s: float = 0.0) -> int:
        """Wait before retrying; ``attempt`` is this kind's count so far (the backoff exponent): returns it + 1."""
        if kind != "throttle" and attempt >= self.max_retries:  # throttling waits as long as it takes
            raise Stop(kind, f"{attempt + 1} transient failures in a row ({err.describe()}); everything so far is "
                             "kept, rerun later to continue")
        wait = regain_s if regain_s > 0 else backoff(attempt, self.backoff_s, self.max_backoff_s, self.rng)
        self.counters.retries += 1
        if kind == "throttle":
            self.counters.throttle_waits += 1
            self.counters.throttle_wait_s += wait
        log.warning("%s (%s); waiting %.1f s before retry %d", kind, err.describe(), wait, attempt + 1)
        self._wait(wait, kind)
        return attempt + 1
