"""Fixtures for the fetch tests: the loopback stand-in and the token in the environment (helpers.py has the rest)."""

from __future__ import annotations

import pytest

from tests.fetch.helpers import TOKEN
from tests.fetch.standin import Standin


@pytest.fixture
def standin():
    server = Standin().start()
    yield server
    server.stop()


@pytest.fixture
def token_env(monkeypatch):
    monkeypatch.setenv("AVA_META_TOKEN", TOKEN)
    return TOKEN
