"""A loopback stand-in for the Ad Library API (``/vN/ads_archive``) and its snapshot pages, for the fetch tests.

It serves the records a test gives it, in the API's shape: pages of ``data`` with ``paging.cursors.after`` and
``paging.next`` (both holding nothing but an opaque cursor; ``next`` carries the token, as the real one does),
an empty final page, ``ad_snapshot_url`` with the caller's token, the ad window filtered on
``ad_delivery_start_time``, the last ad of a page repeated at the top of the next, and the API's faults on
request: error envelopes with any code, usage headers, code 1 past a depth. Snapshot pages and media files
are served from ``pages`` and ``files``. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Fault:
    status: int = 400
    code: int | None = None
    message: str = "An unknown error occurred"
    headers: dict[str, str] = field(default_factory=dict)
    subcode: int | None = None


def envelope(fault: Fault) -> dict[str, Any]:
    err: dict[str, Any] = {"message": fault.message, "type": "OAuthException", "code": fault.code,
                           "fbtrace_id": "AbCdEf123"}
    if fault.subcode is not None:
        err["error_subcode"] = fault.subcode
    return {"error": err}


@dataclass
class Standin:
    records: list[dict[str, Any]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=lambda: {"tok-A"})
    faults: dict[int, Fault] = field(default_factory=dict)  # 1-based ads_archive request number -> fault
    headers: dict[str, str] = field(default_factory=dict)   # sent with every ads_archive answer
    repeat_last: bool = True          # the previous page's last ad opens the next page
    reduce_depth: int | None = None   # code 1 when offset >= this and limit > reduce_limit
    reduce_limit: int = 10
    hard_depth: int | None = None     # code 1 when offset >= this, whatever the limit
    delay_s: float = 0.0
    expire_after: int | None = None   # tokens stop working after this many requests (code 190)
    pages: dict[str, str] = field(default_factory=dict)      # ad id -> snapshot HTML
    page_faults: dict[str, list[int]] = field(default_factory=dict)  # ad id -> HTTP statuses to answer first
    files: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)  # path -> (status, type, body)
    requests: list[dict[str, str]] = field(default_factory=list)  # ads_archive parameters, token removed
    snapshot_requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Standin:
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                app.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- dispatch ---------------------------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if url.path.endswith("/ads_archive"):
            status, headers, body = self.ads_archive(params)
            self.send(h, status, "application/json", json.dumps(body).encode(), headers)
        elif url.path.startswith("/render_ad"):
            self.snapshot_requests.append(params.get("id", ""))
            faults = self.page_faults.get(params.get("id", ""))
            if faults:
                self.send(h, faults.pop(0), "text/html", b"<html><body>You're Temporarily Blocked</body></html>")
            elif params.get("access_token") not in self.tokens:
                self.send(h, 400, "text/html", b"<html><body>Invalid access token</body></html>")
            elif params.get("id") in self.pages:
                self.send(h, 200, "text/html; charset=utf-8", self.pages[params["id"]].encode())
            else:
                self.send(h, 404, "text/html", b"<html><body>Sorry, this page isn't available. The link you "
                                               b"followed may be broken.</body></html>")
        elif url.path in self.files:
            status, ctype, body = self.files[url.path]
            self.send(h, status, ctype, body)
        else:
            self.send(h, 404, "text/plain", b"no such path")

    @staticmethod
    def send(h: BaseHTTPRequestHandler, status: int, ctype: str, body: bytes,
             headers: dict[str, str] | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    # --- ads_archive ------------------------------------------------------------------------------------------
    def ads_archive(self, params: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if self.delay_s:
            time.sleep(self.delay_s)
        token = params.pop("access_token", None)
        with self.lock:
            self.requests.append(dict(params))
            n = len(self.requests)
            if self.expire_after is not None and n > self.expire_after and token in self.tokens:
                self.tokens.discard(token)
        headers = dict(self.headers)
        if token not in self.tokens:
            return 400, headers, envelope(Fault(code=190, subcode=463, message="Error validating access token: "
                                                "Session has expired."))
        if n in self.faults:
            fault = self.faults[n]
            return fault.status, {**headers, **fault.headers}, envelope(fault)
        window = self.window(params["ad_delivery_date_min"], params["ad_delivery_date_max"])
        offset = int(base64.b64decode(params["after"]).decode().split(":")[1]) if params.get("after") else 0
        limit = int(params.get("limit", 25))
        if (self.hard_depth is not None and offset >= self.hard_depth) or (
                self.reduce_depth is not None and offset >= self.reduce_depth and limit > self.reduce_limit):
            return 500, headers, envelope(Fault(code=1, message="Please reduce the amount of data you're asking "
                                                "for, then retry your request"))
        if offset >= len(window):
            return 200, headers, {"data": []}  # the end: an empty page without paging
        start = offset - 1 if self.repeat_last and offset > 0 else offset
        data = [self.served(r, token) for r in window[start:offset + limit]]
        after = base64.b64encode(f"offset:{offset + limit}".encode()).decode()
        nxt = f"{self.base_url}/v23.0/ads_archive?access_token={token}&limit={limit}&after={after}"
        return 200, headers, {"data": data, "paging": {"cursors": {"before": "MAZDZD", "after": after},
                                                       "next": nxt}}

    def window(self, since: str, until: str) -> list[dict[str, Any]]:
        """Records delivered in [since, until] (a record without a start date is in every window)."""
        return [r for r in self.records
                if not r.get("ad_delivery_start_time") or since <= str(r["ad_delivery_start_time"])[:10] <= until]

    def served(self, record: dict[str, Any], token: str) -> dict[str, Any]:
        rec = dict(record)
        if "id" in rec and "ad_snapshot_url" not in rec:
            rec["ad_snapshot_url"] = f"{self.base_url}/render_ad/?id={rec['id']}&access_token={token}"
        return rec
