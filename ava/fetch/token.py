"""python -m ava.fetch: the access token: where it comes from, and how it is kept out of files, URLs and logs.

The token comes from ``AVA_META_TOKEN`` or ``api.token_file`` only (never the command line or a config file,
both of which Hydra writes under ``OUT/logs``). Everything that could carry it out (a stored snapshot URL, an
error message, a log line) goes through :func:`strip_token` / :func:`redact` first.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

ENV_VAR = "AVA_META_TOKEN"
REDACTED = "[token]"
_TOKEN_PARAM = re.compile(r"^access_token=", re.IGNORECASE)


class TokenError(SystemExit):
    """No usable token, or a token given where it would be stored (the message never holds the token)."""


def read_token(token_file: str | None) -> str:
    """The token from ``api.token_file`` when set, else from ``AVA_META_TOKEN``."""
    if token_file:
        path = Path(token_file).expanduser()
        try:
            token = path.read_text().strip()
        except OSError as exc:
            raise TokenError(f"api.token_file={token_file}: cannot read it ({exc.strerror})") from None
        if not token:
            raise TokenError(f"api.token_file={token_file} is empty")
        return token
    token = os.environ.get(ENV_VAR, "").strip()
    if not token:
        raise TokenError(f"no access token: set {ENV_VAR} or api.token_file=PATH (a file holding only the token); "
                         "README 'Fetch' says how to get one")
    return token


def refuse_token_arguments(argv: list[str]) -> None:
    """Stop before Hydra starts when a command-line override carries a token (Hydra would store it)."""
    for arg in argv:
        key = arg.split("=", 1)[0].lstrip("+~").lower()
        if "=" in arg and (key.endswith("token") or key.endswith("access_token")) and key != "api.token_file":
            raise TokenError(f"{key}=... on the command line: the token is read only from {ENV_VAR} or "
                             "api.token_file=PATH, so that it is written nowhere (Hydra stores the command line "
                             "under OUT/logs)")


@functools.lru_cache(maxsize=4)
def token_forms(token: str) -> tuple[str, ...]:
    """Every way ``token`` is written in text, longest first: as it is, percent-encoded as requests puts it in a
    URL's query (``quote_plus``: ``123|a+b/=`` is ``123%7Ca%2Bb%2F%3D``) and as ``quote(token, safe="")``
    (the same but for a space: ``%20``, not ``+``)."""
    if not token:
        return ()
    return tuple(sorted({token, quote(token, safe=""), quote_plus(token)}, key=len, reverse=True))


def holds_token(text: str, token: str) -> bool:
    return any(form in text for form in token_forms(token))


def redact(text: str, token: str) -> str:
    """``text`` with every occurrence of ``token``, raw or percent-encoded (:func:`token_forms`), replaced by
    ``[token]``."""
    for form in token_forms(token):
        text = text.replace(form, REDACTED)
    return text


def strip_url(url: str) -> str:
    """``url`` without its ``access_token`` query parameter (the other parameters byte for byte as they were)."""
    base, sep, rest = url.partition("?")
    if not sep:
        return url
    query, hash_sep, fragment = rest.partition("#")
    kept = [p for p in query.split("&") if p and not _TOKEN_PARAM.match(p)]
    out = base + ("?" + "&".join(kept) if kept else "")
    return out + (hash_sep + fragment if hash_sep else "")


def strip_token(value: Any, token: str) -> tuple[Any, int]:
    """``value`` (a served record) with the token taken out of every string; and how many strings changed.

    A URL loses its ``access_token`` parameter (``ad_snapshot_url``); the token anywhere else is replaced by
    ``[token]``. Strings without it are returned as they are (the same objects).
    """
    if isinstance(value, str):
        if not holds_token(value, token) and "access_token=" not in value.lower():
            return value, 0
        stripped = redact(strip_url(value), token)
        return stripped, int(stripped != value)
    if isinstance(value, dict):
        changed = 0
        out = {}
        for k, v in value.items():
            out[k], n = strip_token(v, token)
            changed += n
        return (out, changed) if changed else (value, 0)
    if isinstance(value, list):
        pairs = [strip_token(v, token) for v in value]
        changed = sum(n for _, n in pairs)
        return ([v for v, _ in pairs], changed) if changed else (value, 0)
    return value, 0


class RedactFilter(logging.Filter):
    """A logging filter that takes the token (raw or percent-encoded) out of every record it passes (message and
    arguments)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if holds_token(message, self.token):
            record.msg, record.args = redact(message, self.token), None
        if record.exc_info and record.exc_info[1] is not None and holds_token(str(record.exc_info[1]), self.token):
            record.exc_info, record.exc_text = None, None  # a traceback with the token is dropped, message kept
        return True


def _filtered() -> list[logging.Filterer]:
    """The root logger, every named logger and all their handlers: where a redaction filter goes."""
    loggers = [logging.getLogger()] + [lg for lg in logging.root.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    return [*loggers, *(handler for lg in loggers for handler in lg.handlers)]


def install_redaction(token: str) -> RedactFilter:
    """Put a :class:`RedactFilter` on the root logger's handlers and every logger's own (urllib3 logs URLs)."""
    filt = RedactFilter(token)
    for target in _filtered():
        target.addFilter(filt)
    return filt


def remove_redaction(filt: RedactFilter) -> None:
    for target in _filtered():
        target.removeFilter(filt)
